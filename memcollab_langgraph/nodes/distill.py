"""Distiller: turn verified trajectories of one task into abstract constraints in the shared memory.

``method="contrastive"`` is MemCollab: the trajectories of different agents are split into preferred
and unpreferred (:func:`~memcollab_langgraph.nodes.preference.choose_preference`) and the distiller
model writes at most ``k`` constraints "When ..., enforce ...; avoid ..." from the contrast. The
paper's baselines are here too: ``"self"`` and ``"naive_transfer"`` distill each trajectory on its
own (the same procedure; the name records whose memory it is meant to be), ``"self_contrast"``
contrasts several samples of one agent with the same preference rules.

The reply is parsed with structured output first, JSON repair second, and rejected with a recorded
reason last (:func:`~memcollab_langgraph.nodes.parsing.parse_structured`). Each constraint is then
checked: a category label of the taxonomy (else the task's category), non-empty fields, at most
``k``, and no task-specific numbers, names or code
(:func:`~memcollab_langgraph.nodes.abstraction.task_specific_reason`). Accepted constraints go
through :meth:`MemoryBank.add_many` (dedup and merge) with their provenance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ConfigDict, Field

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import AddOutcome, MemoryBank
from memcollab_langgraph.memory.records import check_bank_name
from memcollab_langgraph.models import Agent, agents_by_name, model_id_of
from memcollab_langgraph.nodes.abstraction import (
    DistillerOutput,
    RejectedConstraint,
    RuleOutput,
    build_constraints,
    source_material,
)
from memcollab_langgraph.nodes.effects import NodeRunnable, Program, as_node, current_store, effect, perform
from memcollab_langgraph.nodes.inputs import read_category, read_task, read_trajectories
from memcollab_langgraph.nodes.llm import (
    ContextFull,
    ModelCall,
    StructuredMethod,
    StructuredReply,
    structured_effect,
    structured_within_context_effect,
)
from memcollab_langgraph.nodes.parsing import ParseMode, parse_structured
from memcollab_langgraph.nodes.preference import Preference, PreferenceRule, choose_preference
from memcollab_langgraph.nodes.prompts import contrastive_distiller_messages, single_distiller_messages
from memcollab_langgraph.nodes.story import StoryCheck
from memcollab_langgraph.schema import AgentRef, CategoryPath, ConstraintLabels, Provenance, Task, Trajectory
from memcollab_langgraph.taxonomy import Taxonomy, get_taxonomy

__all__ = [
    "DistillationReport",
    "DistillerMethod",
    "DistillerSettings",
    "create_distiller_node",
    "plan_distillations",
    "route_to_distiller",
]

DistillerMethod = Literal["contrastive", "self", "naive_transfer", "self_contrast"]
"""MemCollab's cross-agent contrast, or a baseline (see the module docstring)."""


class DistillationReport(BaseModel):
    """What one distillation did: the preference decision, the parse, and what was stored or rejected."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    method: DistillerMethod
    rule: PreferenceRule
    """The preference rule that applied (``single`` for the one-trajectory baselines)."""
    explanation: str
    preferred: list[AgentRef] = Field(default_factory=list)
    unpreferred: list[AgentRef] = Field(default_factory=list)
    skipped: bool = False
    distiller_model: str | None = None
    parse_mode: ParseMode | None = None
    """``None`` when no model call was made (skipped)."""
    reason: str | None = None
    """Why parsing needed repair or failed."""
    raw: str | None = None
    """The model's raw reply when it could not be parsed."""
    accepted: list[AddOutcome] = Field(default_factory=list)
    rejected: list[RejectedConstraint] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class DistillerSettings:
    """Settings of :func:`create_distiller_node`."""

    method: DistillerMethod = "contrastive"
    k: int = 3
    bank_name: str = "default"
    source_agent: str | None = None
    identical_threshold: float | None = 0.9
    max_transcript_chars: int = 4000
    structured_method: StructuredMethod | None = None
    labels: ConstraintLabels = "task"
    story_check: StoryCheck | None = None

    def __post_init__(self) -> None:
        if self.method not in get_args(DistillerMethod):
            raise ConfigurationError(f"method must be one of {list(get_args(DistillerMethod))}, got {self.method!r}")
        if self.labels not in get_args(ConstraintLabels):
            raise ConfigurationError(
                f"labels must be one of {list(get_args(ConstraintLabels))} (where a constraint's category "
                f"comes from), got {self.labels!r}"
            )
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigurationError(f"k must be a positive int (constraints per distillation), got {self.k!r}")
        check_bank_name(self.bank_name)
        if self.identical_threshold is not None and not 0.0 < self.identical_threshold <= 1.0:
            raise ConfigurationError(f"identical_threshold must be in (0, 1] or None, got {self.identical_threshold!r}")


