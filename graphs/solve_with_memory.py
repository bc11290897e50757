"""``solve_with_memory``: one agent of the team answers a task with the shared memory.

``classify -> retrieve -> solve -> verify -> record_outcome`` (see
:func:`memcollab_langgraph.create_solve_graph`). Input: ``{"task": {...}, "agent": "<agent name>"}``;
with an ``answer`` (or tests) in the task, the answer is verified and the retrieved constraints'
utility counters for the agent's model are updated. The output's ``hits`` show every retrieved
constraint with its score, fallback level and provenance.

Assistant settings (``configurable``): ``k``, the number of constraints retrieved (default the
configuration's ``[memory] k``).
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph

from graphs.team import open_runtime
from memcollab_langgraph import SolveState, create_solve_graph
from memcollab_langgraph.runtime import Runtime

__all__ = ["build_graph", "make_graph"]


def build_graph(runtime: Runtime, *, k: int | None = None, bank_name: str | None = None) -> StateGraph[SolveState]:
    """The solve graph over every agent of ``runtime`` (``state["agent"]`` picks one), uncompiled."""
    config = runtime.config
    return create_solve_graph(
        list(runtime.agents.values()),
        classifier=runtime.classifier.model,
        taxonomy=runtime.taxonomy,
        bank_name=bank_name or config.memory.bank,
        k=k or config.memory.k,
        fallback=config.memory.fallback,
        max_turns=config.max_turns,
    )


def make_graph(config: RunnableConfig) -> StateGraph[SolveState]:
    """Graph factory for ``langgraph dev``: the team of ``$MEMCOLLAB_CONFIG``, settings from ``configurable``."""
    settings = config.get("configurable") or {}
    return build_graph(open_runtime(), k=settings.get("k"))
