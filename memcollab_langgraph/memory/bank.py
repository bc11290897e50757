"""MemoryBank: the shared constraint memory, over any LangGraph ``BaseStore``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from typing import cast

from langgraph.store.base import BaseStore, Op, SearchItem, SearchOp

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import jsonl
from memcollab_langgraph.memory.consolidate import WorkingSet, archive, plan_writes
from memcollab_langgraph.memory.driver import Plan, arun, run, search_all
from memcollab_langgraph.memory.models import (
    DEFAULT_FALLBACK,
    AddOutcome,
    BankStats,
    FallbackLevel,
    MemoryHit,
    RankerName,
)
from memcollab_langgraph.memory.records import (
    ALL_STATUSES,
    check_bank_name,
    constraint_of,
    namespace_of,
    prefix_of,
    put_op,
    root_of,
    status_filter,
)
from memcollab_langgraph.memory.retrieval import ACTIVE, list_plan, origin_filter, query_plan, select_statuses
from memcollab_langgraph.memory.stats import compute_stats
from memcollab_langgraph.schema import CategoryPath, Constraint, ConstraintStatus, UtilityCounter
from memcollab_langgraph.taxonomy import Taxonomy, get_taxonomy

__all__ = ["MemoryBank"]

_RANKERS = ("bm25", "embedding", "auto")


class MemoryBank:
    """A shared memory of abstract reasoning constraints, organised by task category.

    Works on any LangGraph ``BaseStore`` (``InMemoryStore``, ``ChromaStore``, ``PostgresStore``...);
    the constructor does no I/O. Every write consolidates: exact duplicates (same fingerprint) and near
    duplicates (token Jaccard >= ``dedup_threshold`` within the same category) merge into the existing
    entry, a promotion gate marks entries ``validated`` once more than one model or task supports them,
    and a hard per-category budget archives the lowest-value entries. Nothing is ever deleted.

    Every public method ``x`` has an async twin ``ax`` with the same signature and result.

    Args:
        store: Where constraints live; namespaces start with ``("memcollab", name, "constraints")``.
        name: Bank name, so that several banks can share one store.
        taxonomy: A :class:`Taxonomy` or built-in name; when set, category paths are validated against it.
        budget_per_category: Maximum non-archived entries per category path.
        dedup_threshold: Token Jaccard (0..1] at or above which a new constraint merges into an entry.
        semantic_dedup_threshold: When set, also merge into an entry whose store similarity (vector
            search, needs a store with an index) reaches this value.
        ranker: ``"bm25"`` (default, lexical as in the paper), ``"embedding"`` (the store's vector
            search; needs an index) or ``"auto"`` (embedding when the store has an index).

    Example:
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.schema import CategoryPath, Constraint
        >>> bank = MemoryBank(InMemoryStore(), taxonomy="math")
        >>> linear = CategoryPath(domain="math", category="algebra", subcategory="linear_equations")
        >>> bank.add(Constraint(when="solving a linear equation", category=linear,
        ...                     enforce="apply every operation to both sides",
        ...                     avoid="moving a term across without flipping its sign")).action
        'added'
        >>> hits = bank.query(CategoryPath(domain="math", category="algebra"), "Solve 3x + 5 = 11.")
        >>> [(h.level, h.constraint.when) for h in hits]
        [('exact', 'solving a linear equation')]
    """

    def __init__(
        self,
        store: BaseStore,
        *,
        name: str = "default",
        taxonomy: Taxonomy | str | None = None,
        budget_per_category: int = 50,
        dedup_threshold: float = 0.75,
        semantic_dedup_threshold: float | None = None,
        ranker: RankerName = "bm25",
    ) -> None:
        if not isinstance(store, BaseStore):
            raise ConfigurationError(
                f"store must be a langgraph BaseStore, got {type(store).__name__}; "
                "pass e.g. InMemoryStore() or ChromaStore(...)"
            )
        if isinstance(budget_per_category, bool) or not isinstance(budget_per_category, int) or budget_per_category < 1:
            raise ConfigurationError(f"budget_per_category must be a positive int, got {budget_per_category!r}")
        if not 0.0 < dedup_threshold <= 1.0:
            raise ConfigurationError(
                f"dedup_threshold must be in (0, 1], got {dedup_threshold!r}; use 1.0 to merge exact duplicates only"
            )
        if ranker not in _RANKERS:
            raise ConfigurationError(f"unknown ranker {ranker!r}; use one of {list(_RANKERS)}")
        has_index = bool(getattr(store, "index_config", None))
        if not has_index and (ranker == "embedding" or semantic_dedup_threshold is not None):
            what = "ranker='embedding'" if ranker == "embedding" else "semantic_dedup_threshold"
            raise ConfigurationError(
                f"{what} needs a store with a vector index, but {type(store).__name__} has none; create the "
                "store with index={'embed': ..., 'dims': ...} or use ranker='bm25' / no semantic dedup"
            )
        if semantic_dedup_threshold is not None and not 0.0 < semantic_dedup_threshold <= 1.0:
            raise ConfigurationError(
                f"semantic_dedup_threshold must be in (0, 1] or None, got {semantic_dedup_threshold!r}"
            )
        self.store = store
        self.name = check_bank_name(name)
        self.taxonomy = get_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
        self.budget_per_category = budget_per_category
        self.dedup_threshold = dedup_threshold
        self.semantic_dedup_threshold = semantic_dedup_threshold
        self.ranker: RankerName = "embedding" if ranker == "embedding" or (ranker == "auto" and has_index) else "bm25"
        """The ranker in effect (``auto`` resolved)."""

    def __repr__(self) -> str:
        return f"MemoryBank(name={self.name!r}, store={type(self.store).__name__}, ranker={self.ranker!r})"

    # --- public API: each pair shares one plan ----------------------------------------------------

    def add(self, constraint: Constraint) -> AddOutcome:
        """Write one constraint, merging it into a duplicate entry if there is one.

        Raises:
            ConfigurationError: Its category is not in the taxonomy, or its id is taken in another category.
        """
        return run(self.store, self._write_plan([constraint]))[0]

    async def aadd(self, constraint: Constraint) -> AddOutcome:
        """Async :meth:`add`."""
        return (await arun(self.store, self._write_plan([constraint])))[0]

    def add_many(self, constraints: Iterable[Constraint]) -> list[AddOutcome]:
        """Write several constraints with one read and one write batch; same result as successive adds."""
        return run(self.store, self._write_plan(list(constraints)))

    async def aadd_many(self, constraints: Iterable[Constraint]) -> list[AddOutcome]:
        """Async :meth:`add_many`."""
        return await arun(self.store, self._write_plan(list(constraints)))

    def supersede(self, old_id: str, new_constraint: Constraint) -> AddOutcome:
        """Replace entry ``old_id`` by ``new_constraint``: the old entry is archived with ``superseded_by``
        set to the entry now holding the new constraint (which may be an existing duplicate).

        If ``new_constraint`` carries ``old_id`` (an edited copy), it is given a fresh id.

        Raises:
            ConfigurationError: ``old_id`` is unknown or already superseded.
        """
        return run(self.store, self._write_plan([new_constraint], supersede_id=old_id))[0]

    async def asupersede(self, old_id: str, new_constraint: Constraint) -> AddOutcome:
        """Async :meth:`supersede`."""
        return (await arun(self.store, self._write_plan([new_constraint], supersede_id=old_id)))[0]

    def query(
        self,
        category: CategoryPath | str,
        text: str | None = None,
        *,
        k: int = 3,
        statuses: Iterable[ConstraintStatus] | None = None,
        models: Iterable[str] | None = None,
        families: Iterable[str] | None = None,
        include_candidates: bool = True,
        min_results: int | None = None,
        fallback: FallbackLevel = DEFAULT_FALLBACK,
    ) -> list[MemoryHit]:
        """Category-conditioned retrieval with fallback, ranked by relevance to ``text``.

        Looks in ``category`` (and everything below it) first; while fewer than ``min_results``
        constraints were found it falls back to the parent category, and, with ``fallback="domain"``,
        to the whole domain. Hits of a finer level always come before those of a coarser one; within a
        level they are ranked by BM25 (or the store's similarity with the embedding ranker) against
        ``text``, or by support and verified successes without text. Remaining ties break on the id, so
        results are deterministic.

        Args:
            category: Category path of the task, e.g. ``"math/algebra/quadratics"``.
            text: The task, to rank by relevance.
            k: Number of hits to return at most.
            statuses: Statuses to return; default ``candidate`` and ``validated``.
            models: Keep only constraints with one of these models of origin.
            families: Keep only constraints with one of these model families of origin.
            include_candidates: ``False`` drops ``candidate`` entries (only validated memory).
            min_results: Fall back to a coarser level while fewer were found; default ``k``.
            fallback: The coarsest level to fall back to: ``"exact"`` (never), ``"category"`` (default: a
                subcategory's parent category; see :data:`~memcollab_langgraph.memory.DEFAULT_FALLBACK`)
                or ``"domain"`` (any category of the domain).

        Raises:
            ConfigurationError: A bad ``k``, ``min_results``, ``fallback`` or category.
        """
        return run(
            self.store,
            self._query_plan(category, text, k, statuses, models, families, include_candidates, min_results, fallback),
        )

    async def aquery(
        self,
        category: CategoryPath | str,
        text: str | None = None,
        *,
        k: int = 3,
        statuses: Iterable[ConstraintStatus] | None = None,
        models: Iterable[str] | None = None,
        families: Iterable[str] | None = None,
        include_candidates: bool = True,
        min_results: int | None = None,
        fallback: FallbackLevel = DEFAULT_FALLBACK,
    ) -> list[MemoryHit]:
        """Async :meth:`query`."""
        plan = self._query_plan(
            category, text, k, statuses, models, families, include_candidates, min_results, fallback
        )
        return await arun(self.store, plan)

    def get(self, constraint_id: str) -> Constraint | None:
        """The entry with this id, whatever its status, or ``None``."""
        return run(self.store, self._find_plan([constraint_id])).get(constraint_id)

    async def aget(self, constraint_id: str) -> Constraint | None:
        """Async :meth:`get`."""
        return (await arun(self.store, self._find_plan([constraint_id]))).get(constraint_id)

    def list_constraints(
        self,
        category: CategoryPath | str | None = None,
        *,
        statuses: Iterable[ConstraintStatus] | None = None,
        models: Iterable[str] | None = None,
        families: Iterable[str] | None = None,
    ) -> list[Constraint]:
        """Entries under ``category`` (default: the whole bank), sorted by path then support.

        Args:
            category: Restrict to this path and everything below it.
            statuses: Default ``candidate`` and ``validated``; add ``archived`` to see archived entries.
            models: Keep only constraints with one of these models of origin.
            families: Keep only constraints with one of these model families of origin.
        """
        return run(self.store, self._list_plan(category, statuses, models, families))

    async def alist_constraints(
        self,
        category: CategoryPath | str | None = None,
        *,
        statuses: Iterable[ConstraintStatus] | None = None,
        models: Iterable[str] | None = None,
        families: Iterable[str] | None = None,
    ) -> list[Constraint]:
        """Async :meth:`list_constraints`."""
        return await arun(self.store, self._list_plan(category, statuses, models, families))

    def archive(self, constraint_id: str) -> Constraint:
        """Archive an entry (the bank's delete: archived entries stay for provenance but are not retrieved).

        Raises:
            ConfigurationError: Unknown id.
        """
        return run(self.store, self._archive_plan(constraint_id))

    async def aarchive(self, constraint_id: str) -> Constraint:
        """Async :meth:`archive`."""
        return await arun(self.store, self._archive_plan(constraint_id))

    def record_outcome(self, constraint_ids: Iterable[str], consumer_model: str, success: bool) -> list[Constraint]:
        """Count one use of each constraint by ``consumer_model`` and whether the verified answer was right.

        Args:
            constraint_ids: Ids of the constraints that were in the prompt (repeats count once).
            consumer_model: Model id of the solver that used them.
            success: Verdict of the answer against ground truth.

        Returns:
            The updated constraints, in the order of ``constraint_ids``.

        Raises:
            ConfigurationError: An id is unknown (nothing is written then).
        """
        return run(self.store, self._outcome_plan(constraint_ids, consumer_model, success))

    async def arecord_outcome(
        self, constraint_ids: Iterable[str], consumer_model: str, success: bool
    ) -> list[Constraint]:
        """Async :meth:`record_outcome`."""
        return await arun(self.store, self._outcome_plan(constraint_ids, consumer_model, success))

    def export_jsonl(self, target: jsonl.Target, *, include_archived: bool = True) -> int:
        """Write every entry as one JSON record per line to a path or text file; returns the count."""
        constraints = run(self.store, self._list_plan(None, _statuses_for_export(include_archived), None, None))
        return jsonl.write(target, constraints)

    async def aexport_jsonl(self, target: jsonl.Target, *, include_archived: bool = True) -> int:
        """Async :meth:`export_jsonl` (the file is written in a worker thread)."""
        constraints = await arun(self.store, self._list_plan(None, _statuses_for_export(include_archived), None, None))
        return await asyncio.to_thread(jsonl.write, target, constraints)

    def import_jsonl(self, source: jsonl.Source) -> list[AddOutcome]:
        """Add every record of a file written by :meth:`export_jsonl`, through dedup and the budget.

        Entries whose id already exists are left ``unchanged``, so importing a file twice is harmless.

        Raises:
            ConfigurationError: A line is not a valid constraint record (the line number is named).
        """
        return run(self.store, self._write_plan(jsonl.read(source)))

    async def aimport_jsonl(self, source: jsonl.Source) -> list[AddOutcome]:
        """Async :meth:`import_jsonl` (the file is read in a worker thread)."""
        constraints = await asyncio.to_thread(jsonl.read, source)
        return await arun(self.store, self._write_plan(constraints))

    def stats(self) -> BankStats:
        """Counts per category (by status, support, utility), per model of origin and per consumer."""
        return compute_stats(self.name, run(self.store, self._list_plan(None, ALL_STATUSES, None, None)))

    async def astats(self) -> BankStats:
        """Async :meth:`stats`."""
        return compute_stats(self.name, await arun(self.store, self._list_plan(None, ALL_STATUSES, None, None)))

    # --- plans: the logic, written once --------------------------------------------------------------

    def _path(self, category: CategoryPath | str) -> CategoryPath:
        path = CategoryPath.parse(category) if isinstance(category, str) else category
        if not isinstance(path, CategoryPath):
            raise ConfigurationError(
                f"category must be a CategoryPath or a 'domain/category/subcategory' string, got {category!r}"
            )
        return self.taxonomy.validate_path(path) if self.taxonomy is not None else path

    def _find_plan(self, ids: Sequence[str]) -> Plan[dict[str, Constraint]]:
        """Entries by id, wherever their category."""
        ids = list(dict.fromkeys(ids))
        ops: list[Op] = [SearchOp(root_of(self.name), {"id": i}, 1, 0) for i in ids]
        results = yield ops
        return {
            i: constraint_of(items[0])
            for i, items in zip(ids, cast(list[list[SearchItem]], results), strict=True)
            if items
        }

    def _write_plan(self, incoming: list[Constraint], *, supersede_id: str | None = None) -> Plan[list[AddOutcome]]:
        for c in incoming:
            if not isinstance(c, Constraint):
                raise ConfigurationError(f"can only add Constraint objects, got {type(c).__name__}: {c!r}")
            self._path(c.category)
        if supersede_id is not None and incoming[0].id == supersede_id:
            incoming = [incoming[0].model_copy(update={"id": uuid.uuid4().hex})]
        known = yield from self._find_plan([c.id for c in incoming] + ([supersede_id] if supersede_id else []))
        old: Constraint | None = None
        if supersede_id is not None:
            old = known.pop(supersede_id, None)
            if old is None:
                raise ConfigurationError(f"cannot supersede {supersede_id!r}: no such constraint in bank {self.name!r}")
            if old.superseded_by is not None:
                raise ConfigurationError(
                    f"constraint {supersede_id!r} is already superseded by {old.superseded_by!r}; "
                    "supersede that one instead"
                )
        live = [c for c in incoming if c.status != "archived"]
        namespaces = list(dict.fromkeys(namespace_of(self.name, c.category) for c in live))
        similar: dict[int, list[tuple[str, float]]] = {}
        if self.semantic_dedup_threshold is not None and live:
            ops: list[Op] = [
                SearchOp(namespace_of(self.name, c.category), status_filter(ACTIVE), 5, 0, c.text) for c in incoming
            ]
            results = yield ops
            for i, items in enumerate(cast(list[list[SearchItem]], results)):
                similar[i] = [(it.key, it.score) for it in items if it.score is not None]
        pages = yield from search_all(namespaces, filter=status_filter(ACTIVE))
        ws = WorkingSet(
            bank=self.name,
            active={ns: [constraint_of(it) for it in items] for ns, items in zip(namespaces, pages, strict=True)},
            known=known,
        )
        if old is not None:
            old_ns = namespace_of(self.name, old.category)
            ws.active[old_ns] = [e for e in ws.active.get(old_ns, []) if e.id != old.id]
        outcomes = plan_writes(
            ws,
            incoming,
            budget=self.budget_per_category,
            threshold=self.dedup_threshold,
            similar=similar,
            similar_threshold=self.semantic_dedup_threshold,
        )
        if old is not None:
            ws.put(archive(old, superseded_by=outcomes[0].id))
        if ws.dirty:
            yield [put_op(self.name, c) for c in ws.dirty.values()]
        return outcomes

    def _query_plan(
        self,
        category: CategoryPath | str,
        text: str | None,
        k: int,
        statuses: Iterable[ConstraintStatus] | None,
        models: Iterable[str] | None,
        families: Iterable[str] | None,
        include_candidates: bool,
        min_results: int | None,
        fallback: FallbackLevel,
    ) -> Plan[list[MemoryHit]]:
        chosen = select_statuses(statuses, include_candidates=include_candidates)
        return query_plan(
            self.name,
            self._path(category),
            text,
            ranker=self.ranker,
            k=k,
            statuses=chosen,
            keep=origin_filter(models, families),
            min_results=min_results,
            fallback=fallback,
        )

    def _list_plan(
        self,
        category: CategoryPath | str | None,
        statuses: Iterable[ConstraintStatus] | None,
        models: Iterable[str] | None,
        families: Iterable[str] | None,
    ) -> Plan[list[Constraint]]:
        prefix = root_of(self.name) if category is None else prefix_of(self.name, self._path(category))
        return list_plan(prefix, select_statuses(statuses), origin_filter(models, families))

    def _archive_plan(self, constraint_id: str) -> Plan[Constraint]:
        found = yield from self._find_plan([constraint_id])
        if constraint_id not in found:
            raise ConfigurationError(f"cannot archive {constraint_id!r}: no such constraint in bank {self.name!r}")
        c = found[constraint_id]
        if c.status == "archived":
            return c
        archived = archive(c)
        yield [put_op(self.name, archived)]
        return archived

    def _outcome_plan(
        self, constraint_ids: Iterable[str], consumer_model: str, success: bool
    ) -> Plan[list[Constraint]]:
        if isinstance(constraint_ids, str):
            raise ConfigurationError(
                f"constraint_ids must be a list of ids, got the string {constraint_ids!r}; "
                f"wrap it: [{constraint_ids!r}]"
            )
        if not isinstance(consumer_model, str) or not consumer_model:
            raise ConfigurationError(f"consumer_model must be a non-empty model id, got {consumer_model!r}")
        ids = list(dict.fromkeys(constraint_ids))
        found = yield from self._find_plan(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise ConfigurationError(f"unknown constraint id(s) {missing} in bank {self.name!r}; nothing was recorded")
        updated: list[Constraint] = []
        for i in ids:
            c = found[i]
            counter = c.utility.get(consumer_model, UtilityCounter())
            utility = {
                **c.utility,
                consumer_model: UtilityCounter(uses=counter.uses + 1, successes=counter.successes + int(bool(success))),
            }
            updated.append(c.model_copy(update={"utility": utility}))
        if updated:
            yield [put_op(self.name, c) for c in updated]
        return updated


def _statuses_for_export(include_archived: bool) -> frozenset[ConstraintStatus]:
    return frozenset(ALL_STATUSES) if include_archived else ACTIVE
