"""Benchmark ChromaStore against LangGraph's InMemoryStore and SqliteStore.

What is measured, for every store and every size N (number of items), in one run:

* ``put_batch``: loading the N items with ``store.batch([PutOp, ...])`` in batches of ``--batch-size``;
  throughput in items/s over the whole load, and the latency of one batch (p50/p95).
* ``get``: ``store.get(namespace, key)`` of a random existing item.
* ``search_eq``: ``store.search(prefix, filter={"kind": ...}, limit=10)``, a top-level string field
  within a namespace prefix holding a tenth of the items.
* ``search_range``: the same plus a nested numeric range, ``{"meta": {"score": {"$gte": a, "$lt": a+20}}}``.
* ``vector``: ``store.search((), query=..., limit=10)`` over all items.
* ``vector_ns``: the same within a namespace prefix holding a tenth of the items.
* ``vector_filter``: the same plus ``filter={"kind": ...}``.
* ``put_single``: ``store.put(namespace, key, value)`` of new items, after all reads.

Latencies are wall-clock (``time.perf_counter``) per call, after three unrecorded warm-up calls; each
read op runs ``--reps`` times or until ``--budget`` seconds are spent (at least ``--min-reps``), and the
number actually run is reported. Every number is also given as a time ratio against InMemoryStore at
the same size in the same run: ``store time / InMemoryStore time`` (for throughputs, the inverse ratio
of items/s), so 1.0 is parity and higher is slower.

Every store has the same index, ``{"dims": 64, "embed": FakeEmbeddings(size=64), "fields": ["text"]}``:
deterministic, similarity-preserving hashed embeddings that cost the same for every store, so the
embedding model is not what is compared. SqliteStore also gets ``"text_fields": ["text"]`` (the key it
reads instead of ``fields``) and dotted filter keys (``"meta.score"``), because it rejects nested filter
dicts; InMemoryStore accepts only the nested form, and ChromaStore is given the nested form too. Data
and queries are seeded (``--seed``): every store sees the same items and the same queries, result
counts are cross-checked, and vector results are compared with InMemoryStore's exact ones (recall@10).

Each (store, size) case runs in a fresh spawned process, so that memory is returned between cases
and no store warms another's caches; on-disk stores live in a temporary directory removed afterwards.

Usage::

    python benchmarks/store_bench.py --sizes 1000 10000 100000 --out docs/benchmarks.md
    python benchmarks/store_bench.py --sizes 1000            # quick smoke check, prints tables only
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Literal

from langgraph.store.base import BaseStore, IndexConfig, PutOp
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
MARK_START: Final = "<!-- store-bench:results:start -->"
MARK_END: Final = "<!-- store-bench:results:end -->"

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


# --- measurement ---------------------------------------------------------------------------------


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


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100)."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(op: str, samples_ms: Sequence[float], per_call: int, unit: str, cpu_s: float) -> OpResult:
    mean = statistics.fmean(samples_ms)
    return OpResult(
        op=op,
        n=len(samples_ms),
        p50_ms=percentile(samples_ms, 50),
        p95_ms=percentile(samples_ms, 95),
        mean_ms=mean,
        throughput=per_call * 1000 / mean,
        unit=unit,
        cpu_ms=cpu_s * 1000 / len(samples_ms),
    )


def log(case: str, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {case:<26} {message}", flush=True)


def measure_reads(
    store: BaseStore, name: StoreName, op: str, calls: list[Query], s: BenchSettings, case: str
) -> OpResult:
    def call(q: Query) -> list[str]:
        if op == "get":
            item = store.get(q.namespace, q.key)
            return [] if item is None else [item.key]
        flt = dotted(q.filter) if (q.filter and name == "sqlite") else q.filter
        found = store.search(q.namespace, query=q.query, filter=flt, limit=LIMIT)
        return ["/".join((*r.namespace, r.key)) for r in found]

    for q in calls[:WARMUP]:
        call(q)
    samples: list[float] = []
    counts: list[int] = []
    keys: list[list[str]] = []
    started, cpu = time.perf_counter(), time.process_time()
    for q in calls[WARMUP:]:
        if len(samples) >= s.min_reps and time.perf_counter() - started > s.budget:
            log(case, f"{op}: budget of {s.budget:.0f}s spent after {len(samples)} of {s.reps} reps")
            break
        t0 = time.perf_counter()
        found = call(q)
        samples.append((time.perf_counter() - t0) * 1000)
        counts.append(len(found))
        if op in VECTOR_OPS:
            keys.append(found)
    result = summarize(op, samples, 1, "ops/s", time.process_time() - cpu)
    result.counts, result.keys = counts, keys
    return result


def measure_load(store: BaseStore, size: int, s: BenchSettings, case: str) -> OpResult:
    """Put items ``0 .. size - 1`` in batches; throughput and CPU time are per item."""
    batch_ms: list[float] = []
    step = max(size // 10, s.batch_size)
    began, cpu = time.perf_counter(), time.process_time()
    loaded = 0
    pending: list[PutOp] = []
    for ns, key, value in items(size, s.seed):
        pending.append(PutOp(ns, key, value))
        if len(pending) < s.batch_size and loaded + len(pending) < size:
            continue
        t0 = time.perf_counter()
        store.batch(pending)
        batch_ms.append((time.perf_counter() - t0) * 1000)
        loaded += len(pending)
        pending = []
        if loaded % step < s.batch_size or loaded == size:
            log(case, f"load {loaded}/{size} items ({loaded / (time.perf_counter() - began):,.0f} items/s)")
    result = summarize("put_batch", batch_ms, s.batch_size, "items/s", 0.0)
    result.throughput = size / (time.perf_counter() - began)
    result.cpu_ms = (time.process_time() - cpu) * 1000 / size
    return result


def measure_single_puts(store: BaseStore, size: int, s: BenchSettings, case: str) -> OpResult:
    """Put new items (``size`` onwards) one ``store.put`` at a time, after a few unrecorded ones."""
    new = items(s.single_puts + WARMUP, s.seed, start=size)
    for ns, key, value in itertools.islice(new, WARMUP):
        store.put(ns, key, value)
    samples: list[float] = []
    began, cpu = time.perf_counter(), time.process_time()
    for ns, key, value in new:
        if len(samples) >= s.min_reps and time.perf_counter() - began > s.budget:
            log(case, f"put_single: budget of {s.budget:.0f}s spent after {len(samples)} puts")
            break
        t0 = time.perf_counter()
        store.put(ns, key, value)
        samples.append((time.perf_counter() - t0) * 1000)
    return summarize("put_single", samples, 1, "ops/s", time.process_time() - cpu)


def run_case(name: StoreName, size: int, s: BenchSettings) -> CaseResult:
    """Load ``size`` items into a fresh store and time every operation (runs in a child process)."""
    case = f"{STORE_LABELS[name]} n={size}"
    result = CaseResult(store=name, size=size)
    load_start = load_max = os.getloadavg()[0]
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(dir=s.tmp, prefix=f"{name}-{size}-") as tmp,
        open_store(name, Path(tmp)) as store,
    ):
        timings: list[Callable[[], OpResult]] = [lambda: measure_load(store, size, s, case)]
        timings += [
            functools.partial(measure_reads, store, name, op, queries(op, size, s.reps, s.seed), s, case)
            for op in READ_OPS
        ]
        timings.append(lambda: measure_single_puts(store, size, s, case))
        for timing in timings:
            r = timing()
            result.ops[r.op] = r
            load_max = max(load_max, os.getloadavg()[0])
            log(case, f"{r.op}: n={r.n} p50={ms(r.p50_ms)}ms p95={ms(r.p95_ms)}ms cpu={ms(r.cpu_ms)}ms")
    result.seconds = time.perf_counter() - started
    result.load = (load_start, load_max)
    # ru_maxrss is in KiB on Linux; the process ran this case only.
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(
        case,
        f"done in {result.seconds:.0f}s, peak RSS {result.peak_rss_mb:,.0f} MB, "
        f"load average {result.load[0]:.1f} at start, {result.load[1]:.1f} at most",
    )
    return result


def _worker(sender: Connection, name: StoreName, size: int, s: BenchSettings) -> None:
    try:
        result = run_case(name, size, s)
    except Exception as e:  # a failed case is reported in the tables; the run goes on
        traceback.print_exc()
        result = CaseResult(store=name, size=size, error=f"{type(e).__name__}: {e}")
    sender.send(result)
    sender.close()


def run_isolated(name: StoreName, size: int, s: BenchSettings) -> CaseResult:
    """``run_case`` in a fresh spawned process (memory returned, no state shared between cases)."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_worker, args=(sender, name, size, s), name=f"bench-{name}-{size}")
    worker.start()
    sender.close()
    try:
        result: CaseResult = receiver.recv()
    except EOFError:
        worker.join()
        result = CaseResult(store=name, size=size, error=f"worker died with exit code {worker.exitcode}")
    finally:
        # Also on SIGTERM or Ctrl-C in the parent: do not leave a worker running.
        if worker.is_alive():
            worker.terminate()
        worker.join()
    return result


