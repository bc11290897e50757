"""Two runs of the same items compared cell by cell (an ablation against its baseline run)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from memcollab_langgraph.cli import app
from memcollab_langgraph.evaluation import ItemResult, ResultsStore, compare_runs


def _item(
    run: str,
    task: str,
    correct: bool | None,
    *,
    ids: tuple[str, ...] = (),
    agent: str = "small",
    condition: str = "memcollab",
) -> ItemResult:
    return ItemResult(
        run_id=run,
        condition=condition,
        agent=agent,
        model="m",
        dataset="gsm8k",
        task_id=task,
        correct=correct,
        retrieved_ids=list(ids),
        error=None if correct is not None else "APIConnectionError: down",
    )


BASE = [
    _item("base", "1", True, ids=("a",)),
    _item("base", "2", True, ids=("b",)),
    _item("base", "3", False, ids=("c",)),
    _item("base", "4", False, ids=("d",)),
    _item("base", "5", True, ids=("e",)),  # not in the other run
    _item("base", "1", True, ids=("a",), agent="big"),
]
CHANGED = [
    _item("new", "1", True, ids=("a",)),  # same constraints, same verdict
    _item("new", "2", False, ids=("b",)),  # same constraints, another verdict: the runs differ in more
    _item("new", "3", True, ids=("x",)),
    _item("new", "4", None),  # failed: no verdict, not paired
    _item("new", "1", False, ids=("y",), agent="big"),
]


def test_cells_pair_the_items_both_runs_judged() -> None:
    small, big = sorted(compare_runs(BASE, CHANGED), key=lambda c: c.agent != "small")
    assert (small.agent, small.n, small.correct_a, small.correct_b) == ("small", 3, 2, 2)
    assert (small.only_b, small.only_a, small.p_value) == (1, 1, 1.0)
    assert (small.same_retrieval, small.same_retrieval_same_verdict) == (2, 1)
    assert (big.n, big.only_b, big.only_a, big.same_retrieval) == (1, 0, 1, 0)


def test_the_last_record_of_an_item_counts() -> None:
    retried = [*CHANGED, _item("new", "4", True, ids=("d",))]  # the failure was retried and solved
    [small] = [c for c in compare_runs(BASE, retried) if c.agent == "small"]
    assert (small.n, small.only_b, small.same_retrieval, small.same_retrieval_same_verdict) == (4, 2, 3, 1)


def test_a_condition_is_compared_with_another_one_on_the_same_tasks() -> None:
    curated = [_item("new", t, ok, condition="curated") for t, ok in (("1", False), ("2", False), ("3", True))]
    assert compare_runs(BASE, curated) == []  # no condition in common
    [cell] = compare_runs(BASE, curated, pairs={"memcollab": "curated"})
    assert (cell.agent, cell.condition, cell.condition_b, cell.n) == ("small", "memcollab", "curated", 3)
    assert (cell.correct_a, cell.correct_b, cell.only_b, cell.only_a) == (2, 1, 1, 2)
    [within] = compare_runs(BASE + curated, BASE + curated, pairs={"memcollab": "curated"})
    assert (within.n, within.only_b, within.only_a) == (3, 1, 2)


def test_the_compare_command_prints_and_exports_the_cells(tmp_path: Path) -> None:
    for run, items in (("base", BASE), ("new", CHANGED)):
        ResultsStore(tmp_path, run).extend(items)
    runner = CliRunner()
    shown = runner.invoke(app, ["eval", "compare", str(tmp_path / "base"), str(tmp_path / "new")])
    assert shown.exit_code == 0, shown.output
    assert "new against base" in shown.stdout
    exported = json.loads(
        runner.invoke(app, ["eval", "compare", str(tmp_path / "base"), str(tmp_path / "new"), "--json"]).stdout
    )
    assert [(c["agent"], c["n"], c["only_b"], c["only_a"]) for c in exported["cells"]] == [
        ("big", 1, 0, 1),
        ("small", 3, 1, 1),
    ]
    ResultsStore(tmp_path, "new").extend([_item("new", "1", False, condition="curated")])
    args = ["eval", "compare", str(tmp_path / "new"), str(tmp_path / "new"), "--pair", "memcollab=curated"]
    paired = runner.invoke(app, [*args, "--json"])
    assert paired.exit_code == 0, paired.output
    assert [(c["condition"], c["condition_b"], c["n"]) for c in json.loads(paired.stdout)["cells"]] == [
        ("memcollab", "curated", 1)
    ]
    shown = runner.invoke(app, args).stdout
    assert "->" in shown
    assert "curated" in shown
    malformed = runner.invoke(
        app, ["eval", "compare", str(tmp_path / "base"), str(tmp_path / "new"), "--pair", "memcollab"]
    )
    assert malformed.exit_code == 2
    assert "--pair 'memcollab' is not A=B; e.g. --pair memcollab=curated" in " ".join(malformed.stderr.split())
    missing = runner.invoke(app, ["eval", "compare", str(tmp_path / "base"), str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "is not a run directory (it has no items.jsonl)" in " ".join(missing.stderr.split())
