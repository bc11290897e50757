"""Run an evaluation end to end: leakage guard, plan, memory banks built once, every item solved, report.

:func:`run_evaluation` (and its async twin :func:`arun_evaluation`) takes an
:class:`~memcollab_langgraph.evaluation.config.EvalConfig` and an opened
:class:`~memcollab_langgraph.runtime.Runtime` and, in ``<results>/<run_id>``:

1. loads the task files and refuses to evaluate a task that builds the memory it is evaluated with
   (:func:`~memcollab_langgraph.evaluation.check_no_leakage`, per data set, before anything runs);
2. plans every item, (data set, condition, consumer, task), and the memory bank each reads, and
   writes ``plan.json``; a run directory started with other agents, training tasks or retrieval
   settings is refused (a new run id is needed, results of two settings are never mixed);
3. goes data set by data set: builds the banks the data set's items read that are not complete yet,
   then solves its items, so that a long run has complete data sets to report early on;
4. builds each needed bank **once** with the build graph, whatever the number of cells and data
   sets reading it, checkpointed in ``checkpoints.sqlite`` (one checkpointer thread prefix per bank
   and source, so an interrupted build resumes where it stopped), and records it as complete in
   ``banks.json`` (a complete bank is never built again, so every item of a run reads the same memory);
5. solves every item that has no finished result yet, ``max_concurrency`` at a time, with the solve
   graph (``retrieval="none"`` for ``vanilla``, the condition's variant otherwise; verified; utility
   counters are *not* updated, so no item changes the memory another reads), and appends each
   :class:`~memcollab_langgraph.evaluation.ItemResult` as soon as the item finishes, with the
   :func:`~memcollab_langgraph.version.code_version` that produced it, and its transcript (what the
   solver saw and said) to ``transcripts.jsonl``;
6. writes the report (``summary.md``, ``results.json``, plots).

**Resuming.** Re-running the same configuration (same run id) skips finished items, retries failed
ones, resumes interrupted builds from their checkpoints and skips complete banks. Ctrl-C is safe at
any point: what was written stays written (see :class:`~memcollab_langgraph.evaluation.ResultsStore`).

**Items.** An item whose model or graph raises one of :data:`RECORDED_ERRORS` (a server or network
error, an unusable model reply after the graph's own repair, the recursion limit) is recorded with
:func:`~memcollab_langgraph.evaluation.failed_result` and retried by the next run; any other
exception is a bug or a misconfiguration and stops the run. So does a model server that stopped
answering: after ``max_consecutive_failures`` items in a row failed with a connection or server
error (each after its node's retries), the run stops with
:class:`~memcollab_langgraph.errors.ModelServerDown` instead of marking every remaining item
failed in seconds. Items are solved data set by data set,
consumer by consumer, and for each task under every condition in turn: one model serves a stretch of
items (a local llama.cpp server loads one model at a time) and a partial run already has paired
results for the tasks it reached.

**The LLM response cache** (``cache`` in the configuration) is a
:class:`~memcollab_langgraph.evaluation.SqliteLLMCache` set on each agent's model (``model.cache``),
not globally: solves shared by several banks (the same agent on the same training task at
temperature 0) and classifications shared by several conditions are paid once, and so is a re-run.
A cached reply keeps its original token counts; its latency is near zero, and items count such
calls (``cached_calls``), which the report lists under each table.

**Self-contrast samples.** ``self_contrast`` contrasts several samples of the consumer's own solve of
each training task. The build graph sends every sample of an agent to the same model with the same
prompt, so samples can differ only by sampling: the samples come from a copy of the agent's model
at ``self_contrast_temperature`` (when the agent is configured at temperature 0), **without the
response cache** (a cache would return the first sample for all of them) and **without a seed** (one
seed for every sample would make them identical again). These samples are therefore not reproducible
from run to run; the build is checkpointed, so a resumed run does not draw finished tasks again. All
other calls are made at the agents' configured temperature with ``seed``.

**Roles.** The configured distiller (default the strongest agent) distills every bank, so
conditions differ only in whose trajectories are distilled and how; builds classify training tasks
with the team's classifier; evaluation tasks are classified by the consumer's own model
(``classifier = "consumer"``, the default) or by the team's classifier (``"team"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import RetryPolicy
from tqdm.auto import tqdm

from memcollab_langgraph.errors import (
    ConfigurationError,
)
from memcollab_langgraph.evaluation.cache import SqliteLLMCache
from memcollab_langgraph.evaluation.collect import failed_result, result_from_solve, transcript_from_solve
from memcollab_langgraph.evaluation.config import EvalConfig
from memcollab_langgraph.evaluation.failures import RECORDED_ERRORS, FailureStreak, is_transient
from memcollab_langgraph.evaluation.ledger import (
    BANKS_FILE,
    Ledger,
    aadd_curated,
    abank_total,
    add_curated,
    bank_total,
    check_intact,
    completed_entry,
    curated_entry,
)
from memcollab_langgraph.evaluation.plan import (
    BankPlan,
    CuratedBank,
    EvaluationPlan,
    WorkItem,
    check_same_settings,
    load_curated,
    load_datasets,
    plan_evaluation,
)
from memcollab_langgraph.evaluation.report import write_report
from memcollab_langgraph.evaluation.results import ItemResult, ResultsStore
from memcollab_langgraph.evaluation.transcripts import TranscriptLog
from memcollab_langgraph.graphs import (
    arun_tasks,
    asqlite_checkpointer,
    create_build_graph,
    create_solve_graph,
    run_tasks,
    sqlite_checkpointer,
)
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes.effects import Program, adrive, drive, effect, perform
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.taxonomy import Taxonomy
from memcollab_langgraph.version import code_version

__all__ = [
    "BANKS_FILE",
    "CHECKPOINTS_FILE",
    "arun_evaluation",
    "run_evaluation",
]

CHECKPOINTS_FILE = "checkpoints.sqlite"
_LOCK_FILE = ".lock"

# -- agents ------------------------------------------------------------------------------------------


def _configured(model: BaseChatModel, cache: SqliteLLMCache | None, seed: int) -> BaseChatModel:
    update: dict[str, Any] = {}
    if cache is not None:
        update["cache"] = cache
    if "seed" in type(model).model_fields:
        update["seed"] = seed
    return model.model_copy(update=update) if update else model


def _sampling(agent: Agent, temperature: float) -> Agent:
    """The agent drawing self-contrast samples: sampling temperature, no cache, no seed."""
    fields = type(agent.model).model_fields
    update: dict[str, Any] = {"cache": False}
    if "seed" in fields:
        update["seed"] = None
    if "temperature" in fields and not (getattr(agent.model, "temperature", None) or 0.0) > 0.0:
        update["temperature"] = temperature
    return dataclasses.replace(agent, model=agent.model.model_copy(update=update))


# -- running -----------------------------------------------------------------------------------------


@dataclass
class _Context:
    config: EvalConfig
    results: ResultsStore
    store: BaseStore
    taxonomy: Taxonomy
    agents: dict[str, Agent]
    retry: RetryPolicy
    progress: bool
    streak: FailureStreak
    transcripts: TranscriptLog
    cache: SqliteLLMCache | None = None
    checkpointer: BaseCheckpointSaver[Any] | None = None
    _graphs: dict[tuple[str, str, str | None], CompiledStateGraph[Any, Any, Any, Any]] = dataclasses.field(
        default_factory=dict
    )

    def solve_graph(self, item: WorkItem) -> CompiledStateGraph[Any, Any, Any, Any]:
        key = (item.condition.name, item.key.agent, item.bank)
        if key not in self._graphs:
            condition = item.condition
            classifier = None
            if self.config.classifier == "team":
                classifier = self.agents[self.config.team.classifier_name].model
            graph = create_solve_graph(
                self.agents[item.key.agent],
                classifier=classifier,
                taxonomy=self.taxonomy,
                bank_name=item.bank or "default",
                k=condition.k,
                fallback=self.config.fallback,
                ranker=condition.ranker or "bm25",
                max_turns=self.config.turns,
                verify=True,
                record_outcomes=False,
                retrieval=condition.retrieval or "none",
                constraints_preamble=self.config.constraints_preamble,
                stop_on_repeat=self.config.stop_on_repeat,
                retry_policy=self.retry,
            )
            self._graphs[key] = graph.compile(store=self.store)
        return self._graphs[key]

    def build_graphs(self, bank: BankPlan) -> list[tuple[str, CompiledStateGraph[Any, Any, Any, Any]]]:
        team = self.config.team
        out = []
        for source in bank.sources:
            if bank.method == "self_contrast":
                agents = [_sampling(self.agents[b], self.config.self_contrast_temperature) for b in bank.builders]
            elif source is not None:
                agents = [self.agents[source]]
            else:
                agents = [self.agents[b] for b in bank.builders]
            graph = create_build_graph(
                agents,
                distiller=self.agents[team.distiller_name],
                classifier=self.agents[team.classifier_name].model,
                taxonomy=self.taxonomy,
                bank_name=bank.name,
                method=bank.method,
                samples=bank.samples,
                max_turns=self.config.turns,
                source_agent=source,
                labels=team.distiller_labels,
                story_check=bank.train.story_check,
                retry_policy=self.retry,
            )
            out.append((bank.thread_prefix(source), graph.compile(checkpointer=self.checkpointer, store=self.store)))
        return out

    def transcribe(self, item: WorkItem, output: Mapping[str, Any] | BaseException) -> None:
        """Append the item's transcript (a finished solve only: a failure has its error in the result)."""
        if not isinstance(output, BaseException):
            run_id, condition, dataset = self.results.run_id, item.key.condition, item.key.dataset
            self.transcripts.append(transcript_from_solve(output, run_id=run_id, condition=condition, dataset=dataset))

    def outcome(self, item: WorkItem, output: Mapping[str, Any] | BaseException, started: datetime) -> ItemResult:
        finished = datetime.now(UTC)
        common: dict[str, Any] = {
            "memory_source": list(item.memory_source),
            "bank": item.bank,
            "code_version": code_version(),
        }
        if isinstance(output, BaseException):
            model = self.agents[item.key.agent].ref.model
            return failed_result(
                item.key,
                output,
                run_id=self.results.run_id,
                model=model,
                started_at=started,
                finished_at=finished,
                **common,
            )
        return result_from_solve(
            output,
            run_id=self.results.run_id,
            condition=item.key.condition,
            dataset=item.key.dataset,
            started_at=started,
            finished_at=finished,
            **common,
        )


