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
import functools
import itertools
import json
import math
import multiprocessing
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path

from langgraph.store.base import BaseStore, PutOp
from store_bench_cases import (
    BASELINE,
    LIMIT,
    READ_OPS,
    STORE_LABELS,
    STORES,
    VECTOR_OPS,
    WARMUP,
    BenchSettings,
    CaseResult,
    OpResult,
    Query,
    StoreName,
    dotted,
    items,
    open_store,
    queries,
)
from store_bench_report import machine, ms, render, write_doc

# --- measurement ---------------------------------------------------------------------------------


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
