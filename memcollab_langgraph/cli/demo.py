"""``memcollab demo``: the main job on the embedded defaults, offline.

Starts a local llama.cpp server, builds a shared memory from the bundled demo tasks with a team of
local models, solves a held-back demo task with it, and shows what was retrieved. The team is the two
Qwen2.5-Coder models when their GGUF files are in the models directory (a real heterogeneous team: two
sizes), otherwise two agents on the bundled SmolLM2-135M (greedy and sampled), which the command says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from memcollab_langgraph.cli.render import console, distillation_summary, hits_table, notes, usage_table
from memcollab_langgraph.config import Config, parse_config
from memcollab_langgraph.errors import ConfigurationError, MemCollabError
from memcollab_langgraph.graphs import create_build_graph, create_solve_graph, run_tasks, sqlite_checkpointer
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.tasks import demo_tasks

__all__ = ["demo", "demo_config"]

QWEN = {"qwen-1_5b": "qwen2.5-coder-1.5b", "qwen-0_5b": "qwen2.5-coder-0.5b"}


_THREADS = "demo"
"""Checkpointer thread prefix of the demo's build (``run_tasks`` names a task's thread ``<prefix>:<id>``)."""


def _qwen_available() -> bool:
    from memcollab_langgraph.local import find_model

    try:
        for name in QWEN.values():
            find_model(name)
    except ConfigurationError:
        return False
    return True


def demo_config(workdir: Path, *, qwen: bool) -> Config:
    """The demo's configuration: the Qwen team if present, else two SmolLM2 agents."""
    if qwen:
        local = {"models": QWEN, "n_ctx": 4096}
        agents: list[dict[str, Any]] = [
            {"name": "qwen-1.5b", "base_url": "local:qwen-1_5b", "family": "qwen", "strength": 2},
            {"name": "qwen-0.5b", "base_url": "local:qwen-0_5b", "family": "qwen", "strength": 1},
        ]
    else:
        local = {"models": {"smollm2": "smollm2-135m"}, "n_ctx": 4096}
        agents = [
            {"name": "smollm2-greedy", "base_url": "local:smollm2", "family": "smollm", "strength": 1},
            {
                "name": "smollm2-sampled",
                "base_url": "local:smollm2",
                "family": "smollm",
                "temperature": 0.8,
            },
        ]
    data = {
        "agents": agents,
        "local": local,
        "memory": {
            "store": str(workdir / "chroma"),
            "bank": "demo",
            "checkpoints": str(workdir / "checkpoints.sqlite"),
        },
        "max_turns": 2,
    }
    return parse_config(data)


def demo(
    train: Annotated[int, typer.Option(help="Demo training tasks to build the memory from.")] = 6,
    workdir: Annotated[Path, typer.Option(help="Where the demo's memory and checkpoints live.")] = Path(
        ".memcollab/demo"
    ),
) -> None:
    """Build a shared memory from the demo tasks with local models, then solve a held-back task."""
    try:
        qwen = _qwen_available()
        if not qwen:
            notes.print(
                "Running with the single bundled model, SmolLM2-135M-Instruct (two agents: greedy and "
                "sampled). For a real heterogeneous team put qwen2.5-coder-0.5b-instruct.gguf and "
                "qwen2.5-coder-1.5b-instruct.gguf into ~/.cache/memcollab/models (or $MEMCOLLAB_MODEL_DIR) "
                "and run again, or write your own configuration (configs/*.toml) for any "
                "OpenAI-compatible endpoints."
            )
        cfg = demo_config(workdir, qwen=qwen)
        train_tasks = demo_tasks("train")[:train]
        heldout = demo_tasks("heldout")
        with Runtime(cfg) as rt:
            team = list(rt.agents.values())
            for note in rt.notes:
                notes.print(note)
            console.rule(f"1. build the shared memory from {len(train_tasks)} demo tasks")
            graph = create_build_graph(
                team,
                distiller=rt.distiller,
                taxonomy=rt.taxonomy,
                bank_name="demo",
                max_turns=cfg.max_turns,
                labels=cfg.distiller_labels,
            )
            with sqlite_checkpointer(rt.checkpoints_path) as saver:
                compiled = graph.compile(checkpointer=saver, store=rt.store)
                report = run_tasks(compiled, train_tasks, thread_prefix=_THREADS, max_concurrency=cfg.max_concurrency)
                distilled = [
                    d
                    for t in train_tasks
                    for d in compiled.get_state(
                        {"configurable": {"thread_id": f"{_THREADS}:{t.id}"}}  # run_tasks' thread of the task
                    ).values.get("distillations", [])
                ]
            stats = rt.bank.stats()
            console.print(
                f"{len(report.completed)} tasks built, {len(report.skipped)} were already done; "
                f"memory: {stats.total} constraints {stats.by_status}"
            )
            console.print(distillation_summary(distilled))
            console.print(usage_table(report.usage))
            task = next((t for t in heldout if t.domain == "math"), heldout[0])
            solver = min(team, key=lambda a: a.strength)
            console.rule(f"2. {solver.name} solves held-back task {task.id!r} with the memory")
            console.print(task.question)
            solve = create_solve_graph(
                solver,
                classifier=rt.classifier.model,
                taxonomy=rt.taxonomy,
                bank_name="demo",
                k=3,
                fallback=cfg.memory.fallback,
            )
            out = solve.compile(store=rt.store).invoke({"task": task, "agent": solver.name})
    except MemCollabError as e:
        notes.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(code=2) from None
    console.print(f"category: {out['category']} (by {out['classification'].source})")
    hits = out.get("hits", [])
    console.print(hits_table(hits) if hits else "no constraint of this category in memory yet")
    t = out["trajectory"]
    verdict = out.get("verdict")
    judged = "" if verdict is None else (" (correct)" if verdict.correct else f" (wrong: expected {task.answer})")
    console.print(f"answer: {t.answer}{judged}; turns {t.turns}; tokens {t.usage.total_tokens}; {t.latency_s:.1f} s")
    if report.failed:
        notes.print(f"[yellow]{len(report.failed)} build tasks failed; run the demo again to resume them[/yellow]")