def _program(ctx: _Context, started: _Started) -> Program[None]:
    """Data set by data set, build the banks its pending items need, then solve them: one logic for sync
    and async."""
    ledger = Ledger(ctx.results.directory)
    for _, stage in itertools.groupby(started.pending, key=lambda item: item.key.dataset):
        items = list(stage)
        needed = {item.bank for item in items}
        for bank in (b for b in started.banks if b.name in needed):
            yield from _ensure_bank(ctx, ledger, bank)
        if started.curated is not None and started.curated.name in needed:
            yield from _ensure_curated(ctx, ledger, started.curated)
        yield from perform(effect(_solve_items, _asolve_items, ctx, items))


def _ensure_curated(ctx: _Context, ledger: Ledger, bank: CuratedBank) -> Program[None]:
    """Import the curated constraints unless ``banks.json`` says they are in (then check they still are)."""
    entry = ledger.read().get(bank.name)
    if entry is not None and entry.get("complete"):
        total = yield from perform(effect(bank_total, abank_total, ctx.store, ctx.taxonomy, bank.name))
        check_intact(bank.name, entry, total, ledger)
        return
    total = yield from perform(effect(add_curated, aadd_curated, ctx.store, ctx.taxonomy, bank))
    ledger.record(bank.name, curated_entry(bank, total))


