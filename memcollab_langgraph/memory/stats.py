"""Bank statistics, computed from a list of entries (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from memcollab_langgraph.memory.models import BankStats, CategoryStats, ModelStats
from memcollab_langgraph.schema import Constraint, UtilityCounter

__all__ = ["compute_stats"]


def compute_stats(bank: str, constraints: Sequence[Constraint]) -> BankStats:
    """Counts per category path (by status, support, utility), per model of origin and per consumer.

    Support, utility and model counts cover non-archived entries only: archived ones no longer shape
    what agents retrieve. Status counts include every entry.
    """
    by_status = {"candidate": 0, "validated": 0, "archived": 0}
    categories: dict[str, CategoryStats] = {}
    models: dict[str, ModelStats] = {}
    consumers: dict[str, UtilityCounter] = {}
    for c in constraints:
        by_status[c.status] += 1
        cat = categories.setdefault(str(c.category), CategoryStats())
        setattr(cat, c.status, getattr(cat, c.status) + 1)
        if c.status == "archived":
            continue
        cat.support += c.support
        cat.uses += c.total_uses
        cat.successes += c.total_successes
        preferred = {a.model for a in c.provenance.preferred_agents}
        for model in c.provenance.models:
            m = models.setdefault(model, ModelStats())
            m.constraints += 1
            m.support += c.support
            m.preferred += model in preferred
        for model, counter in c.utility.items():
            u = consumers.setdefault(model, UtilityCounter())
            u.uses += counter.uses
            u.successes += counter.successes
    return BankStats(
        bank=bank,
        total=len(constraints),
        by_status=by_status,
        categories=dict(sorted(categories.items())),
        models=dict(sorted(models.items())),
        consumers=dict(sorted(consumers.items())),
    )