# --- report --------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    versions = {}
    for dist in (
        "chromadb",
        "langgraph",
        "langgraph-checkpoint",
        "langgraph-checkpoint-sqlite",
        "sqlite-vec",
        "numpy",
        "memcollab-langgraph",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "library commit": _commit(),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite (SqliteStore)": _sqlite_version(),
        **versions,
    }


def _commit() -> str:
    """The checked-out commit, ``+dirty`` if the store code or the fake embeddings have local changes."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        dirty = git("status", "--porcelain", "--", "memcollab_langgraph/store", "memcollab_langgraph/testing.py")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty.strip() else head


def _sqlite_version() -> str:
    try:
        db = sqlite_module()
    except RuntimeError:
        return "without extension loading"
    return f"{db.sqlite_version} via {db.__name__}"


def ms(value: float) -> str:
    """Milliseconds with three significant figures or more."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def ratio(value: float, base: float | None) -> str:
    return "-" if not base else f"{value / base:.2f}x"


def recall(keys: list[list[str]], truth: list[list[str]]) -> float | None:
    """Mean overlap of each result list with InMemoryStore's (exact search) for the same query."""
    pairs = [(set(a), set(b)) for a, b in zip(keys, truth, strict=False) if b]
    if not pairs:
        return None
    return statistics.fmean(len(a & b) / len(b) for a, b in pairs)


