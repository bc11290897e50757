"""The local server's prompt cache: time, evaluated prompt tokens and memory of a MemCollab request mix.

For each setting a fresh :class:`~memcollab_langgraph.local.LocalServer` serves one model, with
``prompt_cache_mib=0`` (the baseline: llama.cpp reuses only the prefix of the previous request) and with
the cache on. Both run the same sequence, the one a build and an evaluation make per task: classify the
task (the taxonomy prompt), solve it, distil from the solution (the distiller's rules). The replies are
compared (greedy decoding: they should be identical), the prompt tokens llama.cpp actually evaluated and
the cache's size are read from the server's log, and the server's peak resident memory (``VmHWM``) from
``/proc``. ``--logits-all`` adds a cache-off run with ``logits_all=true``, llama_cpp.server's own default,
which the server used before ``server_config`` turned it off. The load average is reported because the
machine may be shared: compare ratios within one run.

Usage::

    nice -n 10 python benchmarks/prompt_cache_bench.py --tasks 3 --max-tokens 96 --cache-mib 256 --logits-all
    python benchmarks/prompt_cache_bench.py --model smollm2-135m --tasks 6 --write /tmp/section.md

``--write`` replaces the whole section of the file; the one in ``docs/benchmarks.md`` has notes written
by hand around the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcollab_langgraph.local import LocalServer, chat_model
from memcollab_langgraph.local.config import ModelSpec
from memcollab_langgraph.nodes.abstraction import DistillerOutput
from memcollab_langgraph.nodes.classify import CategoryChoice
from memcollab_langgraph.nodes.prompts import classifier_messages, single_distiller_messages, solver_messages
from memcollab_langgraph.schema import AgentRef, Task, Trajectory
from memcollab_langgraph.tasks import load_tasks
from memcollab_langgraph.taxonomy import get_taxonomy

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k_dev.jsonl"
SECTION = "## Local server prompt cache"


@dataclass(frozen=True)
class Run:
    cache_mib: int
    logits_all: bool
    seconds: float
    prompt_tokens: int
    requests: int
    cache_hits: int
    cache_peak_bytes: int
    peak_rss_mib: float
    load: tuple[float, float]
    replies: tuple[str, ...]

    @property
    def label(self) -> str:
        cache = "off" if self.cache_mib == 0 else f"{self.cache_mib} MiB"
        return cache + (", logits_all" if self.logits_all else "")


def _tasks(n: int) -> list[Task]:
    if DATA.exists():
        return list(load_tasks(DATA, format="gsm8k", limit=n))
    from memcollab_langgraph.tasks import demo_tasks

    return [t for t in demo_tasks("all") if t.domain == "math"][:n]


def _calls(output: dict[str, Any]) -> str:
    """The tool calls of a structured reply without their ids (random per call)."""
    return repr([(c["name"], c["args"]) for c in output["raw"].tool_calls])


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def run(model: str, tasks: list[Task], cache_mib: int, max_tokens: int, *, logits_all: bool = False) -> Run:
    taxonomy = get_taxonomy("default")
    replies: list[str] = []
    spec = ModelSpec(alias="m", model=model, settings={"logits_all": logits_all})
    load_before = os.getloadavg()[0]
    with LocalServer([spec], n_ctx=4096, n_threads=2, prompt_cache_mib=cache_mib) as server:
        llm = chat_model(server, "m", max_tokens=max_tokens)
        classify = llm.with_structured_output(CategoryChoice, include_raw=True)
        distiller = llm.with_structured_output(DistillerOutput, include_raw=True)
        start = time.perf_counter()
        for task in tasks:
            # The classifier and the distiller ask for structured output as the nodes do (a forced tool call).
            replies.append(_calls(classify.invoke(classifier_messages(task, taxonomy))))
            messages = solver_messages(task, [], python_tool=True)
            answer = str(llm.invoke(messages).content)
            replies.append(answer)
            trajectory = Trajectory(
                task_id=task.id,
                agent=AgentRef(name="m", model=model),
                answer=None,
                messages=[{"role": "user", "content": task.question}, {"role": "assistant", "content": answer}],
            )
            distill = single_distiller_messages(task, trajectory, taxonomy=taxonomy, k=3, category=None, max_chars=2000)
            replies.append(_calls(distiller.invoke(distill)))
        seconds = time.perf_counter() - start
        assert server.log_path is not None
        assert server.pid is not None
        peak_rss = _peak_rss_mib(server.pid)
        log = server.log_path.read_text(encoding="utf-8", errors="replace")
    evaluated = [int(n) for n in re.findall(r"prompt eval time =\s+[\d.]+ ms /\s+(\d+) tokens", log)]
    cache_sizes = [int(n) for n in re.findall(r"BoundedRAMCache: state of .* states, (\d+) of \d+ bytes", log)]
    return Run(
        cache_mib=cache_mib,
        logits_all=logits_all,
        seconds=seconds,
        prompt_tokens=sum(evaluated),
        requests=len(evaluated),
        cache_hits=log.count("Llama._create_completion: cache hit"),
        cache_peak_bytes=max(cache_sizes, default=0),
        peak_rss_mib=peak_rss,
        load=(load_before, os.getloadavg()[0]),
        replies=tuple(replies),
    )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render(model: str, n_tasks: int, max_tokens: int, runs: list[Run], command: str) -> str:
    base = next(r for r in runs if r.cache_mib == 0 and not r.logits_all)
    lines = [
        SECTION,
        "",
        f"Command: `{command}` (model `{Path(model).name}`, {n_tasks} GSM8K dev tasks, each classified, solved and",
        f"distilled from: {3 * n_tasks} requests, completions capped at {max_tokens} tokens, greedy).",
        f"Machine: {_cpu()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; 2 llama.cpp threads;",
        "1-minute load average before/after each run in the last column (the machine may be shared).",
        "Ratios are against the cache off in the same run; the replies column says whether the replies",
        "were identical to the baseline's. Peak RSS is the server's `VmHWM`; cache peak is the largest total",
        "the cache reported holding.",
        "",
        "| server | wall time s | ratio | prompt tokens evaluated | ratio | cache hits | cache peak MiB "
        "| peak RSS MiB | replies | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        differ = sum(a != b for a, b in zip(r.replies, base.replies, strict=True))
        same = "baseline" if r is base else ("identical" if not differ else f"{differ} of {len(r.replies)} differ")
        lines.append(
            f"| {r.label} | {r.seconds:.1f} | {r.seconds / base.seconds:.2f}x | {r.prompt_tokens} | "
            f"{r.prompt_tokens / max(base.prompt_tokens, 1):.2f}x | {r.cache_hits} | "
            f"{r.cache_peak_bytes / 2**20:.0f} | {r.peak_rss_mib:.0f} | {same} | {r.load[0]:.1f}/{r.load[1]:.1f} |"
        )
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        following = rest.find("\n## ")
        text = head + section + (rest[following + 1 :] if following >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="a GGUF name or path")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--cache-mib", type=int, nargs="+", default=[256])
    parser.add_argument(
        "--logits-all", action="store_true", help="add a cache-off run with logits_all=true (the server before)"
    )
    parser.add_argument("--dump", type=Path, help="write every run's replies to this JSON file")
    parser.add_argument("--write", type=Path, help="replace this section of a markdown file (docs/benchmarks.md)")
    args = parser.parse_args()
    tasks = _tasks(args.tasks)
    runs = [run(args.model, tasks, mib, args.max_tokens) for mib in [0, *args.cache_mib]]
    if args.logits_all:
        runs.append(run(args.model, tasks, 0, args.max_tokens, logits_all=True))
    if args.dump is not None:
        args.dump.write_text(json.dumps([{"label": r.label, "replies": r.replies} for r in runs], indent=1))
    command = "python benchmarks/prompt_cache_bench.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {' '.join(map(str, v)) if isinstance(v, list) else v}")
        for k, v in vars(args).items()
        if k not in ("write", "dump") and v is not None and v is not False
    )
    section = render(args.model, len(tasks), args.max_tokens, runs, command)
    print(section)
    if args.write is not None:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
