"""Where memory gains and loses tasks, by the category the consumer classified each task into.

For every memory condition of a run, pairs each item with the same task solved without memory
(``vanilla``) and counts tasks gained and lost per group of categories. A group is a list of category
prefixes; a task classified into none of them is in "other categories", a task classified into the
domain alone is in "domain only". The default groups are the categories a GSM8K word problem belongs
to: the question is whether memory hurts where the classifier routes a task to a fitting category, or
where it routes it elsewhere. Usage::

    python scripts/memory_by_category.py results/eval-local-qwen --dataset gsm8k
    python scripts/memory_by_category.py RUN --group math/prealgebra --group math/algebra/linear_equations
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from _analysis import gains_and_losses

from memcollab_langgraph.evaluation import ItemResult, ResultsStore

WORD_PROBLEMS = ("math/prealgebra", "math/algebra/linear_equations", "math/algebra/equation_word_problems")


def group_of(category: str | None, prefixes: Sequence[str]) -> str:
    if not category or "/" not in category:
        return "domain only"
    if any(category == p or category.startswith(p + "/") for p in prefixes):
        return "listed categories"
    return "other categories"


def tally(items: Sequence[ItemResult], dataset: str, prefixes: Sequence[str]) -> dict[tuple[str, str, str], list[int]]:
    """(agent, condition, group) -> [tasks, right without memory, right with it, gained, lost]."""
    return gains_and_losses(items, dataset, lambda r: group_of(r.category, prefixes))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory, e.g. results/eval-local-qwen")
    parser.add_argument("--dataset", default="gsm8k")
    parser.add_argument("--group", action="append", help="a category prefix (repeatable); default GSM8K's")
    args = parser.parse_args(argv)
    prefixes = args.group or list(WORD_PROBLEMS)
    run = args.run.resolve()
    items = ResultsStore(run.parent, run.name).latest()
    print(f"listed categories: {', '.join(prefixes)}")
    print("| agent | condition | classified into | tasks | right, vanilla | right, memory | gained | lost |")
    print("|---|---|---|---|---|---|---|---|")
    for (agent, condition, group), row in sorted(tally(items, args.dataset, prefixes).items()):
        print(f"| {agent} | {condition} | {group} | " + " | ".join(str(n) for n in row) + " |")


if __name__ == "__main__":
    main()
