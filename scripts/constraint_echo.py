"""Gains and losses of memory items by whether their answer copies words from the constraints they retrieved.

A solver that applies a constraint written for another task often writes it into its program: a
comment "Iterate over the list in steps of n" above a loop that steps by the threshold, a check that
"the length of the first tuple" equals the second's in a function that increments a list. This script
pairs every memory item of a run with the same task solved without memory (``vanilla``) and groups the
items by whether what the solver wrote *echoes* a retrieved constraint. What it wrote is every reply of
its conversation when the run kept transcripts (``transcripts.jsonl``), else its final answer (a
program on code tasks, only the extracted value on math tasks, too little to tell):

* ``echoes``: the text holds a run of ``--words`` consecutive words (4 by default, lowercased, letters,
  digits and underscores) that is in one of the retrieved constraints (its when, enforce or avoid
  clause) and is in neither the task (its question and visible tests) nor any answer the same agent
  wrote without memory on that data set: words the agent writes only because a constraint put them in
  its prompt;
* ``no echo``: constraints were retrieved and none is echoed;
* ``nothing``: no constraint was retrieved (an empty category).

A second table asks whether the tasks an agent solved without memory are lost more often when its
answer echoes than when it does not (two-sided Fisher exact test; items that retrieved nothing left
out). Echoing is a symptom, not a proof of cause: an answer that fails its tests goes through more turns and
more text, which leaves more room to echo. The constraint texts come from the run's own memory store
(every bank in its ``banks.json``), or from JSON Lines files with ``id``, ``when``, ``enforce`` and
``avoid`` (``memcollab export`` output, or the annotation files under ``docs/results/eval-local-qwen/``);
the tasks from the evaluated task file. Usage::

    python scripts/constraint_echo.py results/eval-local-qwen --dataset humaneval \\
        --tasks ../shared/data/humaneval.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from _analysis import gains_and_losses

from memcollab_langgraph.evaluation import (
    VANILLA,
    ItemKey,
    ItemResult,
    ResultsStore,
    Transcript,
    TranscriptLog,
    fisher_exact_two_sided,
)
from memcollab_langgraph.evaluation.config import RUN_MEMORY_COLLECTION
from memcollab_langgraph.evaluation.ledger import BANKS_FILE
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.schema import Constraint, Task
from memcollab_langgraph.store import ChromaStore
from memcollab_langgraph.tasks import load_tasks

GROUPS = ("echoes", "no echo", "nothing")
_WORD = re.compile(r"[a-z0-9_]+")

Gram = tuple[str, ...]


def word_runs(text: str, n: int) -> set[Gram]:
    """Every run of ``n`` consecutive words of ``text`` (lowercased)."""
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def clauses(row: Constraint | Mapping[str, object]) -> str:
    """A constraint's when, enforce and avoid clauses as one text."""
    if isinstance(row, Constraint):
        return " | ".join((row.when, row.enforce, row.avoid))
    return " | ".join(str(row[key]) for key in ("when", "enforce", "avoid"))


def read_run_constraints(run: Path) -> dict[str, str]:
    """Constraint id -> its clauses, over every bank of the run's memory store (archived entries too)."""
    ledger = run / BANKS_FILE
    if not ledger.is_file():
        raise FileNotFoundError(f"{ledger} not found: {run} is not a run directory with built banks")
    with ChromaStore(path=run / "memory", collection_name=RUN_MEMORY_COLLECTION) as store:
        return {
            c.id: clauses(c)
            for name in json.loads(ledger.read_text(encoding="utf-8"))
            for c in MemoryBank(store, name=name).list_constraints(statuses=("candidate", "validated", "archived"))
        }


def read_constraint_texts(paths: Iterable[Path]) -> dict[str, str]:
    """Constraint id -> its when, enforce and avoid clauses as one text, over all files."""
    out: dict[str, str] = {}
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{path}:{number}: not a JSON object ({e}); one constraint record per line") from e
            missing = [key for key in ("id", "when", "enforce", "avoid") if key not in row]
            if missing:
                raise ValueError(
                    f"{path}:{number}: a constraint record needs {', '.join(missing)} (got keys {sorted(row)}); "
                    "pass `memcollab export` output or an annotation file"
                )
            out[row["id"]] = clauses(row)
    return out


def written(item: ItemResult, transcripts: Mapping[ItemKey, Transcript]) -> str:
    """What the solver wrote for ``item``: its replies if the run kept its transcript, else its answer."""
    found = transcripts.get(item.key)
    if found is None:
        return item.answer or ""
    return "\n".join(str(m.get("content") or "") for m in found.messages if m.get("role") == "assistant")


