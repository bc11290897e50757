"""Annotated constraints by the preference rule of the distillation that wrote them.

A contrastive distillation contrasts a correct solution with an incorrect one (``one_correct``), two
correct ones (``strongest_correct``: the strongest agent's is preferred) or two incorrect ones
(``strongest_incorrect``). The method's premise is the first; this script asks whether it gives better
constraints than the other two. It reads the distillation reports from a run's build checkpoints
(``checkpoints.sqlite``: the rule and the ids of the constraints each task added) and joins them with
annotation files (one JSON object per constraint, with ``id``, ``label`` and optionally ``wrong``, as in
``docs/results/eval-local-qwen/constraint-labels-*.jsonl``). Wrong constraints are counted only where
every annotated constraint of a row was judged for it (the MBPP files; not the GSM8K ones). Usage::

    python scripts/constraints_by_preference.py results/eval-local-qwen \\
        docs/results/eval-local-qwen/constraint-labels-mbpp.jsonl \\
        docs/results/eval-local-qwen/constraint-labels-gsm8k.jsonl

The checkpoint file is copied first (SQLite's backup), so a run in progress is only read.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _analysis import read_labels

from memcollab_langgraph.graphs import sqlite_checkpointer
from memcollab_langgraph.nodes import DistillationReport


def read_reports(checkpoints: Path) -> dict[str, list[DistillationReport]]:
    """Build thread id -> the distillation reports of its latest checkpoint."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "checkpoints.sqlite"
        with sqlite3.connect(f"file:{checkpoints}?mode=ro", uri=True) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        latest: dict[str, list[DistillationReport]] = {}
        with sqlite_checkpointer(copy) as saver:
            for saved in saver.list(None):  # newest first within each thread
                thread = str(saved.config["configurable"]["thread_id"])
                if thread not in latest:
                    reports = saved.checkpoint["channel_values"].get("distillations") or []
                    latest[thread] = [r for r in reports if isinstance(r, DistillationReport)]
    return latest


def tally(
    reports: dict[str, list[DistillationReport]], labels: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], Counter[str]]:
    """(bank, rule) -> counts: tasks, constraints (annotated ones added by the rule's tasks), each label,
    ``judged`` (annotated for wrongness), ``wrong`` and ``correct useful``. The bank is the thread id up
    to its first ``:``."""
    out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for thread, found in reports.items():
        bank = thread.split(":", 1)[0]
        for report in found:
            row = out[bank, report.rule]
            row["tasks"] += 1
            for outcome in report.accepted:
                label = labels.get(outcome.id) if outcome.action == "added" else None
                if label is None:
                    continue
                row["constraints"] += 1
                row[label["label"]] += 1
                row["judged"] += "wrong" in label
                row["wrong"] += bool(label.get("wrong"))
                row["correct useful"] += label["label"] == "useful" and not label.get("wrong")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory, e.g. results/eval-local-qwen")
    parser.add_argument("labels", type=Path, nargs="+", help="annotation files (JSON Lines)")
    args = parser.parse_args(argv)
    table = tally(read_reports(args.run / "checkpoints.sqlite"), read_labels(args.labels))
    print("| bank | preference rule | tasks | annotated constraints | useful (correct) | vacuous | specific | wrong |")
    print("|---|---|---|---|---|---|---|---|")
    for (bank, rule), row in sorted(table.items()):
        if not row["constraints"]:
            continue
        judged = row["judged"] == row["constraints"]
        useful = f"{row['useful']} ({row['correct useful']})" if judged else f"{row['useful']} (-)"
        wrong = str(row["wrong"]) if judged else "-"
        print(
            f"| {bank} | {rule} | {row['tasks']} | {row['constraints']} | {useful} "
            f"| {row['vacuous']} | {row['specific']} | {wrong} |"
        )


if __name__ == "__main__":
    main()
