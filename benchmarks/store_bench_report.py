"""The store benchmark's report: the machine, the tables of timings and ratios, the markdown document."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Final

from store_bench_cases import (
    BASELINE,
    DIMS,
    OP_TITLES,
    READ_OPS,
    STORE_LABELS,
    VECTOR_OPS,
    WARMUP,
    BenchSettings,
    CaseResult,
    sqlite_module,
)

MARK_START: Final = "<!-- store-bench:results:start -->"
MARK_END: Final = "<!-- store-bench:results:end -->"


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
        measured = ("memcollab_langgraph/store", "memcollab_langgraph/_fake_embeddings.py")
        dirty = git("status", "--porcelain", "--", *measured)
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
