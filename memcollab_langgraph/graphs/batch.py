"""Run a graph over many tasks with bounded concurrency, checkpointed, resumable, with progress.

Each task runs in its own checkpointer thread (``"<prefix>:<task id>"``). Before a run, every task's
thread is inspected: a finished thread is skipped, an interrupted one (an exception, a killed
process) is resumed from its last checkpoint, only the nodes that had not completed run again, and
a new one starts from ``{"task": task}``. A failing task does not stop the others; it is reported
and resumed by the next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.nodes import ModelCall
from memcollab_langgraph.schema import Task, Usage

__all__ = ["BatchReport", "TaskStatus", "arun_tasks", "run_tasks"]

TaskStatus = Literal["new", "interrupted", "done"]


class BatchReport(BaseModel):
    """What a batch run did, task by task, and what its LLM calls cost per model."""

    completed: list[str] = Field(default_factory=list)
    """Tasks that ran to the end in this run (new or resumed)."""
    resumed: list[str] = Field(default_factory=list)
    """Of those, the ones continued from an interrupted checkpoint."""
    skipped: list[str] = Field(default_factory=list)
    """Tasks an earlier run had already finished."""
    failed: dict[str, str] = Field(default_factory=dict)
    """Task id -> error, for tasks that raised (run again to resume them)."""
    usage: dict[str, Usage] = Field(default_factory=dict)
    """Per model id: calls, tokens and latency of the tasks completed in this run (a resumed task
    counts its calls from earlier runs too: its ``usage_log`` is checkpointed)."""


@dataclass(frozen=True)
class _Job:
    task: Task
    status: TaskStatus
    config: RunnableConfig

    @property
    def input(self) -> dict[str, Any] | None:
        return None if self.status == "interrupted" else {"task": self.task}


def _config(prefix: str, task: Task, max_concurrency: int) -> RunnableConfig:
    return {"configurable": {"thread_id": f"{prefix}:{task.id}"}, "max_concurrency": max_concurrency}


def _status(snapshot: StateSnapshot) -> TaskStatus:
    """A thread with pending nodes was interrupted; one with values and nothing pending finished."""
    if snapshot.next:
        return "interrupted"
    return "done" if snapshot.values else "new"


def _plan(
    tasks: Sequence[Task], configs: Sequence[RunnableConfig], statuses: Sequence[TaskStatus]
) -> tuple[BatchReport, list[_Job]]:
    report = BatchReport()
    jobs: list[_Job] = []
    for task, config, status in zip(tasks, configs, statuses, strict=True):
        if status == "done":
            report.skipped.append(task.id)
        else:
            jobs.append(_Job(task, status, config))
    return report, jobs


def _check(
    graph: CompiledStateGraph[Any, Any, Any, Any], tasks: Sequence[Task], prefix: str, max_concurrency: int
) -> list[RunnableConfig]:
    """Validate the arguments; the checkpointer thread config of each task."""
    if graph.checkpointer is None or graph.checkpointer is True or graph.checkpointer is False:
        raise ConfigurationError(
            "run_tasks needs a graph compiled with a checkpointer to resume interrupted work, e.g. "
            "graph.compile(checkpointer=SqliteSaver(...), store=...)"
        )
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ConfigurationError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise ConfigurationError(f"task id {task.id!r} appears twice; task ids must be unique in a batch")
        seen.add(task.id)
    return [_config(prefix, task, max_concurrency) for task in tasks]


def _record(report: BatchReport, job: _Job, output: Any) -> None:
    if isinstance(output, BaseException):
        report.failed[job.task.id] = f"{type(output).__name__}: {output}"
        return
    report.completed.append(job.task.id)
    if job.status == "interrupted":
        report.resumed.append(job.task.id)
    for call in output.get("usage_log", []) if isinstance(output, dict) else []:
        usage = (call if isinstance(call, ModelCall) else ModelCall.model_validate(call)).usage
        key = usage.model or "unknown"
        report.usage[key] = report.usage.get(key, Usage(model=usage.model)) + usage


def _progress(jobs: list[_Job], show: bool, desc: str) -> tqdm[Any]:
    return tqdm(total=len(jobs), desc=desc, unit="task", disable=not show)


def run_tasks(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    tasks: Iterable[Task],
    *,
    thread_prefix: str = "memcollab",
    max_concurrency: int = 2,
    progress: bool = True,
) -> BatchReport:
    """Run ``graph`` once per task, skipping finished tasks and resuming interrupted ones.

    Args:
        graph: A compiled graph whose input is ``{"task": Task}``, with a checkpointer.
        tasks: Tasks with unique ids.
        thread_prefix: Checkpointer threads are ``"<thread_prefix>:<task id>"``; use one prefix per
            build (e.g. the bank name) so that separate builds never see each other's progress.
        max_concurrency: Tasks run at the same time.
        progress: Show a progress bar.

    Raises:
        ConfigurationError: The graph has no checkpointer, duplicate task ids, a bad ``max_concurrency``.
        KeyboardInterrupt: Ctrl-C; tasks not yet started are not run, the ones in flight finish, and
            the next run resumes from there.

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.graphs import create_build_graph
        >>> from memcollab_langgraph.models import Agent
        >>> from memcollab_langgraph.testing import FunctionChatModel
        >>> solver = Agent(name="solo", model=FunctionChatModel(lambda messages: "#### 4"))
        >>> graph = create_build_graph([solver], method="self", distiller=FunctionChatModel(
        ...     lambda m: '{"constraints": []}'), taxonomy="math").compile(
        ...     checkpointer=InMemorySaver(), store=InMemoryStore())
        >>> tasks = [Task(id="a", domain="math", question="2 + 2?", answer="4")]
        >>> run_tasks(graph, tasks, progress=False).completed
        ['a']
        >>> run_tasks(graph, tasks, progress=False).skipped
        ['a']
    """
    tasks = list(tasks)
    configs = _check(graph, tasks, thread_prefix, max_concurrency)
    report, jobs = _plan(tasks, configs, [_status(graph.get_state(c)) for c in configs])
    if not jobs:
        return report
    # Not graph.batch_as_completed: it queues every task at once, so a worker takes the next queued task
    # before the main thread has seen a Ctrl-C. Here this (main) thread hands a task over only when a
    # worker is free.
    queued = iter(jobs)
    running: dict[Future[Any], _Job] = {}
    pool = ContextThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=thread_prefix)
    try:
        with _progress(jobs, progress, thread_prefix) as bar:
            while True:
                while len(running) < max_concurrency and (job := next(queued, None)) is not None:
                    running[pool.submit(_invoke, graph, job)] = job
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    _record(report, running.pop(future), future.result())
                bar.update(len(done))
    finally:
        pool.shutdown(wait=True)  # Ctrl-C: the tasks in flight finish; the next run starts the others
    return report


def _invoke(graph: CompiledStateGraph[Any, Any, Any, Any], job: _Job) -> Any:
    try:
        return graph.invoke(job.input, job.config)
    except Exception as e:  # one failing task does not stop the others; it is reported
        return e


async def arun_tasks(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    tasks: Iterable[Task],
    *,
    thread_prefix: str = "memcollab",
    max_concurrency: int = 2,
    progress: bool = True,
) -> BatchReport:
    """Async :func:`run_tasks`."""
    tasks = list(tasks)
    configs = _check(graph, tasks, thread_prefix, max_concurrency)
    report, jobs = _plan(tasks, configs, [_status(await graph.aget_state(c)) for c in configs])
    with _progress(jobs, progress, thread_prefix) as bar:
        if jobs:
            async for index, output in graph.abatch_as_completed(
                [j.input for j in jobs], [j.config for j in jobs], return_exceptions=True
            ):
                _record(report, jobs[index], output)
                bar.update()
    return report
