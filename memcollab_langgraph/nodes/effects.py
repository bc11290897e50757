"""One implementation per node, driven synchronously or asynchronously.

A node's logic is written once as a *program*: a generator that yields :class:`Effect` objects (a
model call, a store operation, a sandbox run), receives their results, and returns the node's state
update. An effect carries a sync and an async callable over the same arguments; :func:`drive` runs
the sync ones and :func:`adrive` awaits the async ones. :func:`as_node` joins both drivers in one
``RunnableLambda(func, afunc=...)``, so ``invoke`` and ``ainvoke`` cannot drift apart. This is the
same plan/driver split :class:`~memcollab_langgraph.memory.MemoryBank` uses for store ops.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar, cast

from langchain_core.runnables import RunnableLambda
from langgraph.config import get_store
from langgraph.store.base import BaseStore

from memcollab_langgraph.errors import ConfigurationError

__all__ = [
    "Effect",
    "NodeRunnable",
    "Program",
    "adrive",
    "as_node",
    "current_store",
    "drive",
    "effect",
    "perform",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")


@dataclass(frozen=True)
class Effect(Generic[_T]):
    """An I/O step with a sync and an async form that must give the same result."""

    run: Callable[[], _T]
    arun: Callable[[], Awaitable[_T]]


Program = Generator[Effect[Any], Any, _T]
"""A node's logic: yields effects, is sent their results, returns its value."""

NodeRunnable = RunnableLambda[Any, dict[str, Any]]
"""What the ``create_*_node`` factories return: a runnable from graph state to a state update.

The input is typed ``Any`` because LangGraph's ``add_node`` infers the node's input type from the
runnable and requires a state-like type (a TypedDict, dataclass or pydantic model); the nodes read
any mapping holding the keys they document."""


def effect(
    fn: Callable[_P, _T], afn: Callable[_P, Awaitable[_T]], /, *args: _P.args, **kwargs: _P.kwargs
) -> Effect[_T]:
    """An effect calling ``fn(*args, **kwargs)`` or awaiting ``afn(*args, **kwargs)``."""
    return Effect(functools.partial(fn, *args, **kwargs), functools.partial(afn, *args, **kwargs))


def perform(step: Effect[_T]) -> Generator[Effect[Any], Any, _T]:
    """Yield one effect and return its (typed) result: ``x = yield from perform(e)``."""
    result: _T = yield step
    return result


def drive(program: Program[_T]) -> _T:
    """Run ``program``, executing each effect synchronously."""
    try:
        step = next(program)
        while True:
            step = program.send(step.run())
    except StopIteration as stop:
        return cast(_T, stop.value)


async def adrive(program: Program[_T]) -> _T:
    """Run ``program``, awaiting each effect."""
    try:
        step = next(program)
        while True:
            step = program.send(await step.arun())
    except StopIteration as stop:
        return cast(_T, stop.value)


def as_node(name: str, program: Callable[[Mapping[str, Any]], Program[dict[str, Any]]]) -> NodeRunnable:
    """A ``RunnableLambda`` running ``program(state)`` with :func:`drive` or :func:`adrive`."""

    def func(state: Mapping[str, Any]) -> dict[str, Any]:
        return drive(program(state))

    async def afunc(state: Mapping[str, Any]) -> dict[str, Any]:
        return await adrive(program(state))

    return RunnableLambda(func, afunc=afunc, name=name)


def current_store(node: str) -> BaseStore:
    """The store of the running graph (``compile(store=...)``), resolved at run time.

    Raises:
        ConfigurationError: The node runs outside a graph, or the graph was compiled without a store.
    """
    try:
        store = get_store()
    except (RuntimeError, KeyError):  # outside any runnable, or in a runnable outside a graph
        store = None
    if store is None:
        raise ConfigurationError(
            f"node {node!r} needs the graph's store but none is available; add it to a StateGraph "
            "compiled with store=... (e.g. graph.compile(store=InMemoryStore()))"
        )
    return store
