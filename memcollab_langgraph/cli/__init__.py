"""The ``memcollab`` command: build, solve with and inspect a shared memory; run local models.

Every command reads a TOML configuration (``--config``, see :mod:`memcollab_langgraph.config`);
``--json`` prints machine-readable output on standard output, while progress and notes go to
standard error. Errors of configuration or input end the command with exit code 2 and a message that
names the bad value.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from langgraph.types import RetryPolicy
from rich.markup import escape
from rich.table import Table

from memcollab_langgraph.cli import evaluate as eval_commands
from memcollab_langgraph.cli import local as local_commands
from memcollab_langgraph.cli.demo import demo
from memcollab_langgraph.cli.render import (
    console,
    constraints_table,
    emit_json,
    hits_table,
    notes,
    stats_tables,
    usage_table,
)
from memcollab_langgraph.config import load_config
from memcollab_langgraph.errors import ConfigurationError, MemCollabError
from memcollab_langgraph.graphs import create_build_graph, create_solve_graph, run_tasks, sqlite_checkpointer
from memcollab_langgraph.nodes.story import audit_constraints
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.schema import CategoryPath, Task
from memcollab_langgraph.tasks import TaskFormat, load_tasks

__all__ = ["app", "show_solution"]

app = typer.Typer(
    name="memcollab",
    help="Shared reasoning memory for LangGraph agents across different LLMs (MemCollab).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(local_commands.app, name="local")
app.add_typer(eval_commands.app, name="eval")
app.command()(demo)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="TOML configuration file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on standard output.")]
RETRY = RetryPolicy(max_attempts=3)


def _fail(error: MemCollabError) -> None:
    notes.print(f"[red]error:[/red] {escape(str(error))}")
    raise typer.Exit(code=2)


@app.command()
def build(
    config: ConfigOpt,
    tasks: Annotated[Path, typer.Option("--tasks", "-t", help="Task file (JSONL).")],
    format: Annotated[TaskFormat | None, typer.Option(help="Task format; detected by default.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use at most this many tasks.")] = None,
    offset: Annotated[int, typer.Option(help="Skip this many tasks first.")] = 0,
    json: JsonOpt = False,
) -> None:
    """Build or extend the shared memory: every agent solves each task, then contrast and distil.

    Interrupted builds resume where they stopped (finished tasks are skipped).
    """
    try:
        cfg = load_config(config)
        items = load_tasks(tasks, format=format, limit=limit, offset=offset)
        story_check, story_note = cfg.story_check(tasks, format=format)
        with Runtime(cfg) as rt:
            team = list(rt.agents.values())
            for note in rt.notes:
                notes.print(note)
            notes.print(escape(story_note))
            graph = create_build_graph(
                team,
                distiller=rt.distiller,
                classifier=rt.classifier.model,
                taxonomy=rt.taxonomy,
                bank_name=cfg.memory.bank,
                max_turns=cfg.max_turns,
                labels=cfg.distiller_labels,
                story_check=story_check,
                retry_policy=RETRY,
            )
            with sqlite_checkpointer(rt.checkpoints_path) as saver:
                compiled = graph.compile(checkpointer=saver, store=rt.store)
                report = run_tasks(
                    compiled,
                    items,
                    thread_prefix=f"build:{cfg.memory.bank}",
                    max_concurrency=cfg.max_concurrency,
                    progress=not json,
                )
            stats = rt.bank.stats()
    except MemCollabError as e:
        _fail(e)
        return
    if json:
        emit_json({"report": report, "bank": stats})
    else:
        console.print(
            f"tasks: {len(report.completed)} completed ({len(report.resumed)} resumed), "
            f"{len(report.skipped)} already done, {len(report.failed)} failed"
        )
        for task_id, error in report.failed.items():
            console.print(f"  [red]{task_id}[/red]: {error}  (run the command again to resume)")
        console.print(usage_table(report.usage))
        console.print(f"bank {stats.bank!r}: {stats.total} constraints {stats.by_status}")
    if report.failed:
        raise typer.Exit(code=1)


@app.command()
def solve(
    config: ConfigOpt,
    question: Annotated[str, typer.Argument(help="The task to solve.")],
    agent: Annotated[str | None, typer.Option(help="Agent that solves; default the first.")] = None,
    domain: Annotated[str, typer.Option(help="Taxonomy domain of the task.")] = "math",
    json: JsonOpt = False,
) -> None:
    """Solve one task with the shared memory and show what was retrieved and what it cost."""
    try:
        cfg = load_config(config)
        with Runtime(cfg) as rt:
            solver = rt.agent(agent) if agent else next(iter(rt.agents.values()))
            for note in rt.notes:
                notes.print(note)
            digest = hashlib.sha256(question.encode()).hexdigest()[:10]
            task = Task(id=f"cli-{digest}", domain=domain, question=question)
            graph = create_solve_graph(
                solver,
                classifier=rt.classifier.model,
                taxonomy=rt.taxonomy,
                bank_name=cfg.memory.bank,
                k=cfg.memory.k,
                fallback=cfg.memory.fallback,
                max_turns=cfg.max_turns,
                retry_policy=RETRY,
            )
            out = graph.compile(store=rt.store).invoke({"task": task, "agent": solver.name})
    except MemCollabError as e:
        _fail(e)
        return
    show_solution(out, as_json=json)


def show_solution(out: dict[str, Any], *, as_json: bool) -> None:
    """Print a solve graph's final state."""
    trajectory = out["trajectory"]
    classification = out.get("classification")
    if as_json:
        emit_json(
            {
                "category": str(out.get("category")),
                "classification": classification,
                "hits": out.get("hits", []),
                "conflicts": out.get("conflicts", []),
                "answer": trajectory.answer,
                "turns": trajectory.turns,
                "usage": trajectory.usage,
                "trajectory": trajectory,
                "usage_log": out.get("usage_log", []),
            }
        )
        return
    how = ""
    if classification is not None:
        how = (
            f" (by {classification.source}"
            + (f"; fell back: {classification.reason}" if classification.fell_back else "")
            + ")"
        )
    console.print(f"[bold]category:[/bold] {out.get('category')}{how}")
    hits = out.get("hits", [])
    if hits:
        console.print(hits_table(hits))
    else:
        console.print("no constraints retrieved (the memory has none for this category yet)")
    for conflict in out.get("conflicts", []):
        console.print(f"[yellow]conflict:[/yellow] {conflict}")
    u = trajectory.usage
    console.print(f"[bold]answer:[/bold] {trajectory.answer}")
    console.print(
        f"turns: {trajectory.turns} · tokens: {u.prompt_tokens} prompt + {u.completion_tokens} completion "
        f"· latency: {trajectory.latency_s:.1f} s · model: {u.model}"
    )


