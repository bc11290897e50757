"""``build_memory``: distil shared memory from one training task with the configured team.

``classify -> solve x N agents (in parallel) -> verify -> distill`` (see
:func:`memcollab_langgraph.create_build_graph`). Input: ``{"task": {...}}`` with ground truth, e.g.
``{"task": {"id": "t1", "domain": "math", "question": "Pens cost 3 dollars each. Price of 5 pens?",
"answer": "15"}}``. The constraints go to the configuration's bank in the server's store
(:mod:`graphs.store`).

Assistant settings (``configurable``): ``method`` (``"contrastive"``, the default, or a baseline:
``"self"``, ``"naive_transfer"``, ``"self_contrast"``) and ``source_agent`` (whose trajectories a
single-agent baseline distils).
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph

from graphs.team import open_runtime
from memcollab_langgraph import BuildState, create_build_graph
from memcollab_langgraph.nodes import DistillerMethod
from memcollab_langgraph.runtime import Runtime

__all__ = ["build_graph", "make_graph"]


def build_graph(
    runtime: Runtime,
    *,
    method: DistillerMethod = "contrastive",
    source_agent: str | None = None,
    bank_name: str | None = None,
) -> StateGraph[BuildState]:
    """The build graph of ``runtime``'s team, distiller, classifier, taxonomy and bank (uncompiled)."""
    config = runtime.config
    story_check, _ = config.story_check()  # [distiller] story_reference, when set
    return create_build_graph(
        list(runtime.agents.values()),
        distiller=runtime.distiller,
        classifier=runtime.classifier.model,
        taxonomy=runtime.taxonomy,
        bank_name=bank_name or config.memory.bank,
        method=method,
        source_agent=source_agent,
        max_turns=config.max_turns,
        labels=config.distiller_labels,
        story_check=story_check,
    )


def make_graph(config: RunnableConfig) -> StateGraph[BuildState]:
    """Graph factory for ``langgraph dev``: the team of ``$MEMCOLLAB_CONFIG``, settings from ``configurable``."""
    settings = config.get("configurable") or {}
    return build_graph(
        open_runtime(),
        method=settings.get("method", "contrastive"),
        source_agent=settings.get("source_agent"),
    )
