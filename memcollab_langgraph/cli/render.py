"""How the command line shows results: rich tables for people, JSON for programs."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from memcollab_langgraph.memory import BankStats, MemoryHit
from memcollab_langgraph.nodes import DistillationReport
from memcollab_langgraph.schema import Constraint, Usage

__all__ = [
    "console",
    "constraint_row",
    "constraints_table",
    "emit_json",
    "hits_table",
    "notes",
    "stats_tables",
    "usage_table",
]

PIPED_WIDTH = 160
"""Columns of tables written to a pipe, a file or a CI log (which have no width of their own)."""


def _stdout_width() -> int | None:
    # Rich gives output that is not a terminal 80 columns, which folds every cell of a wide table;
    # a terminal (or an explicit COLUMNS) keeps its own width.
    return None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPED_WIDTH


console = Console(highlight=False, width=_stdout_width())
"""Standard output. Progress bars and notes go to standard error, so ``--json`` output stays clean."""
notes = Console(stderr=True, highlight=False)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON on standard output (pydantic models included)."""
    print(json.dumps(_plain(value), indent=2, ensure_ascii=False, default=str))


def _origin(c: Constraint) -> str:
    prov = c.provenance
    preferred = ", ".join(f"{a.name} ({a.model})" for a in prov.preferred_agents) or "-"
    unpreferred = ", ".join(f"{a.name} ({a.model})" for a in prov.unpreferred_agents) or "-"
    tasks = ", ".join(prov.source_task_ids[:3]) + (" ..." if len(prov.source_task_ids) > 3 else "")
    return f"+ {preferred}\n- {unpreferred}\ntasks: {tasks or '-'}"


def hits_table(hits: Sequence[MemoryHit], title: str = "Retrieved constraints") -> Table:
    table = Table(title=title, show_lines=True, title_justify="left")
    for column in ("#", "score", "level", "constraint", "provenance (+ preferred / - unpreferred)"):
        table.add_column(column, overflow="fold")
    for i, hit in enumerate(hits, start=1):
        c = hit.constraint
        table.add_row(
            str(i),
            f"{hit.score:.3f} ({hit.score_kind})",
            f"{hit.level}\n{hit.filter_path}",
            f"{c.text}\n[dim]{c.category} · support {c.support} · {c.status}[/dim]",
            _origin(c),
        )
    return table


def constraint_row(c: Constraint) -> list[str]:
    uses = c.total_uses
    rate = f"{c.total_successes}/{uses}" if uses else "-"
    return [c.id[:8], str(c.category), c.status, str(c.support), rate, c.text, _origin(c)]


def constraints_table(constraints: Sequence[Constraint], title: str) -> Table:
    table = Table(title=title, show_lines=True, title_justify="left")
    for column in ("id", "category", "status", "support", "successes/uses", "constraint", "provenance"):
        table.add_column(column, overflow="fold")
    for c in constraints:
        table.add_row(*constraint_row(c))
    return table


def usage_table(usage: Mapping[str, Usage], title: str = "LLM usage") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("model", "calls", "prompt tokens", "completion tokens", "latency (s)"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for model, u in sorted(usage.items()):
        table.add_row(model, str(u.calls), str(u.prompt_tokens), str(u.completion_tokens), f"{u.latency_s:.1f}")
    return table


def stats_tables(stats: BankStats) -> list[Table]:
    data = stats.model_dump(mode="json")
    tables: list[Table] = []
    for key, title in (("categories", "Per category"), ("models", "Per model of origin")):
        rows = data.get(key) or {}
        if isinstance(rows, dict):
            rows = [
                {"name": name, **(value if isinstance(value, dict) else {"value": value})}
                for name, value in rows.items()
            ]
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        columns = [c for c in rows[0] if not isinstance(rows[0][c], (dict, list))]
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(row.get(c, "")) for c in columns))
        tables.append(table)
    return tables


def _reason_kind(reason: str) -> str:
    """A rejection reason without its particulars: ``copies task-specific number(s) ['16']`` ->
    ``copies task-specific number(s)``."""
    return reason.split(":")[0].split(" [")[0].strip()


def distillation_summary(reports: Sequence[DistillationReport]) -> str:
    """One paragraph on what the distiller did: drafts stored, merged into existing entries, rejected
    (with the most common reasons), distillations skipped or unparsable.

    Example:
        >>> distillation_summary([])
        'distiller: no distillation'
    """
    if not reports:
        return "distiller: no distillation"
    stored = sum(o.action == "added" for r in reports for o in r.accepted)
    merged = sum(o.action != "added" for r in reports for o in r.accepted)
    reasons = Counter(_reason_kind(rej.reason) for r in reports for rej in r.rejected)
    parts = [
        f"{len(reports)} distillation(s)",
        f"{stored} constraint(s) stored",
        f"{merged} already in memory (merged)",
    ]
    skipped = sum(r.skipped for r in reports)
    if skipped:
        parts.append(f"{skipped} skipped (nothing to contrast)")
    unparsable = sum(r.parse_mode == "failed" for r in reports)
    if unparsable:
        parts.append(f"{unparsable} unparsable reply(ies)")
    text = "distiller: " + ", ".join(parts)
    if reasons:
        common = "; ".join(f"{kind} ({n})" for kind, n in reasons.most_common(3))
        text += f"; {sum(reasons.values())} draft(s) rejected, mostly: {common}"
    return text