def _single(t: Trajectory) -> Preference:
    verdict = {True: "correct", False: "incorrect", None: "unverified"}[t.correct]
    return Preference("single", t, [], f"one {verdict} trajectory of {t.agent.name}")


def _sides(plan: Preference) -> tuple[list[AgentRef], list[AgentRef]]:
    """Provenance sides. A single-trajectory source is recorded as preferred unless it was wrong."""
    if plan.preferred is None:
        return [], _refs(plan.unpreferred)
    if plan.rule == "single" and plan.preferred.correct is False:
        return [], [plan.preferred.agent]
    return [plan.preferred.agent], _refs(plan.unpreferred)


def plan_distillations(
    method: DistillerMethod,
    trajectories: Sequence[Trajectory],
    strength: Mapping[str, int],
    *,
    source_agent: str | None = None,
    identical_threshold: float | None = 0.9,
) -> list[Preference]:
    """The distillations to make for one task's trajectories: one per trajectory for ``self`` and
    ``naive_transfer``, one preference decision for ``contrastive`` and ``self_contrast``.

    Raises:
        ConfigurationError: ``self_contrast`` over several agents without ``source_agent``, or an
            unverified trajectory / unranked agent for the contrastive methods.
    """
    trajs = [t for t in trajectories if source_agent is None or t.agent.name == source_agent]
    if method in ("self", "naive_transfer"):
        return [_single(t) for t in trajs]
    if method == "self_contrast":
        agents = {t.agent.name for t in trajs}
        if len(agents) > 1:
            raise ConfigurationError(
                f"self_contrast contrasts one agent's samples, but trajectories come from {sorted(agents)}; "
                "set source_agent=..."
            )
        ranks = {**dict.fromkeys(agents, 0), **strength}
        return [choose_preference(trajs, ranks, identical_threshold=identical_threshold)]
    if len({t.agent.name for t in trajs}) < 2 and trajs:
        return [
            Preference(
                "too_few",
                None,
                explanation="contrastive distillation needs trajectories of at least two agents; "
                "use method='self_contrast' for one agent's samples",
            )
        ]
    return [choose_preference(trajs, strength, identical_threshold=identical_threshold)]


def _refs(trajs: Sequence[Trajectory]) -> list[AgentRef]:
    return list(dict.fromkeys(t.agent for t in trajs))


_MIN_TRANSCRIPT_CHARS = 500
"""The shortest transcripts the distiller is shown when the prompt has to be shortened to fit."""


