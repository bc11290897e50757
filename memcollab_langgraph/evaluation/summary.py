"""Summaries of a run: per (data set, agent, condition) accuracy, paired comparisons, costs, transfer matrix.

:func:`summarize` is pure: it turns result records into a :class:`RunSummary`, which is what
``results.json`` holds and what the markdown tables and plots are drawn from.

How the numbers are made:

* An item counts in accuracy when it has a verdict (``correct`` is not ``None``); failed items
  (``error``) are counted apart and left out, as are unverified ones.
* Accuracy and the means of turns, tokens and latency come with 95% percentile bootstrap intervals.
* Each condition is compared with the baseline (``vanilla``) of the same agent and data set on the
  tasks both have a verdict for: the accuracy difference with a paired bootstrap interval, and the
  exact McNemar p-value; Holm's adjustment over every comparison in the run is given next to it.
* Transfer-matrix rows (conditions named ``transfer:<builders>``) are also laid out as memory source
  x consumer, with each consumer's delta against its own vanilla.
* With more than one data set, every (agent, condition) is also summarized over all data sets
  pooled (:data:`POOLED`): items are paired by (data set, task), so the paired tests stay exact, and
  Holm's adjustment of the pooled comparisons is a family of its own.
* Where each cell's memory came from (:class:`RetrievalLevels`): constraints per prompt and the share
  found at each fallback level (the task's subcategory, its category, the whole domain), over the
  finished items whose result records the level of every constraint it retrieved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from memcollab_langgraph.evaluation.conditions import TRANSFER_PREFIX, VANILLA, is_transfer
from memcollab_langgraph.evaluation.results import ItemKey, ItemResult, RunPlan
from memcollab_langgraph.evaluation.statistics import (
    DEFAULT_RESAMPLES,
    Estimate,
    McNemarResult,
    bootstrap_mean,
    holm,
    mcnemar_exact,
    paired_difference,
)
from memcollab_langgraph.memory import FALLBACK_LEVELS

__all__ = ["POOLED", "ConditionSummary", "RetrievalLevels", "RunSummary", "TransferCell", "summarize"]

POOLED = "all data sets"
"""The ``dataset`` of pooled rows (not a valid data set name, so it cannot clash with one)."""


class RetrievalLevels(BaseModel):
    """Where the constraints put into the prompts of one cell came from.

    Category-conditioned retrieval falls back from the task's subcategory (``exact``) to its
    ``category`` and then to the whole ``domain`` while too few constraints are found; constraints of
    the domain level may be unrelated to the task. The numbers are over the cell's finished items
    whose result records the level of every constraint it retrieved (``retrieved_levels`` as long as
    ``retrieved_ids``): items that retrieved nothing count, with 0 constraints; results written before
    levels were recorded do not.
    """

    model_config = ConfigDict(frozen=True)

    n: int
    """Items the numbers are over."""
    retrieved_per_item: float
    """Mean number of constraints put into an item's prompt."""
    shares: dict[str, float]
    """Fraction of the retrieved constraints found at each level: ``exact``, ``category`` and ``domain``
    always (0 included), in that order, then any other level seen; the fractions add up to 1."""
    items_with_domain: int
    """Items whose prompt held at least one ``domain``-level constraint."""


