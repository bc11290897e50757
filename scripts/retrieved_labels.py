"""Gains and losses of memory items by what the annotators said of the constraints they retrieved.

Pairs every memory item of a run with the same task solved without memory (``vanilla``), reads the ids
of the constraints the item retrieved, and groups the items by the annotation of those constraints
(files as in ``docs/results/eval-local-qwen/constraint-labels-*.jsonl``: ``id``, ``label``, optionally
``wrong``):

* ``a wrong one``: at least one retrieved constraint is marked wrong;
* ``a useful one``: otherwise, at least one is useful (with files that do not judge every constraint
  for wrongness, as the GSM8K ones, this group can hold wrong ones too);
* ``none useful``: every retrieved constraint is vacuous or specific;
* ``not annotated``: some retrieved constraint has no annotation;
* ``nothing``: no constraint was retrieved (an empty category).

If memory hurt by misleading the solver, the losses would gather where a wrong constraint was retrieved;
if it helped where a useful one was, the gains would gather there. Usage::

    python scripts/retrieved_labels.py results/eval-local-qwen --dataset mbpp \\
        docs/results/eval-local-qwen/constraint-labels-mbpp.jsonl
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _analysis import gains_and_losses, read_labels

from memcollab_langgraph.evaluation import ItemResult, ResultsStore

GROUPS = ("a wrong one", "a useful one", "none useful", "not annotated", "nothing")


def group_of(retrieved: Sequence[str], labels: Mapping[str, Mapping[str, Any]]) -> str:
    if not retrieved:
        return "nothing"
    found = [labels.get(i) for i in retrieved]
    if any(f is None for f in found):
        return "not annotated"
    if any(f and f.get("wrong") for f in found):
        return "a wrong one"
    if any(f and f["label"] == "useful" for f in found):
        return "a useful one"
    return "none useful"


def tally(
    items: Sequence[ItemResult], dataset: str, labels: Mapping[str, Mapping[str, Any]]
) -> dict[tuple[str, str, str], list[int]]:
    """(agent, condition, group) -> [tasks, right without memory, right with it, gained, lost]."""
    return gains_and_losses(items, dataset, lambda r: group_of(r.retrieved_ids, labels))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory, e.g. results/eval-local-qwen")
    parser.add_argument("labels", type=Path, nargs="+", help="annotation files (JSON Lines)")
    parser.add_argument("--dataset", default="mbpp")
    args = parser.parse_args(argv)
    run = args.run.resolve()
    table = tally(ResultsStore(run.parent, run.name).latest(), args.dataset, read_labels(args.labels))
    print("| agent | condition | retrieved | tasks | right, vanilla | right, memory | gained | lost |")
    print("|---|---|---|---|---|---|---|---|")
    for (agent, condition, group), row in sorted(table.items(), key=lambda kv: (*kv[0][:2], GROUPS.index(kv[0][2]))):
        print(f"| {agent} | {condition} | {group} | " + " | ".join(str(n) for n in row) + " |")


if __name__ == "__main__":
    main()
