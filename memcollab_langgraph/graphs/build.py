"""The build-memory graph: each task goes to every agent in parallel, is verified, then distilled."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.models import Agent, agents_by_name
from memcollab_langgraph.nodes import (
    BuildState,
    DistillerMethod,
    StoryCheck,
    create_classifier_node,
    create_distiller_node,
    create_solver_node,
    create_verifier_node,
    fan_out_to_agents,
    route_to_distiller,
)
from memcollab_langgraph.schema import ConstraintLabels
from memcollab_langgraph.taxonomy import Taxonomy

__all__ = ["create_build_graph", "strongest"]


def strongest(agents: Sequence[Agent]) -> Agent:
    """The agent ranked strongest (highest ``strength``; ties go to the first given)."""
    if not agents:
        raise ConfigurationError("at least one agent is needed")
    return max(agents, key=lambda a: a.strength)


def create_build_graph(
    agents: Sequence[Agent],
    *,
    distiller: Agent | BaseChatModel | None = None,
    classifier: BaseChatModel | None = None,
    taxonomy: Taxonomy | str = "default",
    bank_name: str = "default",
    method: DistillerMethod = "contrastive",
    samples: int = 1,
    k: int = 3,
    max_turns: int = 3,
    source_agent: str | None = None,
    labels: ConstraintLabels = "task",
    story_check: StoryCheck | None = None,
    retry_policy: RetryPolicy | None = None,
) -> StateGraph[BuildState]:
    """A graph building shared memory from one training task (state key ``task``).

    ``classify -> solve x N (Send, in parallel) -> verify -> distill``. The classifier labels the
    task (its known label is used when valid, ``use_task_label="prefer"``); every agent solves it
    (``samples`` times each, for self-contrast); each trajectory is judged against the ground truth;
    the distiller contrasts them and writes constraints through the :class:`MemoryBank` named
    ``bank_name`` in the graph's store. Run it over a task file with
    :func:`~memcollab_langgraph.graphs.run_build`, which checkpoints and resumes.

    Args:
        agents: The team. Their ``strength`` ranks decide the preferred trajectory when several (or
            none) are correct.
        distiller: The distilling model; default the strongest agent (as in the paper).
        classifier: The classifying model; default the distiller's.
        taxonomy: Category labels (a :class:`Taxonomy` or a built-in name).
        bank_name: The memory bank written in the graph's store.
        method: ``"contrastive"`` (MemCollab) or a baseline: ``"self"``, ``"naive_transfer"``
            (one agent's trajectories, give ``source_agent``), ``"self_contrast"`` (one agent's
            ``samples``; give that agent a sampling temperature).
        samples: Solves per agent.
        k: Constraints per distillation at most.
        max_turns: Reasoning turns per solve.
        source_agent: For the single-agent baselines: whose trajectories are distilled.
        labels: Where each constraint's category comes from: the task's classification (``"task"``)
            or the distiller's own label (``"distiller"``); see :func:`create_distiller_node`.
        story_check: Also reject constraints that restate the task's situation in words; build it from
            the training questions with :meth:`StoryCheck.from_texts`. ``None``: off.
        retry_policy: Retries for the model-calling nodes (network errors, rate limits).

    Returns:
        An uncompiled ``StateGraph``: compile it with your checkpointer and ``store=``.

    Example:
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.schema import Task
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> big = Agent(name="big", model=ScriptedChatModel(["The total is 15. #### 15"]), strength=2)
        >>> small = Agent(name="small", model=ScriptedChatModel(["5 + 3 = 8. #### 8"]), strength=1)
        >>> rule = ('{"constraints": [{"when": "a price is given per item", "enforce": "multiply by the '
        ...         'number of items", "avoid": "adding the price to the count", "category": '
        ...         '"prealgebra", "subcategory": "arithmetic_word_problems"}]}')
        >>> graph = create_build_graph([big, small], distiller=ScriptedChatModel([rule]), taxonomy="math")
        >>> task = Task(id="t1", domain="math", question="Pens cost 3 each. Price of 5 pens?", answer="15",
        ...             category="math/prealgebra/arithmetic_word_problems")
        >>> out = graph.compile(store=InMemoryStore()).invoke({"task": task})
        >>> [(t.agent.name, t.correct) for t in out["trajectories"]]
        [('big', True), ('small', False)]
        >>> [o.action for o in out["distillations"][0].accepted]
        ['added']
    """
    team = list(agents_by_name(agents).values())
    if method in ("self", "naive_transfer") and source_agent is None and len(team) > 1:
        raise ConfigurationError(
            f"method={method!r} distills one agent's trajectories: pass source_agent= one of {[a.name for a in team]}"
        )
    chosen = distiller if distiller is not None else strongest(team)
    distill_model = chosen.model if isinstance(chosen, Agent) else chosen
    classify_model = classifier if classifier is not None else distill_model

    graph = StateGraph(BuildState)
    graph.add_node(
        "classify",
        create_classifier_node(classify_model, taxonomy, use_task_label="prefer"),
        retry_policy=retry_policy,
    )
    graph.add_node("solve", create_solver_node(team, max_turns=max_turns), retry_policy=retry_policy)
    graph.add_node("verify", create_verifier_node())
    graph.add_node(
        "distill",
        create_distiller_node(
            chosen,
            method=method,
            agents=team,
            k=k,
            bank_name=bank_name,
            taxonomy=taxonomy,
            source_agent=source_agent,
            labels=labels,
            story_check=story_check,
        ),
        retry_policy=retry_policy,
    )
    graph.add_edge(START, "classify")
    graph.add_conditional_edges("classify", fan_out_to_agents(team, node="solve", samples=samples), ["solve"])
    graph.add_edge("solve", "verify")
    graph.add_conditional_edges("verify", route_to_distiller, ["distill", END])
    graph.add_edge("distill", END)
    return graph