class ConditionSummary(BaseModel):
    """One (data set, agent, condition) cell of a run."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    agent: str
    condition: str
    models: list[str]
    """Model ids of the agent seen in the records."""
    memory_source: list[str]
    """Agents whose trajectories built the memory (union over the records)."""
    planned: int | None
    """Items planned for this cell (``None`` without a plan)."""
    finished: int
    """Items that ran to the end."""
    failed: int
    """Items whose latest attempt raised."""
    n: int
    """Items with a verdict: the accuracy's sample size."""
    accuracy: Estimate | None
    baseline: str | None
    """The condition this one is compared with; ``None`` for the baseline itself or when it is missing."""
    n_paired: int = 0
    """Tasks with a verdict in both this condition and the baseline."""
    delta: Estimate | None = None
    """Accuracy minus the baseline's on the paired tasks (fractions), paired bootstrap interval."""
    mcnemar: McNemarResult | None = None
    p_holm: float | None = None
    """McNemar p-value, Holm-adjusted over every comparison of the run."""
    turns: Estimate | None = None
    prompt_tokens: Estimate | None = None
    completion_tokens: Estimate | None = None
    latency_s: Estimate | None = None
    calls: int = 0
    """Model calls of the finished items."""
    cached_calls: int = 0
    """Of those, calls answered by the LLM response cache (their latency near zero)."""
    retrieval: RetrievalLevels | None = None
    """Where the retrieved memory came from; ``None`` without memory (the baseline) and for results
    written before retrieval levels were recorded."""


class TransferCell(BaseModel):
    """One cell of the transfer matrix: memory built from ``source`` used by ``consumer``."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    source: str
    """The building agents joined by ``+``."""
    consumer: str
    condition: str
    n: int
    accuracy: Estimate | None
    n_paired: int
    delta: Estimate | None
    p_value: float | None


class RunSummary(BaseModel):
    """Everything ``results.json`` holds about a run."""

    run_id: str
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    baseline: str
    confidence: float
    n_resamples: int
    seed: int
    planned: int | None
    """Items in the run's plan (``None`` when no plan was written)."""
    finished: int
    failed: int
    pending: int | None
    """Planned items without a result yet (``None`` without a plan)."""
    datasets: list[str]
    agents: list[str]
    conditions: list[str]
    rows: list[ConditionSummary]
    transfer: list[TransferCell]
    pooled: list[ConditionSummary] = Field(default_factory=list)
    """Each (agent, condition) over all data sets (``dataset`` is :data:`POOLED`); empty with one data set."""

    @property
    def complete(self) -> bool:
        return self.pending == 0 and self.failed == 0

    def row(self, dataset: str, agent: str, condition: str) -> ConditionSummary | None:
        """The summary of one cell, ``None`` when the run has no such cell."""
        return next((r for r in self.rows if (r.dataset, r.agent, r.condition) == (dataset, agent, condition)), None)


@dataclass(frozen=True)
class _Settings:
    n_resamples: int
    confidence: float
    seed: int

    def mean(self, values: Sequence[float]) -> Estimate | None:
        if not values:
            return None
        return bootstrap_mean(values, n_resamples=self.n_resamples, confidence=self.confidence, seed=self.seed)


@dataclass
class _Cell:
    items: list[ItemResult] = field(default_factory=list)

    def verdicts(self) -> dict[tuple[str, str], bool]:
        """Verdicts by (data set, task), the pairing key of the paired tests."""
        return {(i.dataset, i.task_id): i.correct for i in self.items if i.finished and i.correct is not None}


def _latest(items: Iterable[ItemResult]) -> list[ItemResult]:
    by_key: dict[ItemKey, ItemResult] = {}
    for item in items:
        by_key[item.key] = item
    return list(by_key.values())


