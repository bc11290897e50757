"""The store benchmark's cases: the stores compared, seeded items and queries, and result records.

See :mod:`store_bench` for what is measured; :mod:`store_bench_report` renders the results.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Literal

from langgraph.store.base import BaseStore, IndexConfig
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite import SqliteStore

from memcollab_langgraph import ChromaStore
from memcollab_langgraph.testing import FakeEmbeddings

StoreName = Literal["memory", "sqlite", "chroma-ephemeral", "chroma-path"]
STORES: Final[tuple[StoreName, ...]] = ("memory", "sqlite", "chroma-ephemeral", "chroma-path")
STORE_LABELS: Final[Mapping[str, str]] = {
    "memory": "InMemoryStore",
    "sqlite": "SqliteStore (file)",
    "chroma-ephemeral": "ChromaStore (ephemeral)",
    "chroma-path": "ChromaStore (path)",
}
BASELINE: Final = "memory"

READ_OPS: Final = ("get", "search_eq", "search_range", "vector", "vector_ns", "vector_filter")
VECTOR_OPS: Final = ("vector", "vector_ns", "vector_filter")
OP_TITLES: Final[Mapping[str, str]] = {
    "put_batch": "Batched put (load), one `batch()` of `--batch-size` PutOps",
    "put_single": "Single put of a new item into the loaded store",
    "get": "Get of one existing item",
    "search_eq": "Filtered search: top-level string equality, namespace prefix, limit 10",
    "search_range": "Filtered search: string equality + nested numeric range, namespace prefix, limit 10",
    "vector": "Vector search over all items, limit 10",
    "vector_ns": "Vector search within a namespace prefix (1/10 of the items), limit 10",
    "vector_filter": "Vector search within a namespace prefix + string filter, limit 10",
}

DIMS: Final = 64
LIMIT: Final = 10
USERS: Final = 10
TOPICS: Final = 4
KINDS: Final = ("insight", "pitfall", "strategy", "example", "constraint")
SOURCES: Final = ("gpt", "claude", "llama", "qwen", "mistral", "gemma")
WARMUP: Final = 3

Filter = dict[str, Any]


# --- data ----------------------------------------------------------------------------------------


def vocabulary(seed: int, size: int = 600) -> list[str]:
    """Pseudo-words built from syllables: shared across items so texts overlap lexically."""
    rng = random.Random(f"{seed}:vocabulary")
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def sentence(rng: random.Random, words: Sequence[str]) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(8, 16)))


def namespace_of(i: int) -> tuple[str, ...]:
    return ("bench", f"u{i % USERS}", f"t{(i // USERS) % TOPICS}")


def key_of(i: int) -> str:
    return f"k{i:07d}"


def items(size: int, seed: int, start: int = 0) -> Iterator[tuple[tuple[str, ...], str, dict[str, Any]]]:
    """Items ``start .. start + size - 1``, generated lazily; item ``i`` depends only on ``seed`` and the
    items before it, so a smaller run loads a prefix of a larger run's data."""
    words = vocabulary(seed)
    rng = random.Random(f"{seed}:items:{start}")
    for i in range(start, start + size):
        value = {
            "text": sentence(rng, words),
            "kind": rng.choice(KINDS),
            "meta": {"score": round(rng.uniform(0, 100), 3), "source": rng.choice(SOURCES)},
            "n": i,
        }
        yield namespace_of(i), key_of(i), value


def dotted(filter: Filter) -> Filter:
    """``{"meta": {"score": {...}}}`` as ``{"meta.score": {...}}``, the form SqliteStore accepts."""
    out: Filter = {}
    for key, value in filter.items():
        if isinstance(value, dict) and not any(k.startswith("$") for k in value):
            out.update({f"{key}.{k}": v for k, v in dotted(value).items()})
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Query:
    """One read call, the same for every store."""

    namespace: tuple[str, ...] = ()
    key: str = ""
    query: str | None = None
    filter: Filter | None = None


