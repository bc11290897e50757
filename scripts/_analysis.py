"""What the analysis scripts share: annotation files, and memory items paired with their vanilla solve."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from memcollab_langgraph.evaluation import VANILLA, ItemResult


def read_labels(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Constraint id -> its annotation (``id``, ``label``, optionally ``wrong``), over all files."""
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out[row["id"]] = row
    return out


def paired_with_vanilla(items: Iterable[ItemResult], dataset: str) -> Iterator[tuple[ItemResult, ItemResult]]:
    """(memory item, the same agent's ``vanilla`` item of its task) for every memory item of ``dataset``
    that has one; items that failed (``error``) are left out."""
    judged = {(r.agent, r.condition, r.task_id): r for r in items if r.dataset == dataset and r.error is None}
    for (agent, condition, task), r in judged.items():
        base = judged.get((agent, VANILLA, task))
        if condition != VANILLA and base is not None:
            yield r, base


def gains_and_losses(
    items: Sequence[ItemResult], dataset: str, group: Callable[[ItemResult], str]
) -> dict[tuple[str, str, str], list[int]]:
    """(agent, condition, group of the memory item) -> [tasks, right without memory, right with it, gained,
    lost]: every memory item of ``dataset`` paired with the same agent's ``vanilla`` item of its task."""
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for r, base in paired_with_vanilla(items, dataset):
        before, now = bool(base.correct), bool(r.correct)
        row = out[r.agent, r.condition, group(r)]
        row[0] += 1
        row[1] += before
        row[2] += now
        row[3] += now and not before
        row[4] += before and not now
    return out
