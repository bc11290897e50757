"""Render a :class:`~memcollab_langgraph.evaluation.RunSummary` as the markdown of ``summary.md``."""

from __future__ import annotations

from collections.abc import Sequence

from memcollab_langgraph.evaluation.statistics import Estimate
from memcollab_langgraph.evaluation.summary import POOLED, ConditionSummary, RunSummary, TransferCell

__all__ = ["format_p", "render_markdown"]

_NONE = "-"


def _pct(e: Estimate | None) -> str:
    if e is None:
        return _NONE
    return f"{100 * e.value:.1f} [{100 * e.low:.1f}, {100 * e.high:.1f}]"


def _points(e: Estimate | None) -> str:
    if e is None:
        return _NONE
    return f"{100 * e.value:+.1f} [{100 * e.low:+.1f}, {100 * e.high:+.1f}]"


def _mean(e: Estimate | None, digits: int) -> str:
    if e is None:
        return _NONE
    return f"{e.value:.{digits}f} [{e.low:.{digits}f}, {e.high:.{digits}f}]"


def format_p(p: float | None) -> str:
    """A p-value as reports print it: three significant digits, ``<0.001`` below that.

    Example:
        >>> format_p(0.0625), format_p(1.0), format_p(0.0004), format_p(None)
        ('0.0625', '1', '<0.001', '-')
    """
    if p is None:
        return _NONE
    return "<0.001" if p < 0.001 else f"{p:.3g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _status(s: RunSummary) -> str:
    failed = f"; {s.failed} failed (run again to retry them)" if s.failed else ""
    if s.planned is None:
        return f"{s.finished} items finished{failed} (no plan was written, so the planned total is unknown)."
    if s.complete:
        return f"complete: all {s.planned} planned items finished."
    return f"**partial**: {s.finished} of {s.planned} planned items finished, {s.pending} pending{failed}."


def _condition_rows(rows: Sequence[ConditionSummary]) -> list[list[str]]:
    out: list[list[str]] = []
    for r in rows:
        done = f"{r.finished}/{r.planned}" if r.planned is not None else str(r.finished)
        if r.failed:
            done += f" ({r.failed} failed)"
        out.append(
            [
                r.agent,
                r.condition,
                "+".join(r.memory_source) or _NONE,
                done,
                str(r.n),
                _pct(r.accuracy),
                _points(r.delta),
                str(r.n_paired) if r.baseline is not None else _NONE,
                format_p(r.mcnemar.p_value if r.mcnemar is not None else None),
                format_p(r.p_holm),
                _mean(r.turns, 2),
                _mean(r.prompt_tokens, 0),
                _mean(r.completion_tokens, 0),
                _mean(r.latency_s, 2),
            ]
        )
    return out


_HEADER = [
    "agent",
    "condition",
    "memory from",
    "finished",
    "n",
    "accuracy % [95% CI]",
    "Δ vs {baseline}, pts [95% CI]",
    "paired n",
    "McNemar p",
    "Holm p",
    "turns [95% CI]",
    "prompt tokens [95% CI]",
    "completion tokens [95% CI]",
    "latency s [95% CI]",
]


def _retrieval_table(rows: Sequence[ConditionSummary]) -> list[str]:
    """The fallback levels of the memory of the cells that recorded them; no lines when none did."""
    shown = [(r, r.retrieval) for r in rows if r.retrieval is not None]
    if not shown:
        return []
    levels = list(dict.fromkeys(level for _, m in shown for level in m.shares))
    table = [
        [
            r.agent,
            r.condition,
            f"{m.retrieved_per_item:.2f}",
            *(f"{100 * m.shares.get(level, 0.0):.1f}" for level in levels),
            f"{m.items_with_domain}/{m.n}",
        ]
        for r, m in shown
    ]
    header = ["agent", "condition", "retrieved/item", *(f"{level} %" for level in levels), "items with domain"]
    return ["", "Retrieved memory by fallback level:", "", *_table(header, table)]


def _cache_note(rows: Sequence[ConditionSummary]) -> list[str]:
    """Which cells had model calls answered by the LLM response cache; no lines when none had."""
    cached = [f"{r.agent} {r.condition} {r.cached_calls}/{r.calls}" for r in rows if r.cached_calls]
    if not cached:
        return []
    return ["", "Model calls answered by the LLM response cache (latency near zero): " + "; ".join(cached) + "."]