def queries(op: str, size: int, reps: int, seed: int) -> list[Query]:
    rng = random.Random(f"{seed}:{op}")
    words = vocabulary(seed)

    def prefix() -> tuple[str, ...]:
        return ("bench", f"u{rng.randrange(USERS)}")

    out: list[Query] = []
    for _ in range(reps + WARMUP):
        if op == "get":
            i = rng.randrange(size)
            out.append(Query(namespace=namespace_of(i), key=key_of(i)))
        elif op == "search_eq":
            out.append(Query(namespace=prefix(), filter={"kind": rng.choice(KINDS)}))
        elif op == "search_range":
            low = rng.randrange(0, 80)
            flt = {"kind": rng.choice(KINDS), "meta": {"score": {"$gte": low, "$lt": low + 20}}}
            out.append(Query(namespace=prefix(), filter=flt))
        elif op == "vector":
            out.append(Query(query=sentence(rng, words)))
        elif op == "vector_ns":
            out.append(Query(namespace=prefix(), query=sentence(rng, words)))
        elif op == "vector_filter":
            ns = prefix()
            out.append(Query(namespace=ns, query=sentence(rng, words), filter={"kind": rng.choice(KINDS)}))
        else:
            raise ValueError(f"unknown read op {op!r}; expected one of {READ_OPS}")
    return out


# --- stores --------------------------------------------------------------------------------------


def sqlite_module() -> ModuleType:
    """The DB-API module to give SqliteStore: its vector search loads the sqlite-vec extension.

    Python builds without loadable-extension support (e.g. pyenv's default) lack
    ``Connection.enable_load_extension``; ``pysqlite3`` (``pip install pysqlite3-binary``) bundles an
    SQLite that has it.
    """
    if hasattr(sqlite3.connect(":memory:"), "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        raise RuntimeError(
            "this Python's sqlite3 cannot load extensions, which SqliteStore needs for vector search "
            "(sqlite-vec); install pysqlite3-binary (see benchmarks/requirements.txt) or use another "
            "Python build, or leave 'sqlite' out of --stores"
        ) from e
    module: ModuleType = dbapi2
    return module


def index_config() -> IndexConfig:
    return {"dims": DIMS, "embed": FakeEmbeddings(size=DIMS), "fields": ["text"]}


@contextlib.contextmanager
def open_store(name: StoreName, directory: Path) -> Iterator[BaseStore]:
    if name == "memory":
        yield InMemoryStore(index=index_config())
    elif name == "sqlite":
        # As SqliteStore.from_conn_string, but on a file (autocommit; each batch is one transaction).
        db = sqlite_module()
        conn = db.connect(str(directory / "store.db"), check_same_thread=False, isolation_level=None)
        try:
            # SqliteStore reads the embedded fields from "text_fields", not IndexConfig's "fields";
            # without it, it embeds the whole JSON value and searches a different text than the others.
            index = {**index_config(), "text_fields": ["text"]}
            store = SqliteStore(conn, index=index)  # type: ignore[arg-type]
            store.setup()
            yield store
        finally:
            conn.close()
    elif name in ("chroma-ephemeral", "chroma-path"):
        path = directory / "chroma" if name == "chroma-path" else None
        with ChromaStore(path=path, index=index_config()) as chroma:
            yield chroma
    else:
        raise ValueError(f"unknown store {name!r}; expected one of {STORES}")


# --- results -------------------------------------------------------------------------------------


@dataclass
class OpResult:
    """Timings of one operation for one (store, size) case."""

    op: str
    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    throughput: float
    unit: str
    cpu_ms: float = 0.0
    """CPU time of the whole process (all threads, Chroma's included) per call: less sensitive than
    wall time to other processes competing for the cores."""
    counts: list[int] = field(default_factory=list)
    """Number of results of each measured call (cross-checked between stores)."""
    keys: list[list[str]] = field(default_factory=list)
    """Result keys of each measured vector search (for recall against InMemoryStore)."""


@dataclass
class CaseResult:
    store: str
    size: int
    ops: dict[str, OpResult] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    """1-minute load average of the machine at the start of the case and its maximum after each op."""
    error: str | None = None


@dataclass(frozen=True)
class BenchSettings:
    sizes: tuple[int, ...]
    stores: tuple[StoreName, ...]
    reps: int
    min_reps: int
    budget: float
    single_puts: int
    batch_size: int
    seed: int
    tmp: str