@app.command()
def audit(
    config: ConfigOpt,
    tasks: Annotated[Path, typer.Option("--tasks", "-t", help="The task file the memory was built from (JSONL).")],
    format: Annotated[TaskFormat | None, typer.Option(help="Task format; detected by default.")] = None,
    archive: Annotated[bool, typer.Option("--archive", help="Archive the constraints that fail.")] = False,
    json: JsonOpt = False,
) -> None:
    """Run the distiller's story check on the memory: which constraints retell their training task.

    Useful for a bank built before the check existed or without it. Source questions are read from
    --tasks; rare words from [distiller] story_reference, else from the whole of --tasks. With
    --archive the failing constraints are archived (kept for provenance, no longer retrieved).
    """
    try:
        cfg = load_config(config)
        check, note = cfg.story_check(tasks, format=format)
        if check is None:
            raise ConfigurationError(f"cannot audit: {note}")
        questions = {t.id: t.question for t in load_tasks(tasks, format=format)}
        with Runtime(cfg) as rt:
            found = audit_constraints(rt.bank.list_constraints(), check, questions)
            archived = [rt.bank.archive(c.id).id for c, _ in found.retold] if archive else []
    except MemCollabError as e:
        _fail(e)
        return
    if json:
        emit_json(
            {
                "retold": [{"constraint": c, "story_words": words} for c, words in found.retold],
                "passed": len(found.passed),
                "unchecked": [c.id for c in found.unchecked],
                "archived": archived,
            }
        )
        return
    notes.print(escape(note))
    table = Table(title=f"bank {cfg.memory.bank!r}: constraints that retell their training task", show_lines=True)
    for column in ("id", "category", "constraint", "rare words shared with its task"):
        table.add_column(column, overflow="fold")
    for c, words in found.retold:
        table.add_row(c.id[:8], str(c.category), c.text, ", ".join(words))
    console.print(table)
    total = len(found.retold) + len(found.passed) + len(found.unchecked)
    console.print(
        f"{len(found.retold)} of {total} constraints retell their training task, {len(found.passed)} pass, "
        f"{len(found.unchecked)} not checked (no source task in {tasks.name})"
        + (f"; archived {len(archived)}" if archive else "; --archive archives them")
    )