def _ordered(seen: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """Distinct names: those of ``preferred`` present in ``seen`` in that order, then the rest as seen."""
    present = list(dict.fromkeys(seen))
    first = [n for n in dict.fromkeys(preferred) if n in set(present)]
    chosen = set(first)
    return first + [n for n in present if n not in chosen]


def _retrieval(done: Sequence[ItemResult]) -> RetrievalLevels | None:
    """The levels of the constraints retrieved by finished items, ``None`` when none was recorded."""
    # Without ids there is nothing whose level is missing: such an item retrieved nothing, with or
    # without levels recorded. An item with ids but no levels predates levels and is left out.
    recorded = [i.retrieved_levels for i in done if len(i.retrieved_levels) == len(i.retrieved_ids)]
    counts = Counter(level for levels in recorded for level in levels)
    total = counts.total()
    if not total:
        return None
    order = [*FALLBACK_LEVELS, *(level for level in counts if level not in FALLBACK_LEVELS)]
    return RetrievalLevels(
        n=len(recorded),
        retrieved_per_item=total / len(recorded),
        shares={level: counts[level] / total for level in order},
        items_with_domain=sum("domain" in levels for levels in recorded),
    )


def _paired(cell: _Cell, base: _Cell, settings: _Settings) -> tuple[int, Estimate | None, McNemarResult | None]:
    mine, theirs = cell.verdicts(), base.verdicts()
    common = sorted(mine.keys() & theirs.keys())
    if not common:
        return 0, None, None
    treatment = [mine[t] for t in common]
    baseline = [theirs[t] for t in common]
    delta = paired_difference(
        treatment, baseline, n_resamples=settings.n_resamples, confidence=settings.confidence, seed=settings.seed
    )
    return len(common), delta, mcnemar_exact(treatment, baseline)


def _summarize_cell(
    key: tuple[str, str, str],
    cell: _Cell,
    base: _Cell | None,
    baseline: str,
    planned: dict[tuple[str, str, str], int] | None,
    settings: _Settings,
) -> ConditionSummary:
    dataset, agent, condition = key
    done = [i for i in cell.items if i.finished]
    verdicts = list(cell.verdicts().values())
    compared = base is not None and condition != baseline
    n_paired, delta, test = _paired(cell, base, settings) if base is not None and compared else (0, None, None)
    return ConditionSummary(
        dataset=dataset,
        agent=agent,
        condition=condition,
        models=sorted({i.model for i in cell.items}),
        memory_source=sorted({a for i in cell.items for a in i.memory_source}),
        planned=None if planned is None else planned.get(key, 0),
        finished=len(done),
        failed=len(cell.items) - len(done),
        n=len(verdicts),
        accuracy=settings.mean([float(v) for v in verdicts]),
        baseline=baseline if compared else None,
        n_paired=n_paired,
        delta=delta,
        mcnemar=test,
        turns=settings.mean([float(i.turns) for i in done]),
        prompt_tokens=settings.mean([float(i.prompt_tokens) for i in done]),
        completion_tokens=settings.mean([float(i.completion_tokens) for i in done]),
        latency_s=settings.mean([i.latency_s for i in done]),
        calls=sum(i.calls for i in done),
        cached_calls=sum(i.cached_calls for i in done),
        retrieval=_retrieval(done),
    )


def _rows(
    cells: dict[tuple[str, str, str], _Cell],
    order: Sequence[tuple[str, str, str]],
    baseline: str,
    planned: dict[tuple[str, str, str], int] | None,
    settings: _Settings,
) -> list[ConditionSummary]:
    rows = [
        _summarize_cell(key, cells[key], cells.get((key[0], key[1], baseline)), baseline, planned, settings)
        for key in order
    ]
    return _with_holm(rows)


def _pool(
    cells: dict[tuple[str, str, str], _Cell], planned: dict[tuple[str, str, str], int] | None
) -> tuple[dict[tuple[str, str, str], _Cell], dict[tuple[str, str, str], int] | None]:
    """The cells and planned counts of every (agent, condition) over all data sets."""
    pooled: dict[tuple[str, str, str], _Cell] = {}
    for (_, agent, condition), cell in cells.items():
        pooled.setdefault((POOLED, agent, condition), _Cell()).items.extend(cell.items)
    if planned is None:
        return pooled, None
    counts: dict[tuple[str, str, str], int] = {}
    for (_, agent, condition), n in planned.items():
        counts[(POOLED, agent, condition)] = counts.get((POOLED, agent, condition), 0) + n
    return pooled, counts


def _with_holm(rows: list[ConditionSummary]) -> list[ConditionSummary]:
    tested = [i for i, r in enumerate(rows) if r.mcnemar is not None]
    adjusted = holm([test.p_value for r in rows if (test := r.mcnemar) is not None])
    out = list(rows)
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = rows[i].model_copy(update={"p_holm": p})
    return out


def _transfer(rows: Sequence[ConditionSummary], transfer: Callable[[str], bool]) -> list[TransferCell]:
    cells: list[TransferCell] = []
    for r in rows:
        if not transfer(r.condition):
            continue
        name = r.condition[len(TRANSFER_PREFIX) :] if r.condition.startswith(TRANSFER_PREFIX) else ""
        source = name or "+".join(r.memory_source) or r.condition
        cells.append(
            TransferCell(
                dataset=r.dataset,
                source=source,
                consumer=r.agent,
                condition=r.condition,
                n=r.n,
                accuracy=r.accuracy,
                n_paired=r.n_paired,
                delta=r.delta,
                p_value=r.mcnemar.p_value if r.mcnemar is not None else None,
            )
        )
    return cells


def summarize(
    items: Iterable[ItemResult],
    *,
    run_id: str,
    plan: RunPlan | None = None,
    baseline: str = VANILLA,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    transfer: Callable[[str], bool] = is_transfer,
) -> RunSummary:
    """Summarize a run's results (the latest record of each item counts).

    Args:
        items: Result records, e.g. ``ResultsStore(...).read()``; repeated keys keep the last one.
        run_id: The run's name.
        plan: The run's plan, to count pending items and order the tables.
        baseline: The condition every other one is compared with, per agent and data set.
        n_resamples: Bootstrap resamples of every interval.
        confidence: Coverage of every interval.
        seed: Seed of every bootstrap (results are reproducible).
        transfer: Which conditions are transfer-matrix rows (default: named ``transfer:...``).

    Returns:
        The summary; cells are ordered by data set, then agent, then condition (plan order first).
    """
    settings = _Settings(n_resamples, confidence, seed)
    latest = _latest(items)
    plan_keys = plan.items if plan is not None else []
    planned_cells: dict[tuple[str, str, str], int] | None = None
    if plan is not None:
        planned_cells = {}
        for k in plan_keys:
            planned_cells[(k.dataset, k.agent, k.condition)] = (
                planned_cells.get((k.dataset, k.agent, k.condition), 0) + 1
            )
    datasets = _ordered((i.dataset for i in latest), [k.dataset for k in plan_keys])
    agents = _ordered((i.agent for i in latest), [k.agent for k in plan_keys])
    conditions = _ordered((i.condition for i in latest), [baseline, *(k.condition for k in plan_keys)])
    cells: dict[tuple[str, str, str], _Cell] = {}
    for item in latest:
        cells.setdefault((item.dataset, item.agent, item.condition), _Cell()).items.append(item)
    order = sorted(cells, key=lambda k: (datasets.index(k[0]), agents.index(k[1]), conditions.index(k[2])))
    rows = _rows(cells, order, baseline, planned_cells, settings)
    pooled: list[ConditionSummary] = []
    if len(datasets) > 1:
        pooled_cells, pooled_planned = _pool(cells, planned_cells)
        pooled_order = sorted(pooled_cells, key=lambda k: (agents.index(k[1]), conditions.index(k[2])))
        pooled = _rows(pooled_cells, pooled_order, baseline, pooled_planned, settings)
    finished = sum(i.finished for i in latest)
    planned_set = set(plan_keys)
    done_planned = sum(1 for i in latest if i.finished and i.key in planned_set)
    return RunSummary(
        run_id=run_id,
        baseline=baseline,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        planned=len(planned_set) if plan is not None else None,
        finished=finished,
        failed=len(latest) - finished,
        pending=len(planned_set) - done_planned if plan is not None else None,
        datasets=datasets,
        agents=agents,
        conditions=conditions,
        rows=rows,
        transfer=_transfer(rows, transfer),
        pooled=pooled,
    )
