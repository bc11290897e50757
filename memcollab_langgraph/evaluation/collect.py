"""Turn a solve graph's final state into an :class:`~memcollab_langgraph.evaluation.ItemResult` and a transcript.

The orchestration layer runs one solve per (condition, agent, task) and records it with
:func:`result_from_solve` (and its conversation with :func:`transcript_from_solve`), or records a
failure with :func:`failed_result`. They read the values
the solve graph writes (``trajectory``, ``verdict``, ``hits``, ``usage_log``, ``category``) as
objects or as the plain dicts a checkpoint gives back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation.results import ItemKey, ItemResult
from memcollab_langgraph.evaluation.transcripts import RetrievedConstraint, Transcript
from memcollab_langgraph.memory import MemoryHit
from memcollab_langgraph.nodes import ModelCall
from memcollab_langgraph.schema import Trajectory
from memcollab_langgraph.verifiers import Verdict

__all__ = ["failed_result", "result_from_solve", "transcript_from_solve"]

_M = TypeVar("_M", bound=BaseModel)


def _as(cls: type[_M], value: Any) -> _M | None:
    if value is None or isinstance(value, cls):
        return value
    return cls.model_validate(value)


def result_from_solve(
    output: Mapping[str, Any],
    *,
    run_id: str,
    condition: str,
    dataset: str,
    started_at: datetime,
    finished_at: datetime,
    memory_source: Sequence[str] = (),
    bank: str | None = None,
    code_version: str | None = None,
) -> ItemResult:
    """The result of one finished solve.

    Correctness is the verifier's ``verdict`` (else the trajectory's own ``correct``); tokens and
    calls add up every entry of ``usage_log`` (classifier and solver), falling back to the
    trajectory's usage when there is no log; latency is ``finished_at - started_at``.

    Args:
        output: The final state of a solve graph (``graph.invoke(...)``).
        run_id: The run.
        condition: The condition's name.
        dataset: The data set the task comes from.
        started_at: When the item started.
        finished_at: When it finished.
        memory_source: Agents whose trajectories built the memory read (empty without memory).
        bank: The memory bank read.
        code_version: The library version that ran the solve (:func:`~memcollab_langgraph.version.code_version`).

    Raises:
        ConfigurationError: The state has no ``trajectory`` (the solve did not run).

    Example:
        >>> from datetime import UTC, datetime
        >>> from memcollab_langgraph.schema import AgentRef, Trajectory
        >>> t = Trajectory(task_id="q1", agent=AgentRef(name="a", model="m"), answer="4", turns=1,
        ...                correct=True)
        >>> now = datetime.now(UTC)
        >>> r = result_from_solve({"trajectory": t}, run_id="r", condition="vanilla", dataset="toy",
        ...                       started_at=now, finished_at=now)
        >>> r.key, r.correct, r.turns
        (ItemKey(condition='vanilla', agent='a', dataset='toy', task_id='q1'), True, 1)
    """
    trajectory, verdict, hits = _solved(output)
    calls = [c for c in (_as(ModelCall, v) for v in output.get("usage_log") or []) if c is not None]
    by_step: dict[str, int] = {}
    for call in calls:
        by_step[call.step] = by_step.get(call.step, 0) + call.usage.total_tokens
    if calls:
        prompt = sum(c.usage.prompt_tokens for c in calls)
        completion = sum(c.usage.completion_tokens for c in calls)
        n_calls = sum(c.usage.calls for c in calls)
        cached = sum(c.usage.cached_calls for c in calls)
    else:
        usage = trajectory.usage
        prompt, completion, n_calls = usage.prompt_tokens, usage.completion_tokens, usage.calls
        cached = usage.cached_calls
    category = output.get("category")
    return ItemResult(
        run_id=run_id,
        condition=condition,
        agent=trajectory.agent.name,
        model=trajectory.agent.model,
        dataset=dataset,
        task_id=trajectory.task_id,
        correct=verdict.correct if verdict is not None else trajectory.correct,
        answer=trajectory.answer,
        turns=trajectory.turns,
        prompt_tokens=prompt,
        completion_tokens=completion,
        calls=n_calls,
        cached_calls=cached,
        tokens_by_step=by_step,
        latency_s=max(0.0, (finished_at - started_at).total_seconds()),
        category=str(category) if category is not None else None,
        retrieved_ids=[h.constraint.id for h in hits],
        retrieved_levels=[h.level for h in hits],
        memory_source=list(memory_source),
        bank=bank,
        started_at=started_at,
        finished_at=finished_at,
        code_version=code_version,
    )


def transcript_from_solve(output: Mapping[str, Any], *, run_id: str, condition: str, dataset: str) -> Transcript:
    """What the solver saw and said in a finished solve: the constraints retrieved, the conversation, the verdict.

    Raises:
        ConfigurationError: The state has no ``trajectory`` (the solve did not run).
    """
    trajectory, verdict, hits = _solved(output)
    category = output.get("category")
    stop = output.get("stop_reason")
    return Transcript(
        run_id=run_id,
        condition=condition,
        agent=trajectory.agent.name,
        dataset=dataset,
        task_id=trajectory.task_id,
        category=str(category) if category is not None else None,
        retrieved=[
            RetrievedConstraint(
                id=h.constraint.id, text=h.constraint.text, category=str(h.constraint.category), level=h.level
            )
            for h in hits
        ],
        messages=trajectory.messages,
        answer=trajectory.answer,
        correct=verdict.correct if verdict is not None else trajectory.correct,
        verdict=verdict.detail if verdict is not None else trajectory.verdict_detail,
        stop_reason=str(stop) if stop is not None else None,
    )


def _solved(output: Mapping[str, Any]) -> tuple[Trajectory, Verdict | None, list[MemoryHit]]:
    trajectory = _as(Trajectory, output.get("trajectory"))
    if trajectory is None:
        raise ConfigurationError(
            f"the solve output has no 'trajectory' (keys: {sorted(output)}); record a failure with "
            "failed_result instead"
        )
    verdict = _as(Verdict, output.get("verdict"))
    hits = [h for h in (_as(MemoryHit, v) for v in output.get("hits") or []) if h is not None]
    return trajectory, verdict, hits


def failed_result(
    key: ItemKey,
    error: BaseException | str,
    *,
    run_id: str,
    model: str,
    started_at: datetime,
    finished_at: datetime,
    memory_source: Sequence[str] = (),
    bank: str | None = None,
    code_version: str | None = None,
) -> ItemResult:
    """The record of an item that raised: no verdict, the error as ``"Type: message"``.

    A failed item is not *finished*: the next run tries it again.

    Example:
        >>> from datetime import UTC, datetime
        >>> now = datetime.now(UTC)
        >>> r = failed_result(ItemKey("vanilla", "a", "toy", "q1"), TimeoutError("no reply"), run_id="r",
        ...                   model="m", started_at=now, finished_at=now)
        >>> r.error, r.correct, r.finished
        ('TimeoutError: no reply', None, False)
    """
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return ItemResult(
        run_id=run_id,
        condition=key.condition,
        agent=key.agent,
        model=model,
        dataset=key.dataset,
        task_id=key.task_id,
        error=text,
        latency_s=max(0.0, (finished_at - started_at).total_seconds()),
        memory_source=list(memory_source),
        bank=bank,
        started_at=started_at,
        finished_at=finished_at,
        code_version=code_version,
    )
