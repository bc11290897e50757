"""Consolidation on write, as pure planning over the entries a write touches.

Given the active entries of the affected category namespaces (read by the caller), :func:`plan_writes`
decides for each incoming constraint whether it is new, an exact duplicate (same fingerprint) or a near
duplicate (lexical Jaccard or store similarity over a threshold) of an entry, merges duplicates into
that entry (support summed, provenance united, version bumped), applies the promotion gate and the
per-category budget, and returns the final values to write. No store access happens here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory.models import AddAction, AddOutcome
from memcollab_langgraph.memory.ranking import eviction_key, jaccard, tokens
from memcollab_langgraph.memory.records import namespace_of
from memcollab_langgraph.schema import Constraint, UtilityCounter

__all__ = ["WorkingSet", "archive", "merge", "plan_writes", "promote", "same_evidence"]


def promote(c: Constraint) -> Constraint:
    """Apply the promotion gate: a ``candidate`` becomes ``validated`` once more than one distinct
    model produced a *preferred* trajectory it was distilled from, or it was distilled from more than one
    source task. The unpreferred side does not count: every contrastive constraint involves two models,
    so counting both would validate everything on arrival. Other statuses are left unchanged."""
    if c.status != "candidate":
        return c
    models = {a.model for a in c.provenance.preferred_agents}
    if len(models) > 1 or len(set(c.provenance.source_task_ids)) > 1:
        return c.model_copy(update={"status": "validated"})
    return c


def merge(existing: Constraint, incoming: Constraint) -> Constraint:
    """``existing`` absorbing its duplicate ``incoming``: wording and id kept, evidence added up."""
    utility = {m: u.model_copy() for m, u in existing.utility.items()}
    for model, counter in incoming.utility.items():
        mine = utility.setdefault(model, UtilityCounter())
        utility[model] = UtilityCounter(uses=mine.uses + counter.uses, successes=mine.successes + counter.successes)
    status = "validated" if "validated" in (existing.status, incoming.status) else existing.status
    merged = existing.model_copy(
        update={
            "provenance": existing.provenance.merge(incoming.provenance),
            "support": existing.support + incoming.support,
            "utility": utility,
            "version": existing.version + 1,
            "status": status,
        }
    )
    return promote(merged)


def same_evidence(existing: Constraint, incoming: Constraint) -> bool:
    """Whether ``incoming`` brings no evidence ``existing`` lacks: the same source tasks, agents,
    distillers and methods (a re-run of a distillation, e.g. a build resumed after a crash).

    Such a duplicate leaves the entry unchanged instead of raising its support, which keeps writes
    idempotent: support counts independent distillations, not retries of one."""
    old, new = existing.provenance, incoming.provenance
    return (
        bool(new.source_task_ids)
        and set(new.source_task_ids) <= set(old.source_task_ids)
        and set(new.preferred_agents) <= set(old.preferred_agents)
        and set(new.unpreferred_agents) <= set(old.unpreferred_agents)
        and set(new.distiller_models) <= set(old.distiller_models)
        and set(new.methods) <= set(old.methods)
        and not incoming.utility
    )


def archive(c: Constraint, *, superseded_by: str | None = None) -> Constraint:
    """``c`` set aside: status ``archived``, version bumped. Archived entries are never deleted."""
    update: dict[str, Any] = {"status": "archived", "version": c.version + 1}
    if superseded_by is not None:
        update["superseded_by"] = superseded_by
    return c.model_copy(update=update)


@dataclass
class WorkingSet:
    """The store state a write depends on, updated while the write is planned."""

    bank: str
    active: dict[tuple[str, ...], list[Constraint]]
    """Non-archived entries of every namespace the write touches."""
    known: dict[str, Constraint]
    """Entries (any status) with an id that an incoming constraint also uses."""
    dirty: dict[str, Constraint] = field(default_factory=dict)
    """Final values to write, by id."""

    def put(self, c: Constraint) -> None:
        self.dirty[c.id] = c
        self.known[c.id] = c

    def retire(self, c: Constraint, *, superseded_by: str | None = None) -> Constraint:
        """Archive ``c`` and drop it from the active entries."""
        ns = namespace_of(self.bank, c.category)
        self.active[ns] = [e for e in self.active.get(ns, []) if e.id != c.id]
        archived = archive(c, superseded_by=superseded_by)
        self.put(archived)
        return archived


def _find_duplicate(
    c: Constraint,
    active: Sequence[Constraint],
    *,
    threshold: float,
    similar: Sequence[tuple[str, float]],
    similar_threshold: float | None,
) -> tuple[Constraint, float] | None:
    for e in active:
        if e.fingerprint == c.fingerprint:
            return e, 1.0
    mine = tokens(c.text)
    scored = sorted(((jaccard(mine, tokens(e.text)), e) for e in active), key=lambda t: (-t[0], -t[1].support, t[1].id))
    if scored and scored[0][0] >= threshold:
        return scored[0][1], scored[0][0]
    if similar_threshold is not None:
        by_id = {e.id: e for e in active}
        for entry_id, score in sorted(similar, key=lambda t: (-t[1], t[0])):
            if score >= similar_threshold and entry_id in by_id:
                return by_id[entry_id], score
    return None


def _enforce_budget(ws: WorkingSet, ns: tuple[str, ...], budget: int) -> list[str]:
    evicted: list[str] = []
    while len(ws.active[ns]) > budget:
        victim = min(ws.active[ns], key=eviction_key)
        ws.retire(victim)
        evicted.append(victim.id)
    return evicted


def plan_writes(
    ws: WorkingSet,
    incoming: Sequence[Constraint],
    *,
    budget: int,
    threshold: float,
    similar: Mapping[int, Sequence[tuple[str, float]]] | None = None,
    similar_threshold: float | None = None,
) -> list[AddOutcome]:
    """Consolidate ``incoming`` into ``ws`` one by one, exactly as successive single adds would.

    Args:
        ws: Active entries of the affected namespaces and entries sharing an incoming id.
        incoming: Constraints to write, in order.
        budget: Maximum non-archived entries per category namespace.
        threshold: Token Jaccard at or above which two constraints are near duplicates.
        similar: For incoming index ``i``, ``(entry id, store similarity)`` pairs from a vector search.
        similar_threshold: Store similarity at or above which a pair is a near duplicate.

    Returns:
        One outcome per incoming constraint; ``ws.dirty`` holds what to write.
    """
    drafts: list[dict[str, Any]] = []
    for i, c in enumerate(incoming):
        ns = namespace_of(ws.bank, c.category)
        action: AddAction = "added"
        similarity: float | None = None
        target = c
        if c.id in ws.known:
            target = ws.known[c.id]
            if target.category != c.category:
                raise ConfigurationError(
                    f"constraint id {c.id!r} already exists under category {str(target.category)!r}, not "
                    f"{str(c.category)!r}; give the new constraint a fresh id, "
                    f"or use supersede({c.id!r}, ...)"
                )
            action = "unchanged"
        elif c.status == "archived":
            ws.put(c)  # kept as a record (e.g. an imported export); never a merge target, never budgeted
        else:
            active = ws.active.setdefault(ns, [])
            dup = _find_duplicate(
                c,
                active,
                threshold=threshold,
                similar=(similar or {}).get(i, ()),
                similar_threshold=similar_threshold,
            )
            if dup is not None and same_evidence(dup[0], c):
                target, similarity = dup
                action = "unchanged"
            elif dup is not None:
                existing, similarity = dup
                target, action = merge(existing, c), "merged"
                active[active.index(existing)] = target
            else:
                target = promote(c)
                active.append(target)
            if action != "unchanged":
                ws.put(target)
        evicted = _enforce_budget(ws, ns, budget) if action != "unchanged" else []
        drafts.append(
            {
                "action": action,
                "id": target.id,
                "incoming_id": c.id,
                "similarity": similarity,
                "evicted": evicted,
                "target": target,
            }
        )
    outcomes: list[AddOutcome] = []
    for d in drafts:
        final = ws.known.get(d["id"], d.pop("target"))
        d.pop("target", None)
        outcomes.append(
            AddOutcome(path=final.category, status=final.status, support=final.support, version=final.version, **d)
        )
    return outcomes