def _ensure_bank(ctx: _Context, ledger: Ledger, bank: BankPlan) -> Program[None]:
    """Build ``bank`` unless ``banks.json`` says it is complete (then check the store still holds it)."""
    entry = ledger.read().get(bank.name)
    total: int
    if entry is not None and entry.get("complete"):
        total = yield from perform(effect(bank_total, abank_total, ctx.store, ctx.taxonomy, bank.name))
        check_intact(bank.name, entry, total, ledger)
        return
    failed: dict[str, str] = {}
    for prefix, graph in ctx.build_graphs(bank):
        report = yield from perform(
            effect(
                run_tasks,
                arun_tasks,
                graph,
                bank.train.tasks,
                thread_prefix=prefix,
                max_concurrency=ctx.config.max_concurrency,
                progress=ctx.progress,
            )
        )
        failed.update({f"{prefix}:{task}": error for task, error in report.failed.items()})
    total = yield from perform(effect(bank_total, abank_total, ctx.store, ctx.taxonomy, bank.name))
    ledger.record(bank.name, completed_entry(bank, failed, total, ctx.config.build_failure_tolerance))


def _progress_bar(ctx: _Context, items: Sequence[WorkItem]) -> tqdm[Any]:
    desc = f"evaluate {ctx.results.run_id} ({items[0].key.dataset})"
    return tqdm(total=len(items), desc=desc, unit="item", disable=not ctx.progress)


