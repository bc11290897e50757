"""``memcollab eval run|report``: run an evaluation (resumable) and write or rewrite its report.

``memcollab eval run -c EVAL.toml`` runs or resumes the evaluation an evaluation configuration
describes (:mod:`memcollab_langgraph.evaluation.config`) and prints its summary; running it again
skips finished items. ``memcollab eval report RUN_DIR`` writes the report of a run, finished or not.
Progress and notes go to standard error; ``--json`` prints the summary as JSON on standard output.
Exit codes: 0 done, 1 some items or builds failed (run again to retry them), 2 a configuration or
input error, 130 interrupted (run again to resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from memcollab_langgraph.cli.render import console, emit_json, notes
from memcollab_langgraph.errors import ConfigurationError, MemCollabError
from memcollab_langgraph.evaluation import (
    CURATED,
    EvalConfig,
    ReportFiles,
    ResultsStore,
    RunSummary,
    TranscriptLog,
    compare_runs,
    load_curated,
    load_datasets,
    load_eval_config,
    plan_evaluation,
    run_evaluation,
    write_report,
)
from memcollab_langgraph.evaluation.markdown import format_p
from memcollab_langgraph.evaluation.statistics import Estimate
from memcollab_langgraph.runtime import Runtime

__all__ = ["app", "compare", "report", "run", "show"]

app = typer.Typer(
    help="Evaluate conditions (vanilla, self memory, naive transfer, self-contrast, MemCollab) on data sets.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on standard output.")]


def _exit_for(error: MemCollabError) -> typer.Exit:
    notes.print(f"[red]error:[/red] {escape(str(error))}")
    return typer.Exit(code=2 if isinstance(error, ConfigurationError) else 1)


def _pct(e: Estimate | None) -> str:
    return "-" if e is None else f"{100 * e.value:.1f} [{100 * e.low:.1f}, {100 * e.high:.1f}]"


def _cell_table(title: str, numbers: list[str]) -> Table:
    """A table of (data set, agent, condition) cells: names left, numbers right, nothing cut."""
    table = Table(title=title, title_justify="left")
    for column in ("data set", "agent", "condition"):
        table.add_column(column, overflow="fold")
    for column in numbers:
        table.add_column(column, justify="right", overflow="fold")
    return table


def summary_table(summary: RunSummary) -> Table:
    """One row per (data set, agent, condition), then the pooled rows: accuracy, paired delta, turns."""
    table = _cell_table(f"run {summary.run_id!r}", ["n", "accuracy % [95% CI]", "delta pts", "p (Holm)", "turns"])
    for row in [*summary.rows, *summary.pooled]:
        delta = "-" if row.delta is None else f"{100 * row.delta.value:+.1f}"
        turns = "-" if row.turns is None else f"{row.turns.value:.2f}"
        failed = f" ({row.failed} failed)" if row.failed else ""
        table.add_row(
            row.dataset,
            row.agent,
            row.condition,
            f"{row.n}{failed}",
            _pct(row.accuracy),
            delta,
            format_p(row.p_holm),
            turns,
        )
    return table


def _show(files: ReportFiles, *, as_json: bool) -> RunSummary:
    summary = RunSummary.model_validate_json(files.results_json.read_text(encoding="utf-8"))
    if as_json:
        emit_json(
            {
                "run_dir": str(files.summary_md.parent),
                "files": {
                    "summary_md": str(files.summary_md),
                    "results_json": str(files.results_json),
                    "plots": [str(p) for p in files.plots],
                },
                "summary": summary,
            }
        )
        return summary
    console.print(summary_table(summary))
    if summary.pending:
        console.print(f"partial: {summary.finished} of {summary.planned} planned items finished")
    if summary.failed:
        console.print(f"[yellow]{summary.failed} items failed[/yellow]: run the same command again to retry them")
    console.print(f"report: {files.summary_md}", soft_wrap=True)  # a path stays on one line, copyable
    return summary


def _dry_run(cfg: EvalConfig, *, as_json: bool) -> None:
    plan = plan_evaluation(cfg, load_datasets(cfg), load_curated(cfg))
    done = ResultsStore(cfg.results_root, cfg.run_id).finished()
    pending = sum(1 for item in plan.items if item.key not in done)
    banks = {
        b.name: {
            "method": b.method,
            "builders": list(b.builders),
            "train": b.train.label,
            "build_runs": len(b.sources),
            "training_tasks": len(b.train.tasks),
            "story_check": b.train.story_note,
        }
        for b in plan.banks.values()
    }
    if plan.curated is not None:
        banks[plan.curated.name] = plan.curated.describe()
    data: dict[str, Any] = {
        "run_dir": str(cfg.run_directory),
        "items": len(plan.items),
        "pending": pending,
        "datasets": plan.metadata["datasets"],
        "banks": banks,
        "settings": plan.metadata["fingerprint"],
    }
    if as_json:
        emit_json(data)
        return
    console.print(f"run directory: {cfg.run_directory}", soft_wrap=True)
    console.print(f"items: {len(plan.items)} planned, {pending} left to solve")
    settings = plan.metadata["fingerprint"]
    shown = ("retrieval", "k", "fallback", "classifier", "max_turns", "stop_on_repeat", "seed")
    console.print("settings: " + ", ".join(f"{key}={settings[key]}" for key in shown))
    for name, info in plan.metadata["datasets"].items():
        console.print(f"  {name}: {info['eval_tasks']} tasks, memory from {info['train'] or '-'}")
    for train in {b.train.label: b.train for b in plan.banks.values()}.values():
        console.print(f"  memory from {train.label}: {escape(train.story_note)}", soft_wrap=True)
    table = Table(title="memory banks (each built once)", title_justify="left")
    for column in ("bank", "method", "builders", "training tasks"):
        table.add_column(column, overflow="fold")
    for bank in plan.banks.values():
        table.add_row(bank.name, bank.method, ", ".join(bank.builders), f"{len(bank.train.tasks)} ({bank.train.label})")
    if plan.curated is not None:
        table.add_row(
            plan.curated.name,
            CURATED,
            "-",
            f"{len(plan.curated.constraints)} read from {plan.curated.path}",
        )
    console.print(table)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Evaluation configuration (TOML).")],
    limit: Annotated[
        int | None, typer.Option(help="Evaluate at most this many tasks per data set (training tasks unchanged).")
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Override the configuration's run_id.")] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting, KEY=VALUE (repeatable), e.g. --set fallback=domain."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; start no model.")] = False,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Only (re)write the report of what is finished.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Run or resume an evaluation: build each memory bank once, solve every item, write the report.

    Finished items are skipped when the command is run again; failed ones are retried; interrupted
    builds resume from their checkpoints. Ctrl-C keeps everything finished so far.
    """
    try:
        cfg = load_eval_config(config, overrides or ())
        if run_id is not None:
            cfg = cfg.model_copy(update={"run_id": run_id})
        if limit is not None:
            cfg = cfg.limited(limit)
        if dry_run:
            _dry_run(cfg, as_json=json)
            return
        if report_only:
            files = write_report(ResultsStore(cfg.results_root, cfg.run_id), seed=cfg.seed)
        else:
            files = _run(cfg, progress=not json)
    except MemCollabError as e:
        raise _exit_for(e) from None
    summary = _show(files, as_json=json)
    if summary.failed and not report_only:
        raise typer.Exit(code=1)