def check_counts(results: list[CaseResult]) -> list[str]:
    """Calls whose result counts differ from InMemoryStore's, per case and op."""
    problems: list[str] = []
    base = {r.size: r for r in results if r.store == BASELINE and not r.error}
    for r in results:
        b = base.get(r.size)
        if r.error or b is None or r is b:
            continue
        for op in READ_OPS:
            mine, theirs = r.ops[op].counts, b.ops[op].counts
            differ = sum(x != y for x, y in zip(mine, theirs, strict=False))
            if differ:
                problems.append(
                    f"{STORE_LABELS[r.store]} n={r.size} `{op}`: {differ} of "
                    f"{min(len(mine), len(theirs))} calls returned a different number of results"
                )
    return problems


def render(results: list[CaseResult], s: BenchSettings, command: str, info: Mapping[str, str]) -> str:
    ok = [r for r in results if not r.error]
    base = {r.size: r for r in ok if r.store == BASELINE}
    sizes = sorted({r.size for r in results})
    lines = [
        f"Run on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with",
        "",
        "```",
        command,
        "```",
        "",
        "| Machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in info.items()),
        "",
        f"Settings: seed {s.seed}, batch size {s.batch_size}, up to {s.reps} repetitions per read op "
        f"(at least {s.min_reps}, budget {s.budget:.0f}s per op and case), {s.single_puts} single puts, "
        f"{WARMUP} warm-up calls per op, index `dims={DIMS}` with `FakeEmbeddings(size={DIMS})` on field "
        "`text` for every store. Ratios are time ratios against InMemoryStore at the same size "
        "(store latency / InMemoryStore latency; for throughputs InMemoryStore items/s / store items/s): "
        "1.00x is parity, higher is slower.",
        "",
    ]
    largest = max((r.size for r in ok), default=None)
    if largest is not None and largest in base:
        done = {r.store for r in ok if r.size == largest}
        stores = [n for n in s.stores if n != BASELINE and n in done]
        lines += [
            f"### Headline: p50 time ratio against InMemoryStore at {largest:,} items",
            "",
            "| Operation | " + " | ".join(STORE_LABELS[n] for n in stores) + " |",
            "|---|" + "---:|" * len(stores),
        ]
        for op in ("put_batch", "put_single", *READ_OPS):
            cells = []
            for n in stores:
                r = next(r for r in ok if r.store == n and r.size == largest)
                if op == "put_batch":
                    cells.append(ratio(base[largest].ops[op].throughput, r.ops[op].throughput))
                else:
                    cells.append(ratio(r.ops[op].p50_ms, base[largest].ops[op].p50_ms))
            label = "put_batch (items/s)" if op == "put_batch" else op
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        lines.append("")
    for op in ("put_batch", "put_single", *READ_OPS):
        is_load = op == "put_batch"
        head = "| Store | Items | n | p50 ms | p95 ms | " + (
            "items/s | CPU ms/item | p50 x | p95 x | items/s x |" if is_load else "ops/s | CPU ms/op | p50 x | p95 x |"
        )
        if op in VECTOR_OPS:
            head += " recall@10 vs InMemory |"
        lines += [f"### `{op}`: {OP_TITLES[op]}", "", head, "|---|---:|" + "---:|" * (head.count("|") - 3)]
        for size in sizes:
            b = base.get(size)
            for name in s.stores:
                case = next((c for c in results if c.store == name and c.size == size), None)
                if case is None:
                    continue
                if case.error:
                    lines.append(f"| {STORE_LABELS[name]} | {size:,} | failed: {case.error} |")
                    continue
                o = case.ops[op]
                bo = b.ops[op] if b else None
                cells = [
                    STORE_LABELS[name],
                    f"{size:,}",
                    str(o.n),
                    ms(o.p50_ms),
                    ms(o.p95_ms),
                    f"{o.throughput:,.0f}",
                    ms(o.cpu_ms),
                    ratio(o.p50_ms, bo.p50_ms if bo else None),
                    ratio(o.p95_ms, bo.p95_ms if bo else None),
                ]
                if is_load:
                    cells.append(ratio(bo.throughput, o.throughput) if bo else "-")
                if op in VECTOR_OPS:
                    rec = recall(o.keys, bo.keys) if bo else None
                    cells.append("-" if rec is None else f"{rec:.2f}")
                lines.append("| " + " | ".join(cells) + " |")
        note = (
            f"p50/p95 are per batch of {s.batch_size} items; items/s is over the whole load, embeddings included."
            if is_load
            else ""
        )
        lines += ["", note, ""] if note else [""]
    lines += [
        "### Cases",
        "",
        "Load average: the machine's 1-minute load average at the start of the case / its maximum seen "
        f"after each op ({info.get('nproc', '?')} cores; the case itself accounts for about 1).",
        "",
        "| Store | Items | wall s | peak RSS MB | load average |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        status = f"failed: {r.error}" if r.error else f"{r.seconds:.0f}"
        lines.append(
            f"| {STORE_LABELS[r.store]} | {r.size:,} | {status} | {r.peak_rss_mb:,.0f} "
            f"| {r.load[0]:.1f} / {r.load[1]:.1f} |"
        )
    problems = check_counts(results)
    lines += ["", "Result counts agree with InMemoryStore for every call." if not problems else ""]
    if problems:
        lines += ["Result counts that differ from InMemoryStore:", "", *(f"- {p}" for p in problems)]
    return "\n".join(lines).rstrip() + "\n"


DOC_TEMPLATE: Final = """# Store benchmarks

ChromaStore (embedded: ephemeral and on-disk path mode) against LangGraph's InMemoryStore and
SqliteStore, produced by `benchmarks/store_bench.py` (its docstring says what each operation does).
The script rewrites only the part between the result markers, so the text around it survives a rerun.

{start}
{body}{end}

## Interpretation

(to be written after looking at the numbers)
"""


def write_doc(path: Path, body: str) -> None:
    if path.exists():
        text = path.read_text()
        if MARK_START in text and MARK_END in text:
            head, rest = text.split(MARK_START, 1)
            tail = rest.split(MARK_END, 1)[1]
            path.write_text(f"{head}{MARK_START}\n{body}{MARK_END}{tail}")
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOC_TEMPLATE.format(start=MARK_START, body=body, end=MARK_END))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000], help="item counts (default: 1000)")
    p.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES), help="stores to compare")
    p.add_argument("--reps", type=int, default=200, help="repetitions per read op (default: 200)")
    p.add_argument("--min-reps", type=int, default=30, help="repetitions always run (default: 30)")
    p.add_argument("--budget", type=float, default=90.0, help="seconds after which a read op stops repeating (90)")
    p.add_argument("--single-puts", type=int, default=200, help="single puts timed (default: 200)")
    p.add_argument("--batch-size", type=int, default=500, help="PutOps per batch() when loading (500)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, help="markdown file to write the results into")
    p.add_argument("--json", type=Path, help="also write the raw numbers as JSON")
    args = p.parse_args(argv)
    if BASELINE not in args.stores:
        p.error("the stores must include 'memory': every ratio is against InMemoryStore")
    if any(n < 1 for n in args.sizes) or args.reps < 1 or args.min_reps < 1 or args.batch_size < 1:
        p.error("sizes, --reps, --min-reps and --batch-size must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python " + " ".join([os.path.relpath(sys.argv[0]), *(argv or sys.argv[1:])])
    tmp = tempfile.mkdtemp(prefix="store-bench-")
    s = BenchSettings(
        sizes=tuple(sorted(args.sizes)),
        stores=tuple(n for n in STORES if n in args.stores),
        reps=args.reps,
        min_reps=min(args.min_reps, args.reps),
        budget=args.budget,
        single_puts=args.single_puts,
        batch_size=args.batch_size,
        seed=args.seed,
        tmp=tmp,
    )
    # SIGTERM (e.g. `kill` of a nohup run) unwinds like Ctrl-C, so the temporary directory is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    results: list[CaseResult] = []
    try:
        for size in s.sizes:
            for name in s.stores:
                results.append(run_isolated(name, size, s))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    body = render(results, s, command, machine())
    print(body)
    if args.out:
        write_doc(args.out, body)
        print(f"wrote {args.out}")
    if args.json:
        raw = [asdict(r) for r in results]
        for r in raw:
            for o in r["ops"].values():
                del o["keys"], o["counts"]
        args.json.write_text(json.dumps(raw, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
