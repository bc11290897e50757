"""The nodes composed into small graphs over InMemoryStore and ChromaStore, sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore

from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes import (
    BuildState,
    SolveState,
    create_classifier_node,
    create_distiller_node,
    create_retriever_node,
    create_solver_node,
    create_verifier_node,
    fan_out_to_agents,
    route_after_solve,
    route_to_distiller,
)
from memcollab_langgraph.schema import AgentRef, CategoryPath, Constraint, Provenance, Task
from memcollab_langgraph.testing import FunctionChatModel, ScriptedChatModel

PERCENT = CategoryPath(domain="math", category="prealgebra", subcategory="percentages")
TASK = Task(
    id="p1",
    domain="math",
    question="A shirt costs $40 and is discounted by 25 percent. New price?",
    answer="30",
)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _run(graph: Any, state: dict[str, Any], mode: str) -> dict[str, Any]:
    if mode == "sync":
        return graph.invoke(state)  # type: ignore[no-any-return]
    return asyncio.run(graph.ainvoke(state))


def _seed(store: BaseStore) -> list[Constraint]:
    origin = Provenance(preferred_agents=[AgentRef(name="big", model="big-model", family="qwen")])
    items = [
        Constraint(
            when="a price is discounted by a percent",
            enforce="subtract the percent of the original price",
            avoid="subtracting the percent as a number",
            category=PERCENT,
            provenance=origin,
        ),
        Constraint(
            when="a percent change is asked",
            enforce="divide the change by the original value",
            avoid="dividing by the new value",
            category=PERCENT,
            provenance=origin,
        ),
    ]
    MemoryBank(store, taxonomy="math").add_many(items)
    return items


def test_solve_with_memory_graph_puts_retrieved_constraints_in_the_solver_prompt(store: BaseStore, mode: str) -> None:
    seeded = _seed(store)

    def solve(messages: list[BaseMessage]) -> str:
        system = messages[0].text
        for c in seeded:
            assert c.text in system, f"retrieved constraint not in the solver prompt: {c.text}"
        return "25 percent of 40 is 10, so the answer is \\boxed{30}."

    solver = FunctionChatModel(solve, model_name="small-model")
    classifier = ScriptedChatModel(['{"category": "prealgebra", "subcategory": "percentages"}'], model_name="cheap")
    agent = Agent(name="small", model=solver, family="llama")
    graph = (
        StateGraph(SolveState)
        .add_node("classify", create_classifier_node(classifier, "math"))
        .add_node("retrieve", create_retriever_node(k=3, taxonomy="math"))
        .add_node("solve", create_solver_node(agent))
        .add_node("verify", create_verifier_node())
        .add_edge(START, "classify")
        .add_edge("classify", "retrieve")
        .add_edge("retrieve", "solve")
        .add_conditional_edges("solve", route_after_solve, ["verify", END])
        .add_edge("verify", END)
        .compile(store=store)
    )
    out = _run(graph, {"task": TASK, "agent": "small"}, mode)
    assert {h.constraint.id for h in out["hits"]} == {c.id for c in seeded}
    assert out["trajectory"].correct is True
    assert out["verdict"].correct is True
    assert [r.step for r in out["usage_log"]] == ["classify", "solve"]
    assert [r.usage.model for r in out["usage_log"]] == ["cheap", "small-model"]
    assert len(solver.calls) == 1


def test_build_memory_graph_fans_out_to_agents_and_distills(store: BaseStore, mode: str) -> None:
    big = Agent(
        name="big",
        model=ScriptedChatModel(["So 40 - 25 = 15. \\boxed{15}"], model_name="big-model"),
        family="qwen",
        strength=2,
    )
    small = Agent(
        name="small",
        model=ScriptedChatModel(["0.25 * 40 = 10; 40 - 10 = 30. \\boxed{30}"], model_name="small-model"),
        family="llama",
        strength=1,
    )
    draft = {
        "when": "a price is reduced by a percent",
        "enforce": "take the percent of the original price first",
        "avoid": "subtracting the percent as if it were an amount",
        "category": "prealgebra",
        "subcategory": "percentages",
    }

    def distill(messages: list[BaseMessage]) -> str:
        prompt = messages[-1].text
        assert "'30'" in prompt
        assert "'15'" in prompt
        return json.dumps({"constraints": [draft]})

    distiller = FunctionChatModel(distill, model_name="big-model")
    agents = [big, small]
    graph = (
        StateGraph(BuildState)
        .add_node("solve", create_solver_node(agents))
        .add_node("verify", create_verifier_node())
        # No classifier in this graph: the distiller labels its constraints.
        .add_node("distill", create_distiller_node(distiller, agents=agents, taxonomy="math", labels="distiller"))
        .add_conditional_edges(START, fan_out_to_agents(agents), ["solve"])
        .add_edge("solve", "verify")
        .add_conditional_edges("verify", route_to_distiller, ["distill", END])
        .add_edge("distill", END)
        .compile(store=store)
    )
    out = _run(graph, {"task": TASK}, mode)
    assert sorted((t.agent.name, t.correct) for t in out["trajectories"]) == [("big", False), ("small", True)]
    [report] = out["distillations"]
    assert report.rule == "one_correct"
    assert [o.action for o in report.accepted] == ["added"]
    [stored] = MemoryBank(store).list_constraints()
    assert [a.name for a in stored.provenance.preferred_agents] == ["small"]
    assert [a.name for a in stored.provenance.unpreferred_agents] == ["big"]
    assert stored.provenance.distiller_models == ["big-model"]
    assert sorted(r.step for r in out["usage_log"]) == ["distill", "solve", "solve"]
