"""Category-conditioned retrieval with fallback, as store plans (see :mod:`.driver`).

MemCollab keeps only constraints of the task's category and ranks them by relevance. Here the
category filter is a namespace prefix search, so the fallback from a subcategory to its parent
category (and, only when asked with ``fallback="domain"``, to the whole domain) is one more prefix
search per level, made only while too few constraints were found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from langgraph.store.base import SearchItem

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory.driver import Plan, search_all
from memcollab_langgraph.memory.models import FALLBACK_LEVELS, FallbackLevel, MemoryHit, RankerName, ScoreKind
from memcollab_langgraph.memory.ranking import bm25_scores, value_key
from memcollab_langgraph.memory.records import constraint_of, prefix_of, status_filter
from memcollab_langgraph.schema import CategoryPath, Constraint, ConstraintStatus

__all__ = ["ACTIVE", "check_fallback", "list_plan", "origin_filter", "query_plan", "select_statuses"]

ACTIVE: frozenset[ConstraintStatus] = frozenset({"candidate", "validated"})
"""Statuses returned unless asked otherwise."""

Keep = Callable[[Constraint], bool]


def select_statuses(
    statuses: Iterable[ConstraintStatus] | None, *, include_candidates: bool = True
) -> frozenset[ConstraintStatus]:
    """The statuses a read selects: ``statuses`` (default ``ACTIVE``), minus ``candidate`` if excluded."""
    if statuses is None:
        chosen = ACTIVE
    elif isinstance(statuses, str):
        chosen = frozenset({cast(ConstraintStatus, statuses)})
    else:
        chosen = frozenset(statuses)
    return chosen if include_candidates else chosen - {"candidate"}


def _names(values: Iterable[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    return frozenset({values} if isinstance(values, str) else values)


def origin_filter(models: Iterable[str] | None, families: Iterable[str] | None) -> Keep:
    """A predicate keeping constraints with one of ``models`` and one of ``families`` of origin."""
    wanted_models, wanted_families = _names(models), _names(families)

    def keep(c: Constraint) -> bool:
        if wanted_models is not None and not wanted_models.intersection(c.provenance.models):
            return False
        return wanted_families is None or bool(wanted_families.intersection(c.provenance.families))

    return keep


def _level_name(level: int, filter_path: CategoryPath) -> FallbackLevel:
    if level == 0:
        return "exact"
    return "category" if filter_path.depth == 2 else "domain"


def check_fallback(fallback: object) -> FallbackLevel:
    """``fallback`` if it names a level, else a :class:`ConfigurationError` naming the choices."""
    for level in FALLBACK_LEVELS:
        if fallback == level:
            return level
    raise ConfigurationError(
        f"fallback must be one of {list(FALLBACK_LEVELS)} (the coarsest category level retrieval may fall back "
        f"to), got {fallback!r}"
    )


def _check_counts(k: int, min_results: int | None) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigurationError(f"k must be a positive int, got {k!r}")
    wanted = k if min_results is None else min_results
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0:
        raise ConfigurationError(f"min_results must be a non-negative int or None, got {min_results!r}")
    return wanted


def query_plan(
    bank: str,
    path: CategoryPath,
    text: str | None,
    *,
    ranker: RankerName,
    k: int,
    statuses: frozenset[ConstraintStatus],
    keep: Keep,
    min_results: int | None,
    fallback: FallbackLevel,
) -> Plan[list[MemoryHit]]:
    """Retrieve up to ``k`` hits for ``path``, falling back level by level, down to ``fallback``, while
    fewer than ``min_results`` (default ``k``) were found; see :meth:`MemoryBank.query`."""
    wanted = _check_counts(k, min_results)
    coarsest = FALLBACK_LEVELS.index(check_fallback(fallback))
    where = status_filter(statuses)
    text = text.strip() if text and text.strip() else None
    use_store_scores = text is not None and ranker == "embedding"
    found: list[tuple[int, CategoryPath, SearchItem, Constraint]] = []
    seen: set[str] = set()
    for level, filter_path in enumerate(path.lineage()):
        if FALLBACK_LEVELS.index(_level_name(level, filter_path)) > coarsest:
            break
        [items] = yield from search_all(
            [prefix_of(bank, filter_path)], filter=where, query=text if use_store_scores else None
        )
        for item in items:
            c = constraint_of(item)
            if c.id not in seen and keep(c):
                seen.add(c.id)
                found.append((level, filter_path, item, c))
        if len(found) >= wanted:
            break
    score_kind: ScoreKind
    if use_store_scores:
        score_kind, scores = "embedding", [float(item.score or 0.0) for _, _, item, _ in found]
    elif text is not None:
        score_kind, scores = "bm25", bm25_scores(text, [c.text for *_, c in found])
    else:
        score_kind, scores = "support", [float(c.support) for *_, c in found]
    # Finer levels first, then relevance, then value; the id makes the order total.
    ranked = sorted(
        zip(found, scores, strict=True),
        key=lambda fs: (fs[0][0], -fs[1], *(-v for v in value_key(fs[0][3])), fs[0][3].id),
    )
    return [
        MemoryHit(
            constraint=c,
            score=score,
            score_kind=score_kind,
            level=_level_name(level, filter_path),
            filter_path=filter_path,
            namespace=item.namespace,
        )
        for (level, filter_path, item, c), score in ranked[:k]
    ]


def list_plan(prefix: tuple[str, ...], statuses: frozenset[ConstraintStatus], keep: Keep) -> Plan[list[Constraint]]:
    """Every entry under ``prefix`` with one of ``statuses``, sorted by path, then value, then id."""
    [items] = yield from search_all([prefix], filter=status_filter(statuses))
    out = [c for c in map(constraint_of, items) if keep(c)]
    return sorted(out, key=lambda c: (str(c.category), *(-v for v in value_key(c)), c.id))
