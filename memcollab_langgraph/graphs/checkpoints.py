"""SQLite checkpointers for the library's graphs, with a serializer that knows the library's state types.

LangGraph's default checkpoint serializer restores any class named in a checkpoint and logs
"Deserializing unregistered type ..." for each one it does not know (a future LangGraph blocks them).
These checkpointers use :func:`~memcollab_langgraph.nodes.checkpoint_serde`, which names the
classes of :class:`~memcollab_langgraph.nodes.SolveState` and
:class:`~memcollab_langgraph.nodes.BuildState`: resuming a build is silent, and a checkpoint that
names any other class does not turn it into an object.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from memcollab_langgraph.nodes.state import checkpoint_serde

__all__ = ["asqlite_checkpointer", "sqlite_checkpointer"]


@contextlib.contextmanager
def sqlite_checkpointer(path: str | Path) -> Iterator[SqliteSaver]:
    """A :class:`SqliteSaver` on the file ``path`` (created if missing), closed on exit.

    Like ``SqliteSaver.from_conn_string(path)`` (one connection shared by threads), with
    :func:`~memcollab_langgraph.nodes.checkpoint_serde` as its serializer. A graph whose state also holds
    classes of your own needs them allowed too: ``saver.with_allowlist([(module, name), ...])``.

    Example:
        >>> import pathlib, tempfile
        >>> from memcollab_langgraph.schema import CategoryPath
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoints.sqlite"
        >>> with sqlite_checkpointer(path) as saver:
        ...     saver.serde.loads_typed(saver.serde.dumps_typed(CategoryPath.parse("code/strings")))
        CategoryPath(domain='code', category='strings', subcategory=None)
    """
    with contextlib.closing(sqlite3.connect(str(path), check_same_thread=False)) as conn:
        yield SqliteSaver(conn, serde=checkpoint_serde())


@contextlib.asynccontextmanager
async def asqlite_checkpointer(path: str | Path) -> AsyncIterator[AsyncSqliteSaver]:
    """Async :func:`sqlite_checkpointer`: an :class:`AsyncSqliteSaver` on the file ``path``."""
    async with aiosqlite.connect(str(path)) as conn:
        yield AsyncSqliteSaver(conn, serde=checkpoint_serde())