def _transfer_table(cells: Sequence[TransferCell], s: RunSummary, dataset: str) -> list[str]:
    consumers = [a for a in s.agents if any(c.consumer == a for c in cells)]
    sources = list(dict.fromkeys(c.source for c in cells))
    grid = {(c.source, c.consumer): c for c in cells}
    rows: list[list[str]] = []
    base_row = [f"none ({s.baseline})"]
    for consumer in consumers:
        base = s.row(dataset, consumer, s.baseline)
        base_row.append(f"{_pct(base.accuracy)} (n={base.n})" if base is not None else _NONE)
    rows.append(base_row)
    for source in sources:
        row = [source]
        for consumer in consumers:
            c = grid.get((source, consumer))
            if c is None:
                row.append(_NONE)
                continue
            delta = f"; Δ {_points(c.delta)}, p={format_p(c.p_value)}" if c.delta is not None else ""
            row.append(f"{_pct(c.accuracy)} (n={c.n}){delta}")
        rows.append(row)
    return _table(["memory from \\ consumer", *consumers], rows)


def render_markdown(s: RunSummary) -> str:
    """The report of a run: status, method notes, one table per data set, the pooled table, the transfer matrices.

    Accuracy and deltas are in percent / percentage points; every interval is a 95% (or the
    summary's ``confidence``) percentile bootstrap interval, and every table states its sample sizes.
    Below a data set's (or the pooled) table, a small table says where the memory of its cells came
    from (constraints per prompt, percent of each fallback level), when any of them recorded it.
    """
    level = f"{100 * s.confidence:g}%"
    comparisons = sum(r.mcnemar is not None for r in s.rows)
    pooled = sum(r.mcnemar is not None for r in s.pooled)
    lines = [
        f"# Evaluation report: run `{s.run_id}`",
        "",
        f"- Status: {_status(s)}",
        f"- Generated: {s.generated_at.isoformat(timespec='seconds')}",
        "- Accuracy: percent of items with a verdict (`n`); failed items are left out and counted apart.",
        f"- Intervals: {level} percentile bootstrap, {s.n_resamples:,} resamples, seed {s.seed}.",
        f"- Δ: accuracy minus `{s.baseline}` of the same agent and data set, on the tasks both answered "
        f"(`paired n`), with a {level} paired bootstrap interval.",
        "- McNemar p: exact two-sided test on the discordant pairs, unadjusted; Holm p: Holm-Bonferroni "
        f"over the {comparisons} comparisons of the per-data-set tables"
        + (f"; the {pooled} pooled comparison(s) are a family of their own." if pooled else "."),
        "- Tokens: all model calls of an item (classifier and solver); latency: wall-clock per item. A call "
        "answered by the LLM response cache (an identical earlier request: same model, settings and prompt) "
        "keeps the original call's tokens and takes almost no time; such calls are counted under the tables.",
    ]
    if any(r.retrieval is not None for r in [*s.rows, *s.pooled]):
        lines.append(
            "- Retrieved memory: constraints per prompt, the percent found at each fallback level (`exact`: the "
            "task's subcategory, `category`, the whole `domain`) and the items with a domain-level constraint, "
            "over the finished items whose levels were recorded (the denominator of `items with domain`)."
        )
    header = [h.format(baseline=s.baseline) for h in _HEADER]
    for dataset in s.datasets:
        rows = [r for r in s.rows if r.dataset == dataset]
        lines += ["", f"## {dataset}", "", *_table(header, _condition_rows(rows)), *_retrieval_table(rows)]
        lines += _cache_note(rows)
    if s.pooled:
        lines += [
            "",
            f"## {POOLED.capitalize()} (pooled)",
            "",
            f"Each agent and condition over the items of {', '.join(s.datasets)} together; pairs are (data set, task).",
            "",
            *_table(header, _condition_rows(s.pooled)),
            *_retrieval_table(s.pooled),
            *_cache_note(s.pooled),
        ]
    for dataset in s.datasets:
        cells = [c for c in s.transfer if c.dataset == dataset]
        if cells:
            lines += [
                "",
                f"## Transfer matrix: {dataset}",
                "",
                f"Accuracy % [{level} CI] of each consumer (column) with memory built from the row's agents; "
                f"Δ against the consumer's own `{s.baseline}`.",
                "",
                *_transfer_table(cells, s, dataset),
            ]
    if not s.rows:
        lines += ["", "No results yet."]
    return "\n".join(lines) + "\n"
