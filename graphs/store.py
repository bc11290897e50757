"""The store ``langgraph dev`` gives every graph: the ``[memory] store`` of ``$MEMCOLLAB_CONFIG``.

``langgraph.json`` declares it as ``"store": {"path": "./graphs/store.py:generate_store"}``; the
LangGraph API server (``langgraph-api``, which ``langgraph dev`` runs) then uses this store instead of
its own, for the graphs' ``store`` and for the ``/store`` endpoints. So the memory that Studio shows
and writes is the one the ``memcollab`` command and the notebooks use (by default the embedded Chroma
directory ``.memcollab/chroma``, or a Chroma server when the configuration gives a URL).

The server opens one store per worker thread. Use a directory or a Chroma server in the
configuration: ``":memory:"`` would give each thread its own empty store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.store.base import BaseStore

from graphs.team import config_path
from memcollab_langgraph.config import load_config
from memcollab_langgraph.runtime import open_store

__all__ = ["generate_store"]


def _open() -> BaseStore:
    return open_store(load_config(config_path()))


def _close(store: BaseStore) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        close()


@asynccontextmanager
async def generate_store() -> AsyncIterator[BaseStore]:
    """Open the configured store for the server's lifetime and close it at shutdown.

    File and database I/O run in a worker thread: the server's event loop must not block.
    """
    store = await asyncio.to_thread(_open)
    try:
        yield store
    finally:
        await asyncio.to_thread(_close, store)
