"""A persistent LLM response cache on SQLite, so re-running an evaluation does not pay twice.

:class:`SqliteLLMCache` is a langchain-core ``BaseCache``: set it for every model with
``langchain_core.globals.set_llm_cache(SqliteLLMCache(path))`` or for one model with
``ChatOpenAI(..., cache=SqliteLLMCache(path))``. LangChain keys each request by the serialized
messages (``prompt``) and the model's settings (``llm_string``: model name, temperature, bound
arguments such as tools or ``seed``), so a different model or temperature never gets another's reply.

Replies are stored as JSON (``message_to_dict``), not pickles, and read back with
``messages_from_dict``, so opening a cache file never runs code. The database is opened lazily on
first use, in WAL mode, and shared by the threads of a process under a lock; other processes may
use the same file (SQLite's own locking, with a busy timeout).

Caveats for evaluations:

* A cache hit returns the stored reply, including its ``usage_metadata`` (LangChain sets
  ``total_cost`` to 0): token counts stay those of the original call, latency is near zero.
* Identical requests get identical replies, also at a sampling temperature. Several samples of one
  prompt (self-contrast) must differ in their ``llm_string``, e.g. ``model.bind(seed=i)`` per sample,
  or be made without the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from memcollab_langgraph.errors import StoreError
from memcollab_langgraph.openai_compat import portable_llm_string

__all__ = ["CacheStats", "SqliteLLMCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    llm_string TEXT NOT NULL,
    prompt TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""
_FORMAT = 1  # of the stored values
_KEYS = 2  # key scheme, in PRAGMA user_version: see _rekey


@dataclass
class CacheStats:
    """Lookups served by this cache object since it was created (not persisted)."""

    hits: int = 0
    misses: int = 0
    writes: int = 0

    @property
    def lookups(self) -> int:
        return self.hits + self.misses


def _key(prompt: str, llm_string: str) -> str:
    # A separator that cannot occur in either JSON-ish string keeps ("ab", "c") apart from ("a", "bc").
    return hashlib.sha256(f"{llm_string}\x00{prompt}".encode()).hexdigest()


def _rekey(conn: sqlite3.Connection) -> None:
    """Bring the keys of a cache file written by an older version up to date, once per file.

    Key scheme 2: entries of local models that were keyed by the server's URL (see
    :func:`~memcollab_langgraph.openai_compat.portable_llm_string`) get their portable key, so the
    replies they hold are served again. An entry whose portable key is already taken is dropped.
    """
    conn.execute("BEGIN IMMEDIATE")  # another process opening the file waits, then finds it done
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] < _KEYS:
            rows = conn.execute(
                "SELECT key, llm_string, prompt FROM llm_cache WHERE llm_string LIKE '%\"endpoint_id\": %'"
            ).fetchall()
            for key, llm_string, prompt in rows:
                portable = portable_llm_string(llm_string)
                if portable is None:
                    continue
                conn.execute(
                    "INSERT OR IGNORE INTO llm_cache (key, llm_string, prompt, value, created_at) "
                    "SELECT ?, ?, prompt, value, created_at FROM llm_cache WHERE key = ?",
                    (_key(prompt, portable), portable, key),
                )
                conn.execute("DELETE FROM llm_cache WHERE key = ?", (key,))
            conn.execute(f"PRAGMA user_version = {_KEYS}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _encode(generations: Sequence[Generation]) -> str:
    out: list[dict[str, Any]] = []
    for g in generations:
        entry: dict[str, Any] = {"generation_info": g.generation_info}
        if isinstance(g, ChatGeneration):
            entry["message"] = message_to_dict(g.message)
        else:
            entry["text"] = g.text
        out.append(entry)
    return json.dumps({"format": _FORMAT, "generations": out}, ensure_ascii=False)


def _decode(value: str) -> list[Generation]:
    data = json.loads(value)
    out: list[Generation] = []
    for entry in data["generations"]:
        if "message" in entry:
            [message] = messages_from_dict([entry["message"]])
            out.append(ChatGeneration(message=message, generation_info=entry.get("generation_info")))
        else:
            out.append(Generation(text=entry["text"], generation_info=entry.get("generation_info")))
    return out


class SqliteLLMCache(BaseCache):
    """LangChain LLM cache in a SQLite file, keyed by ``(prompt, llm_string)``.

    Args:
        path: The database file; its directory is created on first use. ``":memory:"`` keeps the
            cache in memory (one per object).
        timeout_s: How long to wait for another process's write lock.

    Raises:
        StoreError: At first use, when the file cannot be opened as a SQLite database.

    Example:
        >>> import tempfile
        >>> from langchain_core.globals import set_llm_cache
        >>> from memcollab_langgraph.testing import FunctionChatModel
        >>> cache = SqliteLLMCache(tempfile.mkdtemp() + "/llm.sqlite")
        >>> model = FunctionChatModel(lambda messages: "4", cache=cache)
        >>> model.invoke("2 + 2?").content, model.invoke("2 + 2?").content, len(model.calls)
        ('4', '4', 1)
        >>> cache.stats
        CacheStats(hits=1, misses=1, writes=1)
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self.timeout_s = timeout_s
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        """Open the database on first use; must be called with ``self._lock`` held."""
        if self._conn is None:
            try:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                # One connection for all threads, serialized by self._lock.
                conn = sqlite3.connect(self.path, timeout=self.timeout_s, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
                conn.commit()
                _rekey(conn)
            except (sqlite3.Error, OSError) as e:
                raise StoreError(f"cannot open the LLM cache database {self.path!r}: {e}") from e
            self._conn = conn
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute(sql, params).fetchall()
                conn.commit()
            except sqlite3.Error as e:
                raise StoreError(f"LLM cache {self.path!r}: {e}") from e
            return rows

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations for this request, ``None`` on a miss."""
        rows = self._execute("SELECT value FROM llm_cache WHERE key = ?", (_key(prompt, llm_string),))
        with self._lock:
            if rows:
                self.stats.hits += 1
            else:
                self.stats.misses += 1
        if not rows:
            return None
        try:
            return _decode(rows[0][0])
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(
                f"LLM cache {self.path!r}: unreadable entry for this request ({e}); "
                "clear the cache (SqliteLLMCache(path).clear()) or delete the file"
            ) from e

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations of a request (replacing an earlier entry of the same key).

        A reply whose ``generation_info`` cannot be written as JSON is not cached (with a warning):
        the cache is an optimization and must not fail the call it caches.
        """
        try:
            value = _encode(return_val)
        except TypeError as e:
            warnings.warn(f"LLM cache: reply not cached, it is not JSON-serializable: {e}", stacklevel=2)
            return
        self._execute(
            "INSERT OR REPLACE INTO llm_cache (key, llm_string, prompt, value) VALUES (?, ?, ?, ?)",
            (_key(prompt, llm_string), llm_string, prompt, value),
        )
        with self._lock:
            self.stats.writes += 1

    def clear(self, **kwargs: Any) -> None:
        """Delete every entry, or with ``llm_string=...`` only the entries of that model setting."""
        llm_string = kwargs.pop("llm_string", None)
        if kwargs:
            raise TypeError(f"clear() got unexpected keyword arguments {sorted(kwargs)}; only llm_string")
        if llm_string is None:
            self._execute("DELETE FROM llm_cache")
        else:
            self._execute("DELETE FROM llm_cache WHERE llm_string = ?", (str(llm_string),))

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Async :meth:`lookup` (in a worker thread: SQLite may wait for another writer)."""
        return await asyncio.to_thread(self.lookup, prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Async :meth:`update`."""
        await asyncio.to_thread(self.update, prompt, llm_string, return_val)

    async def aclear(self, **kwargs: Any) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear, **kwargs)

    def __len__(self) -> int:
        """Entries stored in the file (all writers)."""
        return int(self._execute("SELECT COUNT(*) FROM llm_cache")[0][0])

    def close(self) -> None:
        """Close the database connection; the next use opens it again."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