def tally(
    items: Sequence[ItemResult],
    dataset: str,
    tasks: Mapping[str, Task],
    constraints: Mapping[str, str],
    *,
    n: int = 4,
    transcripts: Mapping[ItemKey, Transcript] | None = None,
) -> dict[tuple[str, str, str], list[int]]:
    """(agent, condition, group) -> [tasks, right without memory, right with it, gained, lost]."""
    kept = transcripts or {}
    own: dict[str, set[Gram]] = defaultdict(set)  # what each agent writes without memory
    for r in items:
        if r.dataset == dataset and r.condition == VANILLA and r.error is None:
            own[r.agent] |= word_runs(written(r, kept), n)

    def group(r: ItemResult) -> str:
        if not r.retrieved_ids:
            return "nothing"
        unknown = [i for i in r.retrieved_ids if i not in constraints]
        if unknown:
            raise ValueError(
                f"{r.key}: retrieved constraint {unknown[0]!r} is not among the constraints read (the run's memory "
                "store, or the files given)"
            )
        if r.task_id not in tasks:
            raise ValueError(f"{r.key}: task {r.task_id!r} is not in the task file; pass the evaluated file")
        task = tasks[r.task_id]
        given = word_runs("\n".join([task.question, *task.visible_tests]), n) | own[r.agent]
        retrieved = set().union(*(word_runs(constraints[i], n) for i in r.retrieved_ids))
        return "echoes" if (word_runs(written(r, kept), n) & retrieved) - given else "no echo"

    return gains_and_losses(items, dataset, group)


def losses_by_echo(
    table: Mapping[tuple[str, str, str], Sequence[int]],
) -> dict[tuple[str, str], tuple[int, int, int, int, float]]:
    """(agent, condition) -> (lost of right without memory when echoing: lost, right; otherwise: lost, right;
    two-sided Fisher p of lost against kept by echo), from a :func:`tally` table."""
    out: dict[tuple[str, str], tuple[int, int, int, int, float]] = {}
    for agent, condition in sorted({key[:2] for key in table}):
        echoing = table.get((agent, condition, "echoes"), [0] * 5)
        other = table.get((agent, condition, "no echo"), [0] * 5)
        p = fisher_exact_two_sided(echoing[4], echoing[1] - echoing[4], other[4], other[1] - other[4])
        out[agent, condition] = (echoing[4], echoing[1], other[4], other[1], p)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory, e.g. results/eval-local-qwen")
    parser.add_argument(
        "constraints", type=Path, nargs="*", help="constraint files (JSON Lines); default: the run's memory store"
    )
    parser.add_argument("--dataset", default="mbpp")
    parser.add_argument("--tasks", type=Path, required=True, help="the data set's evaluated task file")
    parser.add_argument("--words", type=int, default=4, help="how many consecutive words make an echo")
    args = parser.parse_args(argv)
    if args.words < 1:
        parser.error(f"--words must be at least 1 (got {args.words})")
    run = args.run.resolve()
    tasks = {t.id: t for t in load_tasks(args.tasks)}
    texts = read_constraint_texts(args.constraints) if args.constraints else read_run_constraints(run)
    items = ResultsStore(run.parent, run.name).latest()
    transcripts = TranscriptLog(run).latest()
    judged = [r for r in items if r.dataset == args.dataset]
    without = sum(1 for r in judged if r.key not in transcripts)
    if without:
        print(f"{without} of {len(judged)} {args.dataset} items have no transcript: their final answers are read")
    table = tally(items, args.dataset, tasks, texts, n=args.words, transcripts=transcripts)
    print("| agent | condition | answer | tasks | right, vanilla | right, memory | gained | lost |")
    print("|---|---|---|---|---|---|---|---|")
    for (agent, condition, group), row in sorted(table.items(), key=lambda kv: (*kv[0][:2], GROUPS.index(kv[0][2]))):
        print(f"| {agent} | {condition} | {group} | " + " | ".join(str(n) for n in row) + " |")
    print()
    print("| agent | condition | lost when echoing | lost otherwise | Fisher p |")
    print("|---|---|---|---|---|")
    for (agent, condition), (lost, right, other_lost, other_right, p) in losses_by_echo(table).items():
        print(f"| {agent} | {condition} | {lost} of {right} | {other_lost} of {other_right} | {p:.2g} |")


if __name__ == "__main__":
    main()
