"""The solve-with-memory graph: classify, retrieve, solve, and, with ground truth, verify and learn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import DEFAULT_FALLBACK, FallbackLevel, RankerName
from memcollab_langgraph.models import Agent, agents_by_name
from memcollab_langgraph.nodes import (
    SolveState,
    create_classifier_node,
    create_outcome_node,
    create_retriever_node,
    create_solver_node,
    create_verifier_node,
    route_after_solve,
)
from memcollab_langgraph.nodes.inputs import read_task
from memcollab_langgraph.nodes.prompts import DEFAULT_CONSTRAINTS_PREAMBLE
from memcollab_langgraph.schema import CategoryPath
from memcollab_langgraph.taxonomy import Taxonomy

__all__ = ["RetrievalVariant", "create_solve_graph", "route_after_verify", "whole_domain"]

RetrievalVariant = Literal["task_aware", "embedding_only", "none"]
"""``task_aware``: classify, then retrieve within the category (MemCollab). ``embedding_only``: no
classifier; rank every constraint of the task's domain by relevance (the ablation). ``none``: no memory."""


def whole_domain(state: Mapping[str, Any]) -> dict[str, Any]:
    """Set the retrieval scope to the task's whole domain (no category conditioning)."""
    task = read_task(state)
    return {"category": CategoryPath(domain=task.domain)}


def route_after_verify(state: Mapping[str, Any]) -> Literal["record_outcome", "__end__"]:
    """``"record_outcome"`` when constraints were retrieved and the solve was judged, else END."""
    verdict = state.get("verdict")
    return "record_outcome" if state.get("hits") and verdict is not None else "__end__"


def create_solve_graph(
    agents: Agent | Sequence[Agent],
    *,
    classifier: BaseChatModel | None = None,
    taxonomy: Taxonomy | str = "default",
    bank_name: str = "default",
    k: int = 3,
    fallback: FallbackLevel = DEFAULT_FALLBACK,
    model_aware: bool = False,
    include_candidates: bool = True,
    ranker: RankerName = "bm25",
    max_turns: int = 3,
    verify: bool = True,
    record_outcomes: bool = True,
    retrieval: RetrievalVariant = "task_aware",
    constraints_preamble: str = DEFAULT_CONSTRAINTS_PREAMBLE,
    stop_on_repeat: bool = False,
    retry_policy: RetryPolicy | None = None,
) -> StateGraph[SolveState]:
    """A graph answering one task (``task``) with one agent (``agent``) and the shared memory.

    ``classify -> retrieve -> solve [-> verify -> record_outcome]``. The classifier picks the task's
    category (falling back to a deterministic classifier on unusable output); the retriever returns the
    top ``k`` constraints of that category (its parent category when too few) from the
    bank ``bank_name`` in the graph's store; the solver renders them into its prompt and answers over
    up to ``max_turns`` reasoning turns. When the task carries ground truth the trajectory is
    verified and each retrieved constraint's utility for the solver's model is updated.

    Args:
        agents: One agent, or several (then ``state["agent"]`` picks one per run).
        classifier: The classifying model; default the (first) agent's model.
        taxonomy: Category labels (a :class:`Taxonomy` or a built-in name).
        bank_name: The memory bank read (and whose utility counters are updated).
        k: Constraints retrieved (the paper's retrieval budget p).
        fallback: The coarsest level retrieval falls back to when the category has fewer than ``k``:
            ``"exact"``, ``"category"`` (default) or ``"domain"`` (any category of the task's domain).
        model_aware: Only constraints whose provenance involves the solver's model family.
        include_candidates: ``False`` retrieves only ``validated`` constraints.
        ranker: ``"bm25"`` (the paper's lexical ranking), ``"embedding"`` or ``"auto"``.
        max_turns: Reasoning turns at most.
        verify: Verify against ground truth when the task has it.
        record_outcomes: Update the retrieved constraints' utility counters from the verdict.
        retrieval: ``"task_aware"`` (default), ``"embedding_only"`` (no classifier: the whole domain,
            ranked by ``ranker``) or ``"none"`` (no memory: the vanilla baseline).
        constraints_preamble: What the solver's system prompt says before the retrieved constraints.
        stop_on_repeat: End a solve when a reply repeats the previous reply's program (see
            :func:`~memcollab_langgraph.nodes.create_solver_node`).
        retry_policy: Retries for the model-calling nodes.

    Returns:
        An uncompiled ``StateGraph``: compile it with ``store=`` (and a checkpointer if you like).

    Example:
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.schema import Task
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(['{"category": "prealgebra", "subcategory": "percentages"}',
        ...                            "25% of 40 is 10, so 40 - 10 = 30. #### 30"])
        >>> graph = create_solve_graph(Agent(name="solo", model=model), taxonomy="math")
        >>> task = Task(id="d1", domain="math", question="A $40 shirt is 25% off. Price?", answer="30")
        >>> out = graph.compile(store=InMemoryStore()).invoke({"task": task})
        >>> str(out["category"]), out["trajectory"].answer, out["verdict"].correct
        ('math/prealgebra/percentages', '30', True)
    """
    team = list(agents_by_name([agents] if isinstance(agents, Agent) else agents).values())
    classify_model = classifier if classifier is not None else team[0].model

    if retrieval not in get_args(RetrievalVariant):
        raise ConfigurationError(f"retrieval must be one of {list(get_args(RetrievalVariant))}, got {retrieval!r}")

    graph = StateGraph(SolveState)
    solver = create_solver_node(
        team, max_turns=max_turns, constraints_preamble=constraints_preamble, stop_on_repeat=stop_on_repeat
    )
    graph.add_node("solve", solver, retry_policy=retry_policy)
    retriever = create_retriever_node(
        bank_name=bank_name,
        taxonomy=taxonomy,
        k=k,
        fallback=fallback,
        model_aware=model_aware,
        agents=team,
        include_candidates=include_candidates,
        ranker=ranker,
    )
    if retrieval == "task_aware":
        graph.add_node("classify", create_classifier_node(classify_model, taxonomy), retry_policy=retry_policy)
        graph.add_node("retrieve", retriever)
        graph.add_edge(START, "classify")
        graph.add_edge("classify", "retrieve")
        graph.add_edge("retrieve", "solve")
    elif retrieval == "embedding_only":
        scope: RunnableLambda[Any, dict[str, Any]] = RunnableLambda(whole_domain, name="scope")
        graph.add_node("scope", scope)
        graph.add_node("retrieve", retriever)
        graph.add_edge(START, "scope")
        graph.add_edge("scope", "retrieve")
        graph.add_edge("retrieve", "solve")
    else:
        graph.add_edge(START, "solve")
    if not verify:
        graph.add_edge("solve", END)
        return graph
    graph.add_node("verify", create_verifier_node())
    graph.add_conditional_edges("solve", route_after_solve, ["verify", END])
    if record_outcomes:
        graph.add_node("record_outcome", create_outcome_node(bank_name=bank_name))
        graph.add_conditional_edges("verify", route_after_verify, ["record_outcome", END])
        graph.add_edge("record_outcome", END)
    else:
        graph.add_edge("verify", END)
    return graph