def _transcript_budgets(max_chars: int) -> list[int]:
    """The transcript lengths to try, longest first: ``max_chars``, halved while above the minimum.

    Example:
        >>> _transcript_budgets(4000)
        [4000, 2000, 1000, 500]
        >>> _transcript_budgets(300)
        [300]
    """
    budgets = [max_chars]
    while budgets[-1] > _MIN_TRANSCRIPT_CHARS:
        budgets.append(max(budgets[-1] // 2, _MIN_TRANSCRIPT_CHARS))
    return budgets


def _distiller_messages(
    task: Task,
    plan: Preference,
    taxonomy: Taxonomy,
    settings: DistillerSettings,
    category: CategoryPath | None,
    max_chars: int,
) -> list[BaseMessage]:
    assert plan.preferred is not None
    if plan.rule == "single":
        return single_distiller_messages(
            task,
            plan.preferred,
            taxonomy=taxonomy,
            k=settings.k,
            category=category,
            max_chars=max_chars,
            labels=settings.labels,
        )
    return contrastive_distiller_messages(
        task,
        plan.preferred,
        plan.unpreferred,
        taxonomy=taxonomy,
        k=settings.k,
        category=category,
        max_chars=max_chars,
        labels=settings.labels,
    )


def _program(
    model: BaseChatModel,
    taxonomy: Taxonomy,
    strength: Mapping[str, int],
    settings: DistillerSettings,
    name: str,
    state: Mapping[str, Any],
) -> Program[dict[str, Any]]:
    task = read_task(state)
    if task.domain not in taxonomy.domains:
        raise ConfigurationError(f"task {task.id!r} has domain {task.domain!r}, unknown to taxonomy {taxonomy.name!r}")
    category = read_category(state, task)
    trajectories = read_trajectories(state, task.id)
    # Resolve the store before any model call: a graph compiled without one fails fast, not after paying.
    bank = MemoryBank(current_store(name), name=settings.bank_name, taxonomy=taxonomy)
    plans = plan_distillations(
        settings.method,
        trajectories,
        strength,
        source_agent=settings.source_agent,
        identical_threshold=settings.identical_threshold,
    )
    reports: list[DistillationReport] = []
    calls: list[ModelCall] = []
    for plan in plans:
        preferred, unpreferred = _sides(plan)
        base: dict[str, Any] = {
            "task_id": task.id,
            "method": settings.method,
            "rule": plan.rule,
            "explanation": plan.explanation,
            "preferred": preferred,
            "unpreferred": unpreferred,
        }
        if plan.preferred is None:
            reports.append(DistillationReport(**base, skipped=True))
            continue
        schema: type[RuleOutput | DistillerOutput] = RuleOutput if settings.labels == "task" else DistillerOutput
        notes: list[str] = []
        reply: StructuredReply | ContextFull | None = None
        for max_chars in _transcript_budgets(settings.max_transcript_chars):
            messages = _distiller_messages(task, plan, taxonomy, settings, category, max_chars)
            if max_chars > _MIN_TRANSCRIPT_CHARS:
                reply = yield from perform(
                    structured_within_context_effect(model, schema, messages, method=settings.structured_method)
                )
            else:  # the shortest transcripts: a refusal now is an error (the task itself is too long)
                reply = yield from perform(
                    structured_effect(model, schema, messages, method=settings.structured_method)
                )
            if isinstance(reply, StructuredReply):
                if max_chars < settings.max_transcript_chars:
                    notes.append(
                        f"transcripts clipped to {max_chars} characters (from {settings.max_transcript_chars}) "
                        "to fit the distiller's context window"
                    )
                break
        assert isinstance(reply, StructuredReply)  # the last budget's call either answered or raised
        parsed = parse_structured(reply.result, schema, list_key="constraints")
        distiller_id = reply.usage.model or model_id_of(model)
        calls.append(ModelCall(step="distill", usage=reply.usage, ok=parsed.ok, reason=parsed.reason))
        provenance = Provenance(
            source_task_ids=[task.id],
            preferred_agents=preferred,
            unpreferred_agents=unpreferred,
            distiller_models=[distiller_id],
            methods=[settings.method],
        )
        drafts = parsed.value.constraints if parsed.value is not None else []
        accepted, rejected, build_notes = build_constraints(
            drafts,
            k=settings.k,
            taxonomy=taxonomy,
            task=task,
            category=category,
            source=source_material(task, trajectories),
            provenance=provenance,
            story=settings.story_check,
        )
        outcomes: list[AddOutcome] = []
        if accepted:
            outcomes = yield from perform(effect(bank.add_many, bank.aadd_many, accepted))
        reports.append(
            DistillationReport(
                **base,
                distiller_model=distiller_id,
                parse_mode=parsed.mode,
                reason=parsed.reason,
                raw=parsed.raw if not parsed.ok else None,
                accepted=outcomes,
                rejected=rejected,
                notes=[*notes, *build_notes],
            )
        )
    return {"distillations": reports, "usage_log": calls}


def create_distiller_node(
    distiller_model: BaseChatModel | Agent,
    *,
    method: DistillerMethod = "contrastive",
    agents: Sequence[Agent] = (),
    k: int = 3,
    bank_name: str = "default",
    taxonomy: Taxonomy | str = "default",
    source_agent: str | None = None,
    identical_threshold: float | None = 0.9,
    max_transcript_chars: int = 4000,
    structured_method: StructuredMethod | None = None,
    labels: ConstraintLabels = "task",
    story_check: StoryCheck | None = None,
    name: str = "distill",
) -> NodeRunnable:
    """A node distilling the trajectories of ``state["task"]`` into constraints in the graph's store.

    Reads ``task``, ``trajectories`` (else ``trajectory``; verified, for the contrastive methods) and
    ``category`` (else ``classification`` or ``Task.category``: the category of every constraint with
    ``labels="task"``, else the fallback for a drafted label that is not in the taxonomy). Writes
    ``distillations`` (one :class:`DistillationReport` per distillation, with the rule applied, the
    parse mode and every rejection's reason) and ``usage_log``.

    Args:
        distiller_model: The model that distills (by default in MemCollab the strongest agent's).
        method: See :data:`DistillerMethod`.
        agents: The agents whose trajectories are contrasted, for their strength ranks.
        k: Constraints per distillation at most.
        bank_name: The MemoryBank to write in the graph's store.
        taxonomy: Labels the constraints may carry.
        source_agent: Only distill this agent's trajectories (the baselines).
        identical_threshold: See :func:`~memcollab_langgraph.nodes.preference.choose_preference`.
        max_transcript_chars: Each trajectory is clipped to this many characters in the prompt. When the
            server refuses the prompt as longer than the model's context, it is sent again with the
            transcripts clipped to half, down to 500 characters (a note in the report says so).
        structured_method: ``with_structured_output`` method; ``None`` is the model's default.
        labels: Where each constraint's category comes from (:data:`~memcollab_langgraph.schema.ConstraintLabels`):
            ``"task"`` (default) files every constraint under the task's category and keeps the taxonomy
            out of the prompt, where a small distiller drifts towards writing about the category names;
            ``"distiller"`` shows the taxonomy and lets the model label each constraint.
        story_check: Also reject constraints that restate the task's situation in words (rare words
            shared with the task, :class:`~memcollab_langgraph.nodes.story.StoryCheck`); ``None``: off.
        name: The runnable's name.

    Raises:
        ConfigurationError: Bad settings (``contrastive`` without ``agents``...).

    Example:
        >>> from langgraph.graph import START, StateGraph
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.nodes.state import BuildState
        >>> from memcollab_langgraph.schema import AgentRef, Task, Trajectory
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> big = Agent(name="big", model=ScriptedChatModel([]), strength=2)
        >>> small = Agent(name="small", model=ScriptedChatModel([]), strength=1)
        >>> reply = ('{"constraints": [{"when": "a rate is given per unit", "enforce": "multiply by '
        ...          'the count", "avoid": "adding the rate"}]}')
        >>> node = create_distiller_node(ScriptedChatModel([reply]), agents=[big, small], taxonomy="math")
        >>> graph = StateGraph(BuildState).add_node("distill", node).add_edge(START, "distill")
        >>> task = Task(id="t", domain="math", question="Pens cost 3 each; price of 5 pens?", answer="15",
        ...             category="math/prealgebra/rates")
        >>> trajs = [Trajectory(task_id="t", agent=big.ref, answer="8", correct=False),
        ...          Trajectory(task_id="t", agent=small.ref, answer="15", correct=True)]
        >>> out = graph.compile(store=InMemoryStore()).invoke({"task": task, "trajectories": trajs})
        >>> report = out["distillations"][0]
        >>> report.rule, [a.name for a in report.preferred], [o.action for o in report.accepted]
        ('one_correct', ['small'], ['added'])
    """
    model = distiller_model.model if isinstance(distiller_model, Agent) else distiller_model
    if not isinstance(model, BaseChatModel):
        raise ConfigurationError(
            f"distiller_model must be a chat model or an Agent, got {type(distiller_model).__name__}"
        )
    settings = DistillerSettings(
        method=method,
        k=k,
        bank_name=bank_name,
        source_agent=source_agent,
        identical_threshold=identical_threshold,
        max_transcript_chars=max_transcript_chars,
        structured_method=structured_method,
        labels=labels,
        story_check=story_check,
    )
    if method == "contrastive" and not agents:
        raise ConfigurationError(
            "method='contrastive' needs agents=[...]: their strength ranks decide the preferred trajectory "
            "when several (or none) are correct"
        )
    strength = {n: a.strength for n, a in agents_by_name(agents).items()} if agents else {}
    tax = get_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
    return as_node(name, lambda state: _program(model, tax, strength, settings, name, state))


def route_to_distiller(state: Mapping[str, Any]) -> Literal["distill", "__end__"]:
    """``"distill"`` when the task has trajectories and all of them are verified, else END."""
    task = read_task(state)
    trajectories = read_trajectories(state, task.id)
    ready = bool(trajectories) and all(t.correct is not None for t in trajectories)
    return "distill" if ready else "__end__"
