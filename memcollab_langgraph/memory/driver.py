"""Run a store plan synchronously or asynchronously.

Every :class:`~memcollab_langgraph.memory.MemoryBank` operation is written once, as a *plan*: a
generator that yields a list of store ops, receives their results, decides what to do next (pure
logic), and finally returns its answer. Only the two tiny drivers below touch the store, one through
``store.batch`` and one through ``await store.abatch``. This is what keeps the sync and async APIs
identical without copy-pasted twins.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, TypeVar, cast

from langgraph.store.base import BaseStore, Op, Result, SearchItem, SearchOp

__all__ = ["PAGE_SIZE", "Plan", "run", "arun", "search_all"]

_T = TypeVar("_T")

Plan = Generator[list[Op], list[Result], _T]
"""A store plan: yields op lists, is sent their results in order, returns its value."""

PAGE_SIZE = 500
"""Items fetched per search op; larger results are read page by page."""


def run(store: BaseStore, plan: Plan[_T]) -> _T:
    """Drive ``plan`` with ``store.batch``."""
    try:
        ops = next(plan)
        while True:
            ops = plan.send(store.batch(ops) if ops else [])
    except StopIteration as stop:
        return cast(_T, stop.value)


async def arun(store: BaseStore, plan: Plan[_T]) -> _T:
    """Drive ``plan`` with ``await store.abatch``."""
    try:
        ops = next(plan)
        while True:
            ops = plan.send(await store.abatch(ops) if ops else [])
    except StopIteration as stop:
        return cast(_T, stop.value)


def search_all(
    prefixes: Sequence[tuple[str, ...]],
    *,
    filter: dict[str, Any] | None = None,
    query: str | None = None,
) -> Plan[list[list[SearchItem]]]:
    """Every item under each prefix: the first page of all prefixes in one batch, then the rest."""
    out: list[list[SearchItem]] = [[] for _ in prefixes]
    pending = list(range(len(prefixes)))
    while pending:
        ops: list[Op] = [SearchOp(prefixes[i], filter, PAGE_SIZE, len(out[i]), query) for i in pending]
        results = yield ops
        still: list[int] = []
        for i, page in zip(pending, results, strict=True):
            items = cast(list[SearchItem], page)
            out[i].extend(items)
            if len(items) == PAGE_SIZE:
                still.append(i)
        pending = still
    return out
