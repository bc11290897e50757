"""Verifier node (math-verify, sandboxed tests) and outcome node (utility counters)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.runnables import Runnable
from langgraph.graph import START, StateGraph
from langgraph.store.base import BaseStore

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.nodes import BuildState, SolveState, create_outcome_node, create_verifier_node
from memcollab_langgraph.schema import AgentRef, CategoryPath, Constraint, Task, Trajectory

Call = Callable[[Runnable[Any, Any], dict[str, Any]], dict[str, Any]]

MATH = Task(id="m", domain="math", question="Half of 3?", answer="\\frac{3}{2}")
CODE = Task(id="c", domain="code", question="add", tests=["assert add(1, 2) == 3", "assert add(0, 0) == 0"])
A = AgentRef(name="a", model="model-a", family="qwen")
B = AgentRef(name="b", model="model-b", family="llama")


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Call:
    def run(node: Runnable[Any, Any], state: dict[str, Any]) -> dict[str, Any]:
        if request.param == "sync":
            return node.invoke(state)  # type: ignore[no-any-return]
        return asyncio.run(node.ainvoke(state))

    return run


def _traj(task: Task, agent: AgentRef, answer: str | None, **kw: Any) -> Trajectory:
    return Trajectory(task_id=task.id, agent=agent, answer=answer, **kw)


@pytest.mark.parametrize(("answer", "correct"), [("1.5", True), ("3/2", True), ("2", False), (None, False)])
def test_math_verdicts(call: Call, answer: str | None, correct: bool) -> None:
    update = call(create_verifier_node(), {"task": MATH, "trajectory": _traj(MATH, A, answer)})
    assert update["trajectory"].correct is correct
    assert update["verdict"].correct is correct
    assert update["trajectory"].verdict_detail == update["verdict"].detail


def test_code_verdicts_use_the_hidden_tests(call: Call) -> None:
    good = _traj(CODE, A, "def add(a, b):\n    return a + b")
    bad = _traj(CODE, B, "def add(a, b):\n    return a - b")
    update = call(create_verifier_node(), {"task": CODE, "trajectories": [good, bad]})
    judged = {t.agent.name: t for t in update["trajectories"]}
    assert judged["a"].correct is True
    assert judged["b"].correct is False
    assert "assert add(1, 2) == 3" in (judged["b"].verdict_detail or "")
    assert "verdict" not in update  # several trajectories: no single verdict


def test_already_judged_trajectories_are_skipped_unless_reverify(call: Call) -> None:
    judged = _traj(MATH, A, "2", correct=True, verdict_detail="trusted")
    assert call(create_verifier_node(), {"task": MATH, "trajectories": [judged]})["trajectories"] == []
    again = call(create_verifier_node(reverify=True), {"task": MATH, "trajectories": [judged]})
    assert again["trajectories"][0].correct is False


def test_in_a_build_graph_judged_copies_replace_the_unjudged(call: Call) -> None:
    graph = StateGraph(BuildState).add_node("verify", create_verifier_node()).add_edge(START, "verify").compile()
    state = {"task": MATH, "trajectories": [_traj(MATH, A, "1.5"), _traj(MATH, B, "7")]}
    out = call(graph, state)
    assert [(t.agent.name, t.correct) for t in out["trajectories"]] == [("a", True), ("b", False)]


def test_no_ground_truth_or_nothing_to_verify_is_a_configuration_error(call: Call) -> None:
    bare = Task(id="x", domain="math", question="?")
    with pytest.raises(ConfigurationError, match="no ground truth"):
        call(create_verifier_node(), {"task": bare, "trajectory": _traj(bare, A, "1")})
    with pytest.raises(ConfigurationError, match="nothing to verify"):
        call(create_verifier_node(), {"task": MATH})


def test_outcome_node_updates_utility_for_the_consumer_model(store: BaseStore, call: Call) -> None:
    path = CategoryPath(domain="math", category="prealgebra")
    c = Constraint(when="halving", enforce="keep fractions exact", avoid="rounding", category=path)
    bank = MemoryBank(store)
    bank.add(c)
    [hit] = bank.query(path, "half")
    graph = (
        StateGraph(SolveState)
        .add_node("verify", create_verifier_node())
        .add_node("outcome", create_outcome_node())
        .add_edge(START, "verify")
        .add_edge("verify", "outcome")
        .compile(store=store)
    )
    out = call(graph, {"task": MATH, "trajectory": _traj(MATH, A, "1.5"), "hits": [hit]})
    assert out["outcome_ids"] == [c.id]
    stored = bank.get(c.id)
    assert stored is not None
    assert stored.utility["model-a"].uses == 1
    assert stored.utility["model-a"].successes == 1


def test_outcome_node_without_hits_or_verdict_does_nothing(call: Call) -> None:
    assert call(create_outcome_node(), {"hits": []}) == {}
