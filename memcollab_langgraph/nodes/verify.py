"""Verifier node: judge trajectories against ground truth; outcome node: update constraint utility.

Math answers are compared with ``math-verify`` (:func:`~memcollab_langgraph.verifiers.verify_math`),
programs run against the task's hidden tests in the sandbox
(:func:`~memcollab_langgraph.verifiers.verify_code`). A task with tests is judged as code, one with
an answer as math.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.memory.records import check_bank_name
from memcollab_langgraph.nodes.effects import NodeRunnable, Program, as_node, current_store, effect, perform
from memcollab_langgraph.nodes.inputs import read_hits, read_model, read_task, read_trajectories
from memcollab_langgraph.schema import Constraint, Task, Trajectory
from memcollab_langgraph.verifiers import Verdict, averify_code, verify_code, verify_math

__all__ = [
    "VerifierSettings",
    "averify_trajectory",
    "create_outcome_node",
    "create_verifier_node",
    "verify_trajectory",
]


def _is_code(task: Task) -> bool:
    return bool(task.tests or (task.entry_point and task.test_setup))


def _check_truth(task: Task) -> None:
    if not _is_code(task) and not (task.answer and task.answer.strip()):
        raise ConfigurationError(
            f"task {task.id!r} has no ground truth (no answer, no tests); route around the verifier "
            "with route_after_solve, or give the task an answer or tests"
        )


def verify_trajectory(task: Task, trajectory: Trajectory, *, timeout_s: float = 10.0) -> Verdict:
    """Judge one trajectory's answer against ``task``'s ground truth.

    Raises:
        ConfigurationError: The task has no ground truth.
    """
    _check_truth(task)
    if _is_code(task):
        return verify_code(task, trajectory.answer, timeout_s=timeout_s)
    return verify_math(task, trajectory.answer)


async def averify_trajectory(task: Task, trajectory: Trajectory, *, timeout_s: float = 10.0) -> Verdict:
    """Async :func:`verify_trajectory` (math-verify runs in a worker thread)."""
    _check_truth(task)
    if _is_code(task):
        return await averify_code(task, trajectory.answer, timeout_s=timeout_s)
    return await asyncio.to_thread(verify_math, task, trajectory.answer)


@dataclass(frozen=True, kw_only=True)
class VerifierSettings:
    """Settings of :func:`create_verifier_node`."""

    timeout_s: float = 10.0
    reverify: bool = False
    """Judge trajectories that already have a verdict again."""

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigurationError(f"timeout_s must be positive, got {self.timeout_s!r}")


def _program(settings: VerifierSettings, state: Mapping[str, Any]) -> Program[dict[str, Any]]:
    task = read_task(state)
    single = state.get("trajectory")
    pending = read_trajectories(state, task.id) if state.get("trajectories") else []
    if single is not None:
        pending.insert(0, read_model(single, Trajectory, "trajectory"))
    if not pending:
        raise ConfigurationError(
            f"nothing to verify for task {task.id!r}: the state has no 'trajectory' or 'trajectories'; "
            "put the verifier after a solver node"
        )
    judged: list[Trajectory] = []
    verdicts: list[Verdict] = []
    seen: set[tuple[str, int]] = set()
    for traj in pending:
        key = (traj.agent.name, traj.sample_index)
        if key in seen or (traj.correct is not None and not settings.reverify):
            continue
        seen.add(key)
        verdict = yield from perform(
            effect(verify_trajectory, averify_trajectory, task, traj, timeout_s=settings.timeout_s)
        )
        verdicts.append(verdict)
        judged.append(traj.model_copy(update={"correct": verdict.correct, "verdict_detail": verdict.detail}))
    update: dict[str, Any] = {"trajectories": judged}
    if single is not None and judged:
        update["trajectory"], update["verdict"] = judged[0], verdicts[0]
    return update


def create_verifier_node(*, timeout_s: float = 10.0, reverify: bool = False, name: str = "verify") -> NodeRunnable:
    """A node judging the trajectories of ``state["task"]`` against its ground truth.

    Reads ``task``, ``trajectory`` and/or ``trajectories``. Writes the judged copies (``correct`` and
    ``verdict_detail`` set): ``trajectory`` and ``verdict`` (the first one's
    :class:`~memcollab_langgraph.verifiers.Verdict`) when the state has a single trajectory, and
    ``trajectories`` (which :func:`~memcollab_langgraph.nodes.state.add_trajectories` merges by agent
    and sample, replacing the unjudged copies).

    Args:
        timeout_s: Sandbox wall-clock limit per code verification.
        reverify: Judge trajectories that already have a verdict again.
        name: The runnable's name.

    Raises:
        ConfigurationError: Bad settings; at run time, no trajectory or a task without ground truth.

    Example:
        >>> from memcollab_langgraph.schema import AgentRef, Task, Trajectory
        >>> task = Task(id="t", domain="math", question="3 + 4?", answer="7")
        >>> traj = Trajectory(task_id="t", agent=AgentRef(name="a", model="m"), answer="7.0")
        >>> update = create_verifier_node().invoke({"task": task, "trajectory": traj})
        >>> update["trajectory"].correct, update["verdict"].expected
        (True, '7')
    """
    settings = VerifierSettings(timeout_s=timeout_s, reverify=reverify)
    return as_node(name, lambda state: _program(settings, state))


def _outcome_program(bank_name: str, name: str, state: Mapping[str, Any]) -> Program[dict[str, Any]]:
    hits = read_hits(state)
    trajectory = state.get("trajectory")
    if trajectory is None or not hits:
        return {}
    traj = read_model(trajectory, Trajectory, "trajectory")
    if traj.correct is None:
        return {}  # unverified: nothing to learn
    bank = MemoryBank(current_store(name), name=bank_name)
    ids = [h.constraint.id for h in hits]
    updated: list[Constraint] = yield from perform(
        effect(bank.record_outcome, bank.arecord_outcome, ids, traj.agent.model, traj.correct)
    )
    return {"outcome_ids": [c.id for c in updated]}


def create_outcome_node(*, bank_name: str = "default", name: str = "record_outcome") -> NodeRunnable:
    """A node counting, for each retrieved constraint, one use by the solver's model and its success.

    Reads ``hits`` and the verified ``trajectory``; updates the bank's per-(constraint x consumer
    model) utility counters (:meth:`MemoryBank.record_outcome`). Writes ``outcome_ids``. Does
    nothing without hits or without a verdict.

    Example:
        >>> node = create_outcome_node(bank_name="default")
        >>> node.invoke({"hits": []})
        {}
    """
    check_bank_name(bank_name)
    return as_node(name, lambda state: _outcome_program(bank_name, name, state))