def _run(cfg: EvalConfig, *, progress: bool) -> ReportFiles:
    try:
        with Runtime(cfg.team_for_run()) as rt:
            try:
                directory = run_evaluation(cfg, rt, progress=progress)
            finally:
                for note in rt.notes:
                    notes.print(note)
    except KeyboardInterrupt:
        notes.print(
            f"[yellow]interrupted[/yellow]: finished items are kept in {cfg.run_directory}; run the same command "
            f"again to resume, or `memcollab eval report {cfg.run_directory}` for a partial report",
            soft_wrap=True,
        )
        raise typer.Exit(code=130) from None
    return ReportFiles(
        summary_md=directory / "summary.md",
        results_json=directory / "results.json",
        plots=sorted(directory.glob("*.png")),
    )


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (<results>/<run_id>).")],
    task_id: Annotated[str, typer.Argument(help="The task, e.g. gsm8k/6e9d9c1d48ea (ids are in items.jsonl).")],
    condition: Annotated[list[str] | None, typer.Option(help="Only this condition (repeatable).")] = None,
    agent: Annotated[list[str] | None, typer.Option(help="Only this agent (repeatable).")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the transcripts as JSON.")] = False,
) -> None:
    """Show what the solver saw and said on one task, under each condition: constraints, replies, verdict."""
    try:
        found = TranscriptLog(run_dir).for_task(task_id)
    except MemCollabError as e:
        raise _exit_for(e) from None
    shown = [t for t in found if (not condition or t.condition in condition) and (not agent or t.agent in agent)]
    if json:
        emit_json({"transcripts": shown})
        return
    if not shown:
        notes.print(f"no transcript of {task_id} matches; it has {sorted({(t.condition, t.agent) for t in found})}")
        raise typer.Exit(code=1)
    for t in shown:
        verdict = {True: "[green]correct[/green]", False: "[red]wrong[/red]", None: "unverified"}[t.correct]
        console.rule(f"{t.condition} / {t.agent}: {verdict}, answer {escape(repr(t.answer))}")
        console.print(f"category: {t.category or '-'}; stopped: {t.stop_reason or '-'}")
        for hit in t.retrieved:
            console.print(f"  retrieved ({hit.level}, {hit.category}): {escape(hit.text)}", soft_wrap=True)
        for message in t.messages:
            role = str(message.get("role", "?"))
            console.print(Panel(escape(str(message.get("content", ""))), title=role, title_align="left"))
        if t.verdict:
            console.print(f"verdict: {escape(t.verdict)}", soft_wrap=True)


