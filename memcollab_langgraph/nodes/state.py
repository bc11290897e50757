"""State shapes of the MemCollab graphs, and their reducers.

Two graphs are built from the nodes:

* **Solve with memory** (:class:`SolveState`): classify -> retrieve -> solve -> verify (optional)
  -> record outcome (optional), for one task and one agent.
* **Build memory** (:class:`BuildState`): fan out the task to N agents with ``Send``
  (:func:`~memcollab_langgraph.nodes.solve.fan_out_to_agents`), each solve appends its trajectory,
  then verify -> distill.

Every key is optional (``total=False``) so a graph may start from any prefix of the pipeline; each
node documents the keys it reads and writes. Values are the library's pydantic objects; nodes also
accept them as plain dicts (a run started from JSON). Keys a node writes but a state lacks are
ignored by LangGraph, which is how the solver serves both states.
"""

from __future__ import annotations

import operator
import typing
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from memcollab_langgraph.memory import MemoryHit
from memcollab_langgraph.nodes.classify import Classification
from memcollab_langgraph.nodes.distill import DistillationReport
from memcollab_langgraph.nodes.llm import ModelCall
from memcollab_langgraph.nodes.retrieve import ConstraintConflict
from memcollab_langgraph.nodes.turns import StopReason
from memcollab_langgraph.schema import CategoryPath, Task, Trajectory
from memcollab_langgraph.verifiers import Verdict

__all__ = ["BuildState", "SolveState", "add_trajectories", "checkpoint_serde", "checkpoint_types"]


def add_trajectories(left: list[Trajectory] | None, right: list[Trajectory] | None) -> list[Trajectory]:
    """Reducer of ``trajectories``: append, but replace a trajectory of the same task, agent and sample.

    It behaves like ``operator.add`` for the parallel solves of a ``Send`` fan-out (each branch adds
    a new trajectory), and lets the verifier write back judged copies without duplicating them.

    Example:
        >>> from memcollab_langgraph.schema import AgentRef
        >>> a = Trajectory(task_id="t", agent=AgentRef(name="a", model="m"))
        >>> b = Trajectory(task_id="t", agent=AgentRef(name="b", model="m"))
        >>> merged = add_trajectories([a, b], [a.model_copy(update={"correct": True})])
        >>> [(t.agent.name, t.correct) for t in merged]
        [('a', True), ('b', None)]
    """
    out = list(left or [])
    index = {(t.task_id, t.agent.name, t.sample_index): i for i, t in enumerate(out)}
    for t in right or []:
        key = (t.task_id, t.agent.name, t.sample_index)
        if key in index:
            out[index[key]] = t
        else:
            index[key] = len(out)
            out.append(t)
    return out


class SolveState(TypedDict, total=False):
    """State of a solve-with-memory graph: one task, one agent."""

    task: Task
    """The task to solve (input)."""
    agent: str
    """Name of the agent that solves; picks the agent of a multi-agent solver and the consumer family
    of model-aware retrieval (input)."""
    sample_index: int
    """Index of this sample among several of the same agent (input, default 0)."""
    category: CategoryPath
    """The task's category (classifier output, or input when known)."""
    classification: Classification
    """How the category was decided: by the model or a fallback, and why (classifier)."""
    hits: list[MemoryHit]
    """Retrieved constraints with score, fallback level and provenance (retriever)."""
    conflicts: list[ConstraintConflict]
    """Pairs of hits where one enforces what the other avoids (retriever)."""
    trajectory: Trajectory
    """The solve: messages, answer, turns, usage, latency, agent (solver; judged by the verifier)."""
    stop_reason: StopReason
    """Why the solve ended (solver)."""
    verdict: Verdict
    """The verifier's judgement of ``trajectory`` (verifier)."""
    outcome_ids: list[str]
    """Constraints whose utility counters were updated (outcome node)."""
    usage_log: Annotated[list[ModelCall], operator.add]
    """Every LLM call: step, agent, model, tokens, latency, and whether the reply was usable."""


class BuildState(TypedDict, total=False):
    """State of a build-memory graph: one task solved by several agents, then distilled."""

    task: Task
    """The training task, with ground truth (input)."""
    category: CategoryPath
    """The task's category, used when a drafted constraint's label is unusable (input or classifier)."""
    classification: Classification
    """How the category was decided (classifier)."""
    trajectories: Annotated[list[Trajectory], add_trajectories]
    """One trajectory per agent (and sample), appended by parallel solver branches, judged in place
    by the verifier (solver, verifier)."""
    distillations: Annotated[list[DistillationReport], operator.add]
    """What each distillation decided, stored and rejected (distiller)."""
    usage_log: Annotated[list[ModelCall], operator.add]
    """Every LLM call of the run."""


def _models_in(hint: Any, found: dict[str, type[BaseModel]]) -> None:
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        found[f"{hint.__module__}.{hint.__qualname__}"] = hint
    for arg in typing.get_args(hint):
        _models_in(arg, found)


def checkpoint_types() -> tuple[type[BaseModel], ...]:
    """The pydantic classes a checkpoint of a MemCollab graph can hold: those of :class:`SolveState`
    and :class:`BuildState` (nested models are stored inside their parent's record).

    Example:
        >>> sorted(t.__name__ for t in checkpoint_types())[:3]
        ['CategoryPath', 'Classification', 'ConstraintConflict']
    """
    found: dict[str, type[BaseModel]] = {}
    for state in (SolveState, BuildState):
        for hint in typing.get_type_hints(state, include_extras=True).values():
            _models_in(hint, found)
    return tuple(found[name] for name in sorted(found))


def checkpoint_serde() -> JsonPlusSerializer:
    """A checkpoint serializer that restores exactly the library's state types and LangGraph's safe ones.

    LangGraph's default serializer restores any class it finds in a checkpoint and warns about each
    one it does not know ("Deserializing unregistered type ..."); this one names the classes of
    :func:`checkpoint_types`, so resuming a graph is silent and a checkpoint naming another class
    is not turned into an object. Pass it to a checkpointer: ``SqliteSaver(conn, serde=checkpoint_serde())``.

    Example:
        >>> from memcollab_langgraph.schema import CategoryPath
        >>> serde = checkpoint_serde()
        >>> serde.loads_typed(serde.dumps_typed(CategoryPath.parse("math/algebra")))
        CategoryPath(domain='math', category='algebra', subcategory=None)
    """
    return JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__qualname__) for t in checkpoint_types()])
