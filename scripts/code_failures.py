"""How the code answers lost to memory fail, found by running them again, and what feedback turns repair.

A memory item is *lost* when the same agent solved its task without memory (``vanilla``) and fails it
with memory. This script runs every lost item's final program again in the sandbox, with the same
executor the run's verifier used (:func:`memcollab_langgraph.verifiers.verify_code`), on the task's
visible tests (those shown to the solver) and its hidden ones, and files it under the first of these
that applies:

* ``no program``: the answer is empty;
* ``not Python``: it does not parse;
* ``no entry point``: the task names its function and the program binds no such name anywhere;
* ``timeout``: the program, or a test, ran out of time;
* ``crashes on load``: no test ran: the program raised while loading (often its own copy of the
  examples, pasted as top-level ``assert`` lines under a wrong function), the test setup failed, or the
  run was killed before it reported (memory);
* ``error on visible tests`` / ``wrong on visible tests``: a visible test raised / did not hold;
* ``passes visible, fails hidden``: what the solver could check was right, the hidden tests were not;
* ``no visible tests``: the task showed none, and the hidden tests fail;
* ``passes on re-run``: the hidden tests pass now, a disagreement with the recorded verdict.

Because pasted examples turn a wrong function into a crash on load, the items are filed a second time
with the program's top-level statements removed (its definitions, imports and constant assignments
kept; a dropped assignment that the function needs makes it fail with a ``NameError``): the *function
alone*. A last table counts, for every memory condition and ``vanilla``, how many items needed more than
one turn (their first reply failed its visible tests, or held no program) and how many of those ended
right: what the solver's feedback turns repair. Usage::

    python scripts/code_failures.py results/eval-local-qwen --dataset humaneval \\
        --tasks ../shared/data/humaneval.jsonl
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from _analysis import paired_with_vanilla
from tqdm import tqdm

from memcollab_langgraph.evaluation import ItemResult, ResultsStore
from memcollab_langgraph.schema import Task
from memcollab_langgraph.tasks import load_tasks
from memcollab_langgraph.verifiers import parse_python, verify_code
from memcollab_langgraph.verifiers.verdict import Verdict

MODES = (
    "no program",
    "not Python",
    "no entry point",
    "timeout",
    "crashes on load",
    "error on visible tests",
    "wrong on visible tests",
    "passes visible, fails hidden",
    "no visible tests",
    "passes on re-run",
)
_NAMED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEFINITIONS = (ast.Import, ast.ImportFrom, *_NAMED)


def definitions_only(program: str) -> str | None:
    """``program`` without its top-level statements (its own asserts, prints, calls), or ``None`` if it is not
    Python: imports, functions, classes, docstrings and assignments that call nothing are kept."""
    tree = parse_python(program)
    if not isinstance(tree, ast.Module):
        return None
    kept: list[ast.stmt] = [
        node
        for node in tree.body
        if isinstance(node, _DEFINITIONS)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        or (isinstance(node, ast.Assign | ast.AnnAssign) and not any(isinstance(n, ast.Call) for n in ast.walk(node)))
    ]
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def _binds(tree: ast.Module, name: str) -> bool:
    """Whether ``name`` is defined, assigned or imported anywhere in the program (at top level or under an
    ``if`` or ``try``: whether that code runs is for the tests to find out)."""
    for node in ast.walk(tree):
        if isinstance(node, _NAMED) and node.name == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == name:
            return True
    return False


def _statuses(verdict: Verdict) -> set[str]:
    return {t.status for t in verdict.tests}


def _timed_out(verdict: Verdict) -> bool:
    """The run hit the sandbox's wall clock, the program's loading its time budget, or a test its own."""
    whole = verdict.sandbox is not None and verdict.sandbox.timed_out
    return whole or "did not finish loading" in verdict.detail or "timeout" in _statuses(verdict)


def failure_mode(task: Task, program: str | None, *, timeout_s: float = 10.0) -> str:
    """The first of :data:`MODES` that describes ``program`` on ``task`` (see the module's docstring)."""
    if program is None or not program.strip():
        return "no program"
    tree = parse_python(program)
    if not isinstance(tree, ast.Module):
        return "not Python"
    if task.entry_point and not _binds(tree, task.entry_point):
        return "no entry point"
    hidden = verify_code(task, program, timeout_s=timeout_s)
    if hidden.correct:
        return "passes on re-run"
    visible = verify_code(task, program, visible_only=True, timeout_s=timeout_s) if task.visible_tests else None
    first = visible or hidden
    if _timed_out(first):
        return "timeout"
    if _statuses(first) <= {"not_run"}:
        return "crashes on load"
    if visible is None:
        return "timeout" if _timed_out(hidden) else "no visible tests"
    seen = _statuses(visible)
    for status, mode in (("error", "error on visible tests"), ("failed", "wrong on visible tests")):
        if status in seen:
            return mode
    return "timeout" if _timed_out(hidden) else "passes visible, fails hidden"


def lost_items(items: Iterable[ItemResult], dataset: str) -> list[ItemResult]:
    """Memory items of ``dataset`` that fail a task the same agent solved without memory."""
    lost = (r for r, base in paired_with_vanilla(items, dataset) if base.correct and not r.correct)
    return sorted(lost, key=lambda r: r.key)


def feedback_repairs(items: Iterable[ItemResult], dataset: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(agent, condition) -> (items, items that took more than one turn, of those the ones that ended right)."""
    out: dict[tuple[str, str], list[int]] = {}
    for r in items:
        if r.dataset != dataset or r.error is not None:
            continue
        row = out.setdefault((r.agent, r.condition), [0, 0, 0])
        row[0] += 1
        row[1] += r.turns > 1
        row[2] += r.turns > 1 and bool(r.correct)
    return {key: (n, retried, repaired) for key, (n, retried, repaired) in sorted(out.items())}


def _mode_table(title: str, modes: Mapping[tuple[str, str], Counter[str]]) -> list[str]:
    used = [m for m in MODES if any(c[m] for c in modes.values())]
    lines = [title, "", "| agent | condition | lost | " + " | ".join(used) + " |", "|---|---|---|" + "---|" * len(used)]
    for (agent, condition), counts in sorted(modes.items()):
        cells = " | ".join(str(counts[m]) for m in used)
        lines.append(f"| {agent} | {condition} | {sum(counts.values())} | {cells} |")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory, e.g. results/eval-local-qwen")
    parser.add_argument("--dataset", default="humaneval")
    parser.add_argument("--tasks", type=Path, required=True, help="the data set's evaluated task file")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per program, as the run's verifier")
    parser.add_argument("--list", action="store_true", help="also list every lost item with its modes")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive (got {args.timeout})")
    run = args.run.resolve()
    tasks = {t.id: t for t in load_tasks(args.tasks)}
    items = ResultsStore(run.parent, run.name).latest()
    if not any(r.dataset == args.dataset for r in items):
        found = sorted({r.dataset for r in items})
        raise SystemExit(f"the run has no {args.dataset!r} items; --dataset is one of {found}")
    lost = lost_items(items, args.dataset)
    missing = sorted({r.task_id for r in lost} - tasks.keys())
    if missing:
        raise SystemExit(f"task {missing[0]!r} of the run is not in {args.tasks}; pass the evaluated task file")
    final: dict[tuple[str, str], Counter[str]] = {}
    alone: dict[tuple[str, str], Counter[str]] = {}
    rows = []
    for r in tqdm(lost, desc=f"re-run lost {args.dataset} items", unit="item"):
        task = tasks[r.task_id]
        mode = failure_mode(task, r.answer, timeout_s=args.timeout)
        stripped = definitions_only(r.answer or "")
        bare = mode if stripped is None else failure_mode(task, stripped, timeout_s=args.timeout)
        final.setdefault((r.agent, r.condition), Counter())[mode] += 1
        alone.setdefault((r.agent, r.condition), Counter())[bare] += 1
        rows.append(f"| {r.agent} | {r.condition} | {r.task_id} | {r.turns} | {mode} | {bare} |")
    if lost:
        print("\n".join(_mode_table(f"Lost {args.dataset} items, the final program:", final)))
        print()
        print("\n".join(_mode_table("The same items, the function alone (top-level statements removed):", alone)))
    else:
        print(f"No {args.dataset} item was lost to memory.")
    if args.list:
        print()
        print("| agent | condition | task | turns | final program | function alone |")
        print("|---|---|---|---|---|---|")
        print("\n".join(rows))
    print()
    print(f"Feedback turns on {args.dataset}, every item:")
    print()
    print("| agent | condition | items | took more than one turn | of those, right at the end |")
    print("|---|---|---|---|---|")
    for (agent, condition), (n, retried, repaired) in feedback_repairs(items, args.dataset).items():
        print(f"| {agent} | {condition} | {n} | {retried} | {repaired} |")


if __name__ == "__main__":
    main()