@app.command()
def compare(
    first: Annotated[Path, typer.Argument(help="The baseline run directory.")],
    second: Annotated[Path, typer.Argument(help="The run with the changed setting (may be the same run).")],
    pair: Annotated[
        list[str] | None,
        typer.Option(
            "--pair", help="Compare condition A of the first run with condition B of the second: A=B (repeatable)."
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the cells as JSON.")] = False,
) -> None:
    """Compare two runs of the same items cell by cell: wins, losses, McNemar p, unchanged retrievals.

    With --pair memcollab=curated, only the first run's MemCollab items are compared, with the second
    run's curated items of the same tasks (RUN RUN --pair vanilla=memcollab compares within one run).
    """
    try:
        pairs = _pairs(pair or [])
        runs = [ResultsStore(d.resolve().parent, d.resolve().name) for d in (first, second)]
        for run in runs:
            if not run.items_path.exists():
                raise ConfigurationError(f"{run.directory} is not a run directory (it has no items.jsonl)")
        cells = compare_runs(runs[0].read(), runs[1].read(), pairs=pairs)
    except MemCollabError as e:
        raise _exit_for(e) from None
    if json:
        emit_json({"first": str(runs[0].directory), "second": str(runs[1].directory), "cells": cells})
        return
    title = f"{runs[1].run_id} against {runs[0].run_id}, on the items both finished"
    numbers = ["n", "right: first", "second", "second only / first only", "McNemar p", "same retrieval (same verdict)"]
    table = _cell_table(title, numbers)
    for c in cells:
        table.add_row(
            c.dataset,
            c.agent,
            c.condition if c.condition == c.condition_b else f"{c.condition} -> {c.condition_b}",
            str(c.n),
            str(c.correct_a),
            str(c.correct_b),
            f"{c.only_b} / {c.only_a}",
            format_p(c.p_value),
            f"{c.same_retrieval} ({c.same_retrieval_same_verdict})",
        )
    console.print(table)
    if not cells:
        notes.print("the two runs have no finished item in common")


def _pairs(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        a, sep, b = (part.strip() for part in value.partition("="))
        if not sep or not a or not b:
            raise ConfigurationError(f"--pair {value!r} is not A=B; e.g. --pair memcollab=curated")
        if a in out:
            raise ConfigurationError(f"--pair: condition {a!r} is paired twice ({out[a]!r} and {b!r})")
        out[a] = b
    return out


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (<results>/<run_id>).")],
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    json: JsonOpt = False,
) -> None:
    """Write the report of a run, finished or partial: summary.md, results.json and plots."""
    try:
        if not (run_dir / "items.jsonl").exists() and not (run_dir / "plan.json").exists():
            raise ConfigurationError(f"{run_dir} is not a run directory (it has no items.jsonl or plan.json)")
        directory = run_dir.resolve()
        files = write_report(ResultsStore(directory.parent, directory.name), seed=seed)
    except MemCollabError as e:
        raise _exit_for(e) from None
    _show(files, as_json=json)
