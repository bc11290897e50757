"""Two runs of the same items, item by item: what a changed setting did to each cell.

An ablation re-runs a run's items with one thing changed (a retrieval setting, a bank audited with the
story check, another solver instruction). :func:`compare_runs` pairs the finished items both runs
have, per (data set, agent, condition), and says how many the second run got right that the first got
wrong and the reverse, with the exact McNemar test, and how many items retrieved exactly the same
constraints in both: with greedy decoding and the response cache those send the same requests, so
their verdicts should agree, and a difference there would mean the runs differ in more than the
setting. ``memcollab eval compare RUN_A RUN_B`` prints it.

``pairs`` compares a condition with another one on the same tasks instead (``{"memcollab": "curated"}``:
the first run's MemCollab items against the second run's curated items), also within one run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

from memcollab_langgraph.evaluation.results import ItemKey, ItemResult
from memcollab_langgraph.evaluation.statistics import mcnemar_exact

__all__ = ["CellComparison", "compare_runs"]


class CellComparison(BaseModel):
    """One (data set, agent, condition) cell of two runs, on the items both finished."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    agent: str
    condition: str
    """The first run's condition."""
    condition_b: str
    """The second run's condition it is compared with (the same name unless paired with another)."""
    n: int
    """Items finished (with a verdict) in both runs."""
    correct_a: int
    correct_b: int
    only_b: int
    """Right in the second run and wrong in the first."""
    only_a: int
    p_value: float
    """Exact two-sided McNemar test of the second run against the first."""
    same_retrieval: int
    """Items that retrieved the same constraints, in the same order, in both runs."""
    same_retrieval_same_verdict: int


def _judged(items: Iterable[ItemResult]) -> dict[ItemKey, ItemResult]:
    out: dict[ItemKey, ItemResult] = {}
    for item in items:  # the last record of an item wins, as in ResultsStore.latest
        out[item.key] = item
    return {key: item for key, item in out.items() if item.correct is not None}


def compare_runs(
    a: Iterable[ItemResult], b: Iterable[ItemResult], *, pairs: Mapping[str, str] | None = None
) -> list[CellComparison]:
    """Cells of ``b`` against ``a`` (the baseline run), sorted by data set, agent and condition.

    ``pairs`` maps a condition of ``a`` to the condition of ``b`` its items are compared with; given,
    only those pairs are compared (by default every condition with the same name).

    Example:
        >>> def r(run, task, ok, ids=()):
        ...     return ItemResult(run_id=run, condition="memcollab", agent="a", model="m", dataset="d",
        ...                       task_id=task, correct=ok, retrieved_ids=list(ids))
        >>> [cell] = compare_runs([r("A", "1", False, ["x"]), r("A", "2", True, ["y"])],
        ...                       [r("B", "1", True, ["z"]), r("B", "2", True, ["y"])])
        >>> cell.n, cell.only_b, cell.only_a, cell.same_retrieval, cell.same_retrieval_same_verdict
        (2, 1, 0, 1, 1)
    """
    first, second = _judged(a), _judged(b)
    cells: dict[tuple[str, str, str, str], list[tuple[ItemResult, ItemResult]]] = {}
    for key, x in first.items():
        if pairs and key.condition not in pairs:
            continue
        other = key._replace(condition=pairs[key.condition] if pairs else key.condition)
        if other in second:
            cells.setdefault((key.dataset, key.agent, key.condition, other.condition), []).append((x, second[other]))
    out: list[CellComparison] = []
    for (dataset, agent, condition, condition_b), matched in sorted(cells.items()):
        test = mcnemar_exact([bool(y.correct) for _, y in matched], [bool(x.correct) for x, _ in matched])
        same = [(x, y) for x, y in matched if x.retrieved_ids == y.retrieved_ids]
        out.append(
            CellComparison(
                dataset=dataset,
                agent=agent,
                condition=condition,
                condition_b=condition_b,
                n=len(matched),
                correct_a=sum(bool(x.correct) for x, _ in matched),
                correct_b=sum(bool(y.correct) for _, y in matched),
                only_b=test.only_treatment,
                only_a=test.only_baseline,
                p_value=test.p_value,
                same_retrieval=len(same),
                same_retrieval_same_verdict=sum(x.correct == y.correct for x, y in same),
            )
        )
    return out
