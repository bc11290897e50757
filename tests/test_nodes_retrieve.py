"""Retriever node inside a graph over InMemoryStore and ChromaStore; conflict heuristic."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.runnables import Runnable
from langgraph.graph import START, StateGraph
from langgraph.store.base import BaseStore

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes import SolveState, create_retriever_node, find_conflicts
from memcollab_langgraph.schema import AgentRef, CategoryPath, Constraint, Provenance, Task
from memcollab_langgraph.testing import ScriptedChatModel

QUADRATICS = CategoryPath(domain="math", category="algebra", subcategory="quadratics")
ALGEBRA = CategoryPath(domain="math", category="algebra")
QWEN = AgentRef(name="qwen-7b", model="qwen2.5-7b", family="qwen")
LLAMA = AgentRef(name="llama-8b", model="llama-3-8b", family="llama")
TASK = Task(id="q1", domain="math", question="Find the roots of the quadratic x^2 - 5x + 6 = 0.")


def _constraint(when: str, enforce: str, avoid: str, path: CategoryPath, agent: AgentRef) -> Constraint:
    prov = Provenance(source_task_ids=[f"src-{when[:5]}"], preferred_agents=[agent], methods=["contrastive"])
    return Constraint(when=when, enforce=enforce, avoid=avoid, category=path, provenance=prov)


def _seed(store: BaseStore) -> list[Constraint]:
    items = [
        _constraint("factoring a quadratic", "check both roots by substitution", "dropping a root", QUADRATICS, QWEN),
        _constraint("using the quadratic formula", "compute the discriminant first", "sign slips", QUADRATICS, LLAMA),
        _constraint("isolating a variable", "apply operations to both sides", "moving terms", ALGEBRA, QWEN),
        _constraint("simplifying radicals", "factor out perfect squares", "adding radicands", ALGEBRA, LLAMA),
    ]
    MemoryBank(store, taxonomy="math").add_many(items)
    return items


def _graph(node: Runnable[Any, Any], store: BaseStore) -> Any:
    return StateGraph(SolveState).add_node("retrieve", node).add_edge(START, "retrieve").compile(store=store)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _run(graph: Any, state: dict[str, Any], mode: str) -> dict[str, Any]:
    if mode == "sync":
        return graph.invoke(state)  # type: ignore[no-any-return]
    return asyncio.run(graph.ainvoke(state))


def test_hits_come_from_the_injected_store_with_score_level_and_provenance(store: BaseStore, mode: str) -> None:
    _seed(store)
    out = _run(
        _graph(create_retriever_node(k=3, taxonomy="math"), store),
        {"task": TASK, "category": QUADRATICS},
        mode,
    )
    hits = out["hits"]
    assert len(hits) == 3
    assert [h.level for h in hits] == ["exact", "exact", "category"]  # fell back to fill k
    assert hits[0].score_kind == "bm25"
    assert hits[0].score >= hits[1].score
    assert hits[0].constraint.when == "factoring a quadratic"  # "roots", "quadratic" match the question
    assert all(h.constraint.provenance.preferred_agents for h in hits)
    assert out["conflicts"] == []


def test_top_k_is_respected(store: BaseStore, mode: str) -> None:
    _seed(store)
    out = _run(_graph(create_retriever_node(k=1), store), {"task": TASK, "category": QUADRATICS}, mode)
    assert len(out["hits"]) == 1


def test_fallback_bounds_how_far_the_node_looks(store: BaseStore, mode: str) -> None:
    _seed(store)
    geometry = CategoryPath(domain="math", category="geometry", subcategory="triangles")
    state = {"task": TASK, "category": geometry}  # no geometry constraint: only the domain has some
    assert _run(_graph(create_retriever_node(k=3), store), state, mode)["hits"] == []
    wide = _run(_graph(create_retriever_node(k=3, fallback="domain"), store), state, mode)["hits"]
    assert [h.level for h in wide] == ["domain"] * 3
    near = _run(
        _graph(create_retriever_node(k=3, fallback="exact"), store), {"task": TASK, "category": QUADRATICS}, mode
    )
    assert [h.level for h in near["hits"]] == ["exact", "exact"], "the parent category is not searched"


def test_category_comes_from_classification_or_task(store: BaseStore, mode: str) -> None:
    _seed(store)
    labelled = TASK.model_copy(update={"category": ALGEBRA})
    out = _run(_graph(create_retriever_node(k=4), store), {"task": labelled}, mode)
    assert out["category"] == ALGEBRA
    assert len(out["hits"]) == 4


def test_model_aware_keeps_only_the_consumer_family(store: BaseStore, mode: str) -> None:
    _seed(store)
    agents = [Agent(name="llama-8b", model=ScriptedChatModel([]), family="llama")]
    node = create_retriever_node(k=3, model_aware=True, agents=agents)
    out = _run(_graph(node, store), {"task": TASK, "category": QUADRATICS, "agent": "llama-8b"}, mode)
    assert out["hits"]
    assert all(h.constraint.provenance.families == ["llama"] for h in out["hits"])
    assert {h.constraint.when for h in out["hits"]} == {"using the quadratic formula", "simplifying radicals"}


def test_candidates_can_be_excluded(store: BaseStore, mode: str) -> None:
    items = _seed(store)
    bank = MemoryBank(store, taxonomy="math")
    twin = items[0].model_copy(update={"id": "twin"})
    twin = twin.model_copy(update={"provenance": Provenance(source_task_ids=["other"], preferred_agents=[LLAMA])})
    assert bank.add(twin).status == "validated"  # merged: supported by two tasks
    node = create_retriever_node(k=3, include_candidates=False)
    out = _run(_graph(node, store), {"task": TASK, "category": QUADRATICS}, mode)
    assert [h.constraint.id for h in out["hits"]] == [items[0].id]


def test_conflicting_hits_are_reported(store: BaseStore, mode: str) -> None:
    a = _constraint("dividing counts", "use integer division for counts", "float results", ALGEBRA, QWEN)
    b = _constraint("dividing totals", "keep exact fractions", "integer division of counts", ALGEBRA, LLAMA)
    MemoryBank(store).add_many([a, b])
    out = _run(_graph(create_retriever_node(), store), {"task": TASK, "category": ALGEBRA}, mode)
    [conflict] = out["conflicts"]
    assert (conflict.enforcing_id, conflict.avoiding_id) == (a.id, b.id)
    assert conflict.shared_terms == ["count", "division", "integer"]


def test_empty_bank_gives_no_hits(store: BaseStore, mode: str) -> None:
    out = _run(_graph(create_retriever_node(), store), {"task": TASK, "category": QUADRATICS}, mode)
    assert out["hits"] == []
    assert out["conflicts"] == []


def test_outside_a_graph_the_missing_store_is_named() -> None:
    node = create_retriever_node()
    with pytest.raises(ConfigurationError, match="store"):
        node.invoke({"task": TASK, "category": QUADRATICS})
    with pytest.raises(ConfigurationError, match="store"):
        asyncio.run(node.ainvoke({"task": TASK, "category": QUADRATICS}))


def test_missing_category_and_unknown_agent_are_configuration_errors(store: BaseStore) -> None:
    with pytest.raises(ConfigurationError, match="category"):
        _graph(create_retriever_node(), store).invoke({"task": TASK})
    agents = [Agent(name="a", model=ScriptedChatModel([]), family="qwen")]
    node = create_retriever_node(model_aware=True, agents=agents)
    with pytest.raises(ConfigurationError, match="'nobody'"):
        _graph(node, store).invoke({"task": TASK, "category": QUADRATICS, "agent": "nobody"})


def test_bad_settings_are_rejected_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="k must be"):
        create_retriever_node(k=0)
    with pytest.raises(ConfigurationError, match="agents"):
        create_retriever_node(model_aware=True)
    with pytest.raises(ConfigurationError, match="ranker"):
        create_retriever_node(ranker="tfidf")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="fallback must be one of"):
        create_retriever_node(fallback="everything")  # type: ignore[arg-type]


def test_agreeing_polarity_is_not_a_conflict() -> None:
    a = _constraint("reading input", "check empty input edge cases", "crashing", ALGEBRA, QWEN)
    b = _constraint("reading input", "validate first", "ignoring empty input edge cases", ALGEBRA, LLAMA)
    assert find_conflicts([a, b]) == []
    c = _constraint("reading input", "trust the input", "checking empty input edge cases", ALGEBRA, LLAMA)
    assert [(x.enforcing_id, x.avoiding_id) for x in find_conflicts([a, c])] == [(a.id, c.id)]