@app.command()
def export(
    config: ConfigOpt,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (replaced); standard output by default.")
    ] = None,
    archived: Annotated[bool, typer.Option(help="Include archived constraints (their provenance).")] = True,
) -> None:
    """Write the memory as JSON Lines, one record per constraint: a backup, or memory for another store.

    `memcollab import` reads it back, into this configuration's bank or another one.
    """
    try:
        cfg = load_config(config)
        with Runtime(cfg) as rt:
            count = rt.bank.export_jsonl(output if output is not None else sys.stdout, include_archived=archived)
    except MemCollabError as e:
        _fail(e)
        return
    where = f" to {output}" if output is not None else ""
    notes.print(f"exported {count} constraints of bank {cfg.memory.bank!r}{escape(where)}")


@app.command("import")
def import_(
    config: ConfigOpt,
    source: Annotated[
        Path, typer.Argument(help="JSON Lines: exported records, or constraint objects written by hand.")
    ],
    json: JsonOpt = False,
) -> None:
    """Add constraints from a file to the memory, through its deduplication and category budget.

    The file holds records written by `memcollab export`, or one constraint per line written by hand:
    {"when": ..., "enforce": ..., "avoid": ..., "category": "math/prealgebra"}. The whole file is checked
    first (a bad line or an unknown category is an error naming it, and nothing is written); importing
    the same file again changes nothing.
    """
    try:
        cfg = load_config(config)
        with Runtime(cfg) as rt:
            outcomes = rt.bank.import_jsonl(source)
    except MemCollabError as e:
        _fail(e)
        return
    actions = Counter(o.action for o in outcomes)
    if json:
        emit_json({"read": len(outcomes), "actions": dict(actions), "outcomes": outcomes})
        return
    done = ", ".join(f"{n} {action}" for action, n in sorted(actions.items())) or "nothing to add"
    console.print(f"{len(outcomes)} constraints read from {escape(str(source))} into bank {cfg.memory.bank!r}: {done}")


@app.command()
def inspect(
    config: ConfigOpt,
    category: Annotated[str | None, typer.Option(help="Only this category path, e.g. math/algebra.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Only constraints with this model of origin.")] = None,
    status: Annotated[list[str] | None, typer.Option(help="candidate, validated or archived.")] = None,
    json: JsonOpt = False,
) -> None:
    """Show the memory: constraints with provenance, and statistics per category and model."""
    try:
        cfg = load_config(config)
        with Runtime(cfg) as rt:
            bank = rt.bank
            path = CategoryPath.parse(category) if category else None
            constraints = bank.list_constraints(path, statuses=status or None, models=model or None)  # type: ignore[arg-type]
            stats = bank.stats()
    except MemCollabError as e:
        _fail(e)
        return
    if json:
        emit_json({"constraints": constraints, "stats": stats})
        return
    console.print(constraints_table(constraints, f"bank {cfg.memory.bank!r}: {len(constraints)} constraints"))
    for table in stats_tables(stats):
        console.print(table)