def _solve_one(ctx: _Context, item: WorkItem) -> ItemResult:
    started = datetime.now(UTC)
    output: Mapping[str, Any] | BaseException
    try:
        output = ctx.solve_graph(item).invoke({"task": item.task, "agent": item.key.agent})
    except RECORDED_ERRORS as error:
        output = error
    result = ctx.outcome(item, output, started)
    ctx.transcribe(item, output)
    ctx.results.append(result)  # durable before the item counts as done
    ctx.streak.record(output)
    return result


async def _asolve_one(ctx: _Context, item: WorkItem, limit: asyncio.Semaphore) -> ItemResult:
    async with limit:
        started = datetime.now(UTC)
        output: Mapping[str, Any] | BaseException
        try:
            output = await ctx.solve_graph(item).ainvoke({"task": item.task, "agent": item.key.agent})
        except RECORDED_ERRORS as error:
            output = error
        result = ctx.outcome(item, output, started)
        await asyncio.to_thread(ctx.transcribe, item, output)
        await ctx.results.aappend(result)
        ctx.streak.record(output)
        return result


def _solve_items(ctx: _Context, items: Sequence[WorkItem]) -> None:
    """Solve ``items`` on a thread pool, in order; stop at the first unexpected error (or Ctrl-C).

    An item is handed to the pool only when a worker is free, so a stop never starts another one;
    the items in flight are waited for (a thread cannot be stopped; their results are valid and
    written), then the error propagates.
    """
    if not items:
        return
    workers = ctx.config.max_concurrency
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="memcollab-eval")
    queue = iter(items)
    failed = 0
    try:
        with _progress_bar(ctx, items) as bar:
            pending: set[Future[ItemResult]] = {
                pool.submit(_solve_one, ctx, i) for i in itertools.islice(queue, workers)
            }
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    failed += future.result().error is not None  # re-raises an unexpected error
                pending |= {pool.submit(_solve_one, ctx, i) for i in itertools.islice(queue, len(done))}
                bar.set_postfix(failed=failed, refresh=False)
                bar.update(len(done))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def _asolve_items(ctx: _Context, items: Sequence[WorkItem]) -> None:
    """Async :func:`_solve_items`: one task per item, ``max_concurrency`` at a time."""
    if not items:
        return
    limit = asyncio.Semaphore(ctx.config.max_concurrency)
    tasks = [asyncio.ensure_future(_asolve_one(ctx, item, limit)) for item in items]
    failed = 0
    try:
        with _progress_bar(ctx, items) as bar:
            for next_done in asyncio.as_completed(tasks):
                failed += (await next_done).error is not None
                bar.set_postfix(failed=failed, refresh=False)
                bar.update()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.contextmanager
def _run_lock(directory: Path) -> Iterator[None]:
    """One writing process per run directory (POSIX advisory lock; elsewhere, no check)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with (directory / _LOCK_FILE).open("a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                f"run directory {directory} is being written by another process; wait for it to finish, "
                "or give this run another run_id"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class _Started:
    results: ResultsStore
    pending: tuple[WorkItem, ...]
    banks: tuple[BankPlan, ...]
    """The distilled banks the pending items read."""
    curated: CuratedBank | None
    """The curated constraints, when pending items read them."""


def _plan(config: EvalConfig, runtime: Runtime) -> EvaluationPlan:
    """Load the tasks, guard against leakage and plan; nothing is written and no model is started."""
    plan = plan_evaluation(config, load_datasets(config), load_curated(config))
    missing = sorted({i.key.agent for i in plan.items} - {a.name for a in runtime.config.agents})
    if missing:
        raise ConfigurationError(f"the runtime has no agent(s) {missing}; open it with the evaluation's team")
    return plan


def _start(config: EvalConfig, plan: EvaluationPlan) -> _Started:
    """Check the run directory's settings, write the plan, and find what is left to do."""
    results = ResultsStore(config.results_root, config.run_id)
    check_same_settings(results, plan)
    results.write_plan(plan.run_plan())
    done = results.finished()
    pending = tuple(i for i in plan.items if i.key not in done)
    needed = {i.bank for i in pending if i.bank is not None}
    banks = tuple(b for name, b in plan.banks.items() if name in needed)
    curated = plan.curated if plan.curated is not None and plan.curated.name in needed else None
    return _Started(results, pending, banks, curated)


