"""Reports from a synthetic run: the numbers in summary.md, results.json, the PNG plots, partial runs."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation import markdown, report
from memcollab_langgraph.evaluation.plots import MIN_COLOUR_POINTS, plot_transfer_matrix, transfer_colour_bound
from memcollab_langgraph.evaluation.report import write_report
from memcollab_langgraph.evaluation.results import ItemKey, ItemResult, ResultsStore, RunPlan
from memcollab_langgraph.evaluation.summary import POOLED, summarize

RUN = "synthetic"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def result(condition: str, agent: str, task: int, correct: bool | None, **kw: Any) -> ItemResult:
    fields: dict[str, Any] = {
        "run_id": RUN,
        "condition": condition,
        "agent": agent,
        "model": f"{agent}-model",
        "dataset": kw.pop("dataset", "gsm8k"),
        "task_id": str(task),
        "correct": correct,
        "turns": kw.pop("turns", 2),
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "latency_s": 1.5,
    }
    return ItemResult(**(fields | kw))


def synthetic_items() -> list[ItemResult]:
    """Agent A on 20 gsm8k tasks: vanilla gets tasks 0-9 right (50%), memcollab 0-14 (75%), so
    memcollab wins 5 discordant pairs and loses none (McNemar p = 2 / 2**5 = 0.0625). Agent B: 10
    tasks, vanilla 6 right, transfer from A 4 right (it loses tasks 4 and 5). Agent C has a failure."""
    items: list[ItemResult] = []
    for t in range(20):
        items.append(result("vanilla", "A", t, t < 10, turns=3))
        items.append(result("memcollab", "A", t, t < 15, turns=1, memory_source=["A", "B"]))
    for t in range(10):
        items.append(result("vanilla", "B", t, t < 6))
        items.append(result("transfer:A", "B", t, t < 4, memory_source=["A"]))
        items.append(result("transfer:A+B", "B", t, t < 7, memory_source=["A", "B"]))
        items.append(result("transfer:A", "A", t, t < 8, memory_source=["A"]))
    items.append(result("vanilla", "C", 0, None, error="TimeoutError: no reply"))
    items.append(result("vanilla", "A", 0, True, dataset="mbpp", turns=4))
    return items


def plan_for(items: list[ItemResult], extra: int) -> RunPlan:
    keys = list(dict.fromkeys(i.key for i in items))
    keys += [ItemKey("vanilla", "A", "mbpp", f"pending-{i}") for i in range(extra)]
    return RunPlan(run_id=RUN, items=keys)


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    s = ResultsStore(tmp_path, RUN)
    items = synthetic_items()
    s.extend(items)
    s.write_plan(plan_for(items, extra=5))
    return s


def test_summary_numbers(store: ResultsStore) -> None:
    s = summarize(store.read(), run_id=RUN, plan=store.read_plan(), n_resamples=2_000)
    mc = s.row("gsm8k", "A", "memcollab")
    assert mc is not None
    assert mc.accuracy is not None
    assert mc.delta is not None
    assert mc.mcnemar is not None
    assert (mc.n, mc.accuracy.value, mc.n_paired) == (20, 0.75, 20)
    assert mc.delta.value == pytest.approx(0.25)
    assert (mc.mcnemar.only_treatment, mc.mcnemar.only_baseline, mc.mcnemar.p_value) == (5, 0, 0.0625)
    assert mc.accuracy.low <= 0.75 <= mc.accuracy.high
    assert mc.turns is not None
    assert mc.turns.value == 1.0
    assert mc.memory_source == ["A", "B"]
    base = s.row("gsm8k", "A", "vanilla")
    assert base is not None
    assert base.baseline is None
    assert base.mcnemar is None
    assert base.accuracy is not None
    assert base.accuracy.value == 0.5
    failed = s.row("gsm8k", "C", "vanilla")
    assert failed is not None
    assert (failed.failed, failed.n, failed.accuracy) == (1, 0, None)
    assert (s.planned, s.finished, s.failed, s.pending) == (
        len(synthetic_items()) + 5,
        len(synthetic_items()) - 1,
        1,
        6,
    )
    assert s.conditions == ["vanilla", "memcollab", "transfer:A", "transfer:A+B"]
    assert (s.datasets, s.agents) == (["gsm8k", "mbpp"], ["A", "B", "C"])
    # Holm over the four comparisons: each adjusted p is at least its raw p.
    tested = [r for r in s.rows if r.mcnemar is not None]
    assert len(tested) == 4
    assert all(r.p_holm is not None and r.p_holm >= r.mcnemar.p_value for r in tested if r.mcnemar)


def test_transfer_matrix_cells(store: ResultsStore) -> None:
    s = summarize(store.read(), run_id=RUN, n_resamples=500)
    cells = {(c.source, c.consumer): c for c in s.transfer}
    assert set(cells) == {("A", "A"), ("A", "B"), ("A+B", "B")}
    a_to_b = cells[("A", "B")]
    assert a_to_b.accuracy is not None
    assert a_to_b.accuracy.value == 0.4
    assert a_to_b.delta is not None
    assert a_to_b.delta.value == pytest.approx(-0.2)
    assert a_to_b.p_value == 0.5  # b=2, c=0: 2 * (1/4)
    assert cells[("A+B", "B")].delta is not None
    assert s.planned is None
    assert s.pending is None


def test_write_report_produces_markdown_json_and_plots(store: ResultsStore) -> None:
    files = write_report(store, n_resamples=2_000)
    text = files.summary_md.read_text()
    planned = len(synthetic_items()) + 5
    assert f"{len(synthetic_items()) - 1} of {planned} planned items finished, 6 pending; 1 failed" in text
    assert "95% percentile bootstrap, 2,000 resamples" in text
    assert "| A | memcollab | A+B | 20/20 | 20 | 75.0 [" in text
    assert "| A | vanilla | - | 20/20 | 20 | 50.0 [" in text
    assert "| +25.0 [" in text
    assert "| 20 | 0.0625 |" in text
    assert "## Transfer matrix: gsm8k" in text
    assert "| none (vanilla) |" in text
    assert "40.0 [" in text
    assert "Δ -20.0 [" in text
    assert "p=0.5" in text
    assert "1/1 (1 failed)" not in text
    assert "0/1 (1 failed)" in text

    data = json.loads(files.results_json.read_text())
    assert data["run_id"] == RUN
    assert data["pending"] == 6
    row = next(r for r in data["rows"] if (r["agent"], r["condition"]) == ("A", "memcollab"))
    assert row["accuracy"]["value"] == 0.75
    assert row["mcnemar"]["p_value"] == 0.0625

    names = sorted(p.name for p in files.plots)
    assert names == ["accuracy.png", "transfer_matrix.png", "turns.png"]
    for path in files.plots:
        assert path.parent == store.directory
        assert path.stat().st_size > 5_000
        assert path.read_bytes()[:8] == PNG_MAGIC
    assert not list(store.directory.glob("*.tmp"))


def test_report_of_a_run_without_transfer_or_plan(tmp_path: Path) -> None:
    s = ResultsStore(tmp_path, RUN)
    s.extend([result("vanilla", "A", t, t % 2 == 0) for t in range(6)])
    files = write_report(s, n_resamples=300)
    text = files.summary_md.read_text()
    assert "6 items finished (no plan was written" in text
    assert "Transfer matrix" not in text
    assert sorted(p.name for p in files.plots) == ["accuracy.png", "turns.png"]


def test_report_of_an_empty_run(tmp_path: Path) -> None:
    s = ResultsStore(tmp_path, RUN)
    s.write_plan(RunPlan(run_id=RUN, items=[ItemKey("vanilla", "A", "gsm8k", "1")]))
    files = write_report(s, n_resamples=100)
    text = files.summary_md.read_text()
    assert "0 of 1 planned items finished, 1 pending" in text
    assert "No results yet." in text
    assert all(p.stat().st_size > 0 for p in files.plots)


def test_a_complete_run_says_so(tmp_path: Path) -> None:
    s = ResultsStore(tmp_path, RUN)
    items = [result("vanilla", "A", t, True) for t in range(3)]
    s.extend(items)
    s.write_plan(plan_for(items, extra=0))
    assert "complete: all 3 planned items finished." in write_report(s, plots=False).summary_md.read_text()


def test_latest_attempt_of_an_item_counts(tmp_path: Path) -> None:
    items = [
        result("vanilla", "A", 1, None, error="RuntimeError: flaky"),
        result("vanilla", "A", 1, True),
        result("vanilla", "A", 2, False),
    ]
    s = summarize(items, run_id=RUN, n_resamples=100)
    row = s.row("gsm8k", "A", "vanilla")
    assert row is not None
    assert (row.n, row.failed, s.failed) == (2, 0, 0)
    assert row.accuracy is not None
    assert row.accuracy.value == 0.5


def test_unverified_items_are_left_out_of_accuracy() -> None:
    items = [result("vanilla", "A", 1, True), result("vanilla", "A", 2, None)]
    row = summarize(items, run_id=RUN, n_resamples=100).row("gsm8k", "A", "vanilla")
    assert row is not None
    assert (row.finished, row.n) == (2, 1)
    assert row.turns is not None
    assert row.turns.n == 2


def test_pooled_rows_pair_items_by_data_set_and_task() -> None:
    """Task ids repeat across data sets; pooling must not pair gsm8k task 1 with mbpp task 1. Here
    memcollab wins 3 gsm8k tasks and loses 1 mbpp task: pooled 4 discordant pairs, p = 2 * 5/16."""
    items: list[ItemResult] = []
    for t in range(5):
        items.append(result("vanilla", "A", t, False, dataset="gsm8k"))
        items.append(result("memcollab", "A", t, t < 3, dataset="gsm8k"))
        items.append(result("vanilla", "A", t, t == 0, dataset="mbpp"))
        items.append(result("memcollab", "A", t, False, dataset="mbpp"))
    items.append(result("memcollab", "A", 9, None, dataset="mbpp", error="TimeoutError: no reply"))
    keys = [i.key for i in items] + [ItemKey("vanilla", "A", "humaneval", "0")]
    s = summarize(items, run_id=RUN, plan=RunPlan(run_id=RUN, items=keys), n_resamples=500)
    assert [r.dataset for r in s.rows].count(POOLED) == 0
    assert [(r.dataset, r.agent, r.condition) for r in s.pooled] == [
        (POOLED, "A", "vanilla"),
        (POOLED, "A", "memcollab"),
    ]
    base, mc = s.pooled
    assert (base.n, base.planned, mc.n, mc.failed, mc.planned) == (10, 11, 10, 1, 11)
    assert base.accuracy is not None
    assert base.accuracy.value == pytest.approx(0.1)
    assert mc.accuracy is not None
    assert mc.accuracy.value == pytest.approx(0.3)
    assert mc.mcnemar is not None
    assert (mc.n_paired, mc.mcnemar.only_treatment, mc.mcnemar.only_baseline) == (10, 3, 1)
    assert mc.mcnemar.p_value == pytest.approx(0.625)
    assert mc.p_holm == pytest.approx(0.625)  # the only pooled comparison: its own Holm family
    assert mc.delta is not None
    assert mc.delta.value == pytest.approx(0.2)
    text = markdown.render_markdown(s)
    assert "## All data sets (pooled)" in text
    assert "| A | memcollab | - | 10/11 (1 failed) | 10 | 30.0 [" in text
    assert "; the 1 pooled comparison(s) are a family of their own." in text


def test_one_data_set_has_no_pooled_rows() -> None:
    s = summarize([result("vanilla", "A", 1, True)], run_id=RUN, n_resamples=100)
    assert s.pooled == []
    assert "pooled" not in markdown.render_markdown(s)


def test_transfer_plot_needs_transfer_cells(tmp_path: Path) -> None:
    s = summarize([result("vanilla", "A", 1, True)], run_id=RUN, n_resamples=100)
    with pytest.raises(ConfigurationError, match="no transfer-matrix conditions"):
        plot_transfer_matrix(s, tmp_path / "x.png")


def test_docstring_examples_run() -> None:
    assert doctest.testmod(markdown).failed == 0
    assert doctest.testmod(report).failed == 0


def with_levels(condition: str, task: int, levels: list[str], **kw: Any) -> ItemResult:
    """A result of agent A whose prompt held one constraint per level, ids ``c0``, ``c1``..."""
    ids = kw.pop("retrieved_ids", [f"c{i}" for i in range(len(levels))])
    correct = kw.pop("correct", True)
    return result(condition, "A", task, correct, retrieved_ids=ids, retrieved_levels=levels, memory_source=["A"], **kw)


def retrieval_items() -> list[ItemResult]:
    """gsm8k memcollab counts tasks 0-3: 3 + 2 + 4 + 0 = 9 constraints, 4 exact, 2 category, 3 domain,
    2 items with a domain one. Task 4 predates levels (ids, no levels) and task 5 failed: both left out.
    mbpp memcollab: 1 domain, then 2 exact. ``self`` has only results from before levels were recorded."""
    items = [result("vanilla", "A", t, t < 2, dataset=d) for d in ("gsm8k", "mbpp") for t in range(6)]
    items += [
        with_levels("memcollab", 0, ["exact", "exact", "category"]),
        with_levels("memcollab", 1, ["exact", "domain"]),
        with_levels("memcollab", 2, ["category", "domain", "domain", "exact"]),
        with_levels("memcollab", 3, []),
        with_levels("memcollab", 4, [], retrieved_ids=["c1", "c2"]),
        with_levels("memcollab", 5, ["domain"], correct=None, error="TimeoutError: no reply"),
        with_levels("memcollab", 0, ["domain"], dataset="mbpp"),
        with_levels("memcollab", 1, ["exact", "exact"], dataset="mbpp"),
    ]
    items += [with_levels("self", t, [], retrieved_ids=["c1"]) for t in range(3)]
    return items


def test_retrieval_levels_per_cell_and_pooled() -> None:
    s = summarize(retrieval_items(), run_id=RUN, n_resamples=100)
    gsm8k = s.row("gsm8k", "A", "memcollab")
    assert gsm8k is not None
    assert gsm8k.retrieval is not None
    assert (gsm8k.retrieval.n, gsm8k.retrieval.items_with_domain) == (4, 2)
    assert gsm8k.retrieval.retrieved_per_item == pytest.approx(9 / 4)
    assert gsm8k.retrieval.shares == pytest.approx({"exact": 4 / 9, "category": 2 / 9, "domain": 3 / 9})
    mbpp = s.row("mbpp", "A", "memcollab")
    assert mbpp is not None
    assert mbpp.retrieval is not None
    assert (mbpp.retrieval.n, mbpp.retrieval.items_with_domain) == (2, 1)
    assert mbpp.retrieval.retrieved_per_item == pytest.approx(1.5)
    assert list(mbpp.retrieval.shares) == ["exact", "category", "domain"]
    assert mbpp.retrieval.shares == pytest.approx({"exact": 2 / 3, "category": 0.0, "domain": 1 / 3})
    pooled = {r.condition: r for r in s.pooled}
    assert pooled["memcollab"].retrieval is not None
    assert (pooled["memcollab"].retrieval.n, pooled["memcollab"].retrieval.items_with_domain) == (6, 3)
    assert pooled["memcollab"].retrieval.retrieved_per_item == pytest.approx(12 / 6)
    assert pooled["memcollab"].retrieval.shares == pytest.approx(
        {"exact": 6 / 12, "category": 2 / 12, "domain": 4 / 12}
    )
    # No memory, or only results written before levels were recorded: nothing, not zeros.
    no_levels = [s.row("gsm8k", "A", "vanilla"), s.row("mbpp", "A", "vanilla"), s.row("gsm8k", "A", "self")]
    assert [r.retrieval for r in no_levels if r is not None] == [None, None, None]
    assert pooled["vanilla"].retrieval is None
    assert pooled["self"].retrieval is None


def test_unknown_levels_keep_the_shares_whole() -> None:
    s = summarize([with_levels("memcollab", 0, ["exact", "global", "global"])], run_id=RUN, n_resamples=100)
    row = s.row("gsm8k", "A", "memcollab")
    assert row is not None
    assert row.retrieval is not None
    assert row.retrieval.shares == pytest.approx({"exact": 1 / 3, "category": 0.0, "domain": 0.0, "global": 2 / 3})


def test_report_shows_where_the_retrieved_memory_came_from(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path, RUN)
    store.extend(retrieval_items())
    files = write_report(store, n_resamples=200, plots=False)
    text = files.summary_md.read_text()
    header = "| agent | condition | retrieved/item | exact % | category % | domain % | items with domain |"
    assert text.count(header) == 3  # gsm8k, mbpp and pooled; the vanilla and old-results rows are left out
    # Each table's rows: the lines after its header and separator, up to the blank line that ends it.
    gsm8k, mbpp, pooled = (after.split("\n\n")[0].splitlines()[2:] for after in text.split(header)[1:])
    assert gsm8k == ["| A | memcollab | 2.25 | 44.4 | 22.2 | 33.3 | 2/4 |"]
    assert mbpp == ["| A | memcollab | 1.50 | 66.7 | 0.0 | 33.3 | 1/2 |"]
    assert pooled == ["| A | memcollab | 2.00 | 50.0 | 16.7 | 33.3 | 3/6 |"]
    assert text.index("## gsm8k") < text.index(header) < text.index("## mbpp")
    assert "| A | self | A | 3 | 3 | 100.0 [" in text  # the main tables are unchanged
    assert "- Retrieved memory: constraints per prompt" in text

    data = json.loads(files.results_json.read_text())
    rows = {(r["dataset"], r["condition"]): r for r in data["rows"] + data["pooled"]}
    assert rows[("gsm8k", "vanilla")]["retrieval"] is None
    assert rows[("gsm8k", "memcollab")]["retrieval"]["items_with_domain"] == 2
    assert rows[(POOLED, "memcollab")]["retrieval"]["n"] == 6


def test_report_without_retrieval_levels_has_no_memory_table(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path, RUN)
    store.extend([result("vanilla", "A", 1, True), with_levels("self", 1, [], retrieved_ids=["c1"])])
    text = write_report(store, n_resamples=100, plots=False).summary_md.read_text()
    assert "retrieved/item" not in text
    assert "Retrieved memory" not in text


def test_report_counts_the_calls_answered_by_the_response_cache(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path, RUN)
    store.extend(
        [result("vanilla", "A", t, True, calls=2) for t in range(3)]
        + [result("memcollab", "A", t, True, calls=2, cached_calls=t) for t in range(3)]
        + [result("memcollab", "A", 3, None, calls=2, cached_calls=2, error="TimeoutError: no reply")]
    )
    files = write_report(store, n_resamples=100, plots=False)
    row = summarize(store.read(), run_id=RUN, n_resamples=100).row("gsm8k", "A", "memcollab")
    assert row is not None
    assert (row.calls, row.cached_calls) == (6, 3)  # finished items only
    text = files.summary_md.read_text()
    assert "Model calls answered by the LLM response cache (latency near zero): A memcollab 3/6." in text
    assert "A vanilla" not in text  # cells without cached calls are not listed
    alone = ResultsStore(tmp_path / "none", RUN)
    alone.extend([result("vanilla", "A", 1, True, calls=2)])
    assert "answered by the LLM response cache (latency" not in write_report(alone, plots=False).summary_md.read_text()


def test_the_transfer_matrix_panels_share_a_colour_scale_of_at_least_ten_points() -> None:
    nan = float("nan")
    assert transfer_colour_bound([[[3.0, -1.0]], [[nan, 2.0]]]) == MIN_COLOUR_POINTS  # a few points look small
    assert transfer_colour_bound([[[3.0]], [[-24.0, nan]]]) == 24.0  # the largest change in any panel
    assert transfer_colour_bound([[[nan]]]) == MIN_COLOUR_POINTS
