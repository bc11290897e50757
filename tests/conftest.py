"""Shared fixtures: every store-facing test runs against InMemoryStore (the oracle) and ChromaStore."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

StoreFactory = Callable[..., BaseStore]


def _chroma(**kwargs: Any) -> BaseStore:
    from memcollab_langgraph.store import ChromaStore

    return ChromaStore(**kwargs)


STORE_FACTORIES: dict[str, StoreFactory] = {"memory": InMemoryStore, "chroma": _chroma}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_factory(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A factory ``(index=None, ...) -> BaseStore`` for each store kind; every call gives a fresh store."""
    made: list[BaseStore] = []

    def make(**kwargs: Any) -> BaseStore:
        store = STORE_FACTORIES[request.param](**kwargs)
        made.append(store)
        return store

    yield make
    for store in made:
        close = getattr(store, "close", None)
        if callable(close):
            close()


@pytest.fixture
def store(store_factory: StoreFactory) -> BaseStore:
    """A fresh empty store without a vector index, of each kind."""
    return store_factory()