def _context(config: EvalConfig, runtime: Runtime, results: ResultsStore, progress: bool) -> _Context:
    cache = SqliteLLMCache(config.resolve(config.cache)) if config.cache is not None else None
    agents = {
        name: dataclasses.replace(agent, model=_configured(agent.model, cache, config.seed))
        for name, agent in runtime.agents.items()
    }
    return _Context(
        config=config,
        results=results,
        store=runtime.store,
        taxonomy=runtime.taxonomy,
        agents=agents,
        retry=RetryPolicy(max_attempts=config.retries, retry_on=is_transient),
        progress=progress,
        streak=FailureStreak(config.max_consecutive_failures),
        transcripts=TranscriptLog(results.directory),
        cache=cache,
    )


def run_evaluation(config: EvalConfig, runtime: Runtime, *, progress: bool = True) -> Path:
    """Run (or resume) the evaluation ``config`` describes and write its report; see the module docstring.

    Args:
        config: The evaluation.
        runtime: The team, opened (``with Runtime(config.team_for_run()) as runtime``). Its store holds
            the run's banks; use a persistent one (the default of ``team_for_run``) to resume.
        progress: Show progress bars (on standard error).

    Returns:
        The run directory (``items.jsonl``, ``plan.json``, ``banks.json``, ``summary.md``,
        ``results.json``, plots, ``checkpoints.sqlite`` and the run's memory store).

    Raises:
        ConfigurationError: Leakage, an invalid task file, a run directory started with other
            settings or in use by another process, an agent missing from the runtime.
        MemCollabError: Too many training tasks of a bank failed to build; run again to resume.
        ModelServerDown: ``max_consecutive_failures`` items in a row failed with connection or
            server errors; run again once the server is up.
        KeyboardInterrupt: Ctrl-C; what was written is kept and the next run resumes.

    Example:
        >>> import json, pathlib, tempfile
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.evaluation.config import parse_eval_config
        >>> from memcollab_langgraph.testing import FunctionChatModel
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "dev.jsonl").write_text(json.dumps({"id": "q1", "domain": "math",
        ...     "question": "What is 2 + 2?", "answer": "4"}) + "\\n")
        >>> config = parse_eval_config({"run_id": "doc", "results": str(root), "conditions": ["vanilla"],
        ...     "team": {"agents": [{"name": "a", "base_url": "http://127.0.0.1:9/v1"}]},
        ...     "datasets": [{"name": "toy", "eval": {"path": str(root / "dev.jsonl")}}]})
        >>> model = FunctionChatModel(lambda messages: "2 + 2 = 4. \\\\boxed{4}")
        >>> with Runtime(config.team_for_run(), models={"a": model}, store=InMemoryStore()) as rt:
        ...     run = run_evaluation(config, rt, progress=False)
        >>> sorted(p.name for p in run.glob("*.md")), len(model.calls)
        (['summary.md'], 1)
    """
    plan = _plan(config, runtime)
    with _run_lock(config.run_directory):
        started = _start(config, plan)
        if started.pending:
            ctx = _context(config, runtime, started.results, progress)
            try:
                with _build_checkpointer(ctx, started.banks):
                    drive(_program(ctx, started))
            finally:
                if ctx.cache is not None:
                    ctx.cache.close()
        write_report(started.results, seed=config.seed)
    return started.results.directory


async def arun_evaluation(config: EvalConfig, runtime: Runtime, *, progress: bool = True) -> Path:
    """Async :func:`run_evaluation` (builds with ``arun_tasks``, items solved with ``ainvoke``)."""
    plan = _plan(config, runtime)
    with _run_lock(config.run_directory):
        started = _start(config, plan)
        if started.pending:
            ctx = _context(config, runtime, started.results, progress)
            try:
                async with _abuild_checkpointer(ctx, started.banks):
                    await adrive(_program(ctx, started))
            finally:
                if ctx.cache is not None:
                    ctx.cache.close()
        await asyncio.to_thread(write_report, started.results, seed=config.seed)
    return started.results.directory


@contextlib.contextmanager
def _build_checkpointer(ctx: _Context, banks: Sequence[BankPlan]) -> Iterator[None]:
    if not banks:
        yield
        return
    with sqlite_checkpointer(ctx.results.directory / CHECKPOINTS_FILE) as saver:
        ctx.checkpointer = saver
        try:
            yield
        finally:
            ctx.checkpointer = None


@contextlib.asynccontextmanager
async def _abuild_checkpointer(ctx: _Context, banks: Sequence[BankPlan]) -> AsyncIterator[None]:
    if not banks:
        yield
        return
    async with asqlite_checkpointer(ctx.results.directory / CHECKPOINTS_FILE) as saver:
        ctx.checkpointer = saver
        try:
            yield
        finally:
            ctx.checkpointer = None
