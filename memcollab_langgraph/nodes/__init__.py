"""The reusable LangGraph nodes of MemCollab, and the state shapes they share.

Each ``create_*_node`` factory returns a ``RunnableLambda`` with one implementation behind both
``invoke`` and ``ainvoke`` (see :mod:`.effects`). Nodes never build their own store or model: the
store is the running graph's (``compile(store=...)``), models come from the caller.

Modules, one concept each: ``classify`` (task -> category, with a deterministic fallback),
``retrieve`` (category-conditioned constraints, conflict check), ``solve`` and ``turns`` (multi-turn
solving with sandbox feedback), ``verify`` (verdicts; utility counters), ``preference`` (preferred /
unpreferred rules), ``distill``, ``abstraction`` and ``story`` (constraints from trajectories,
rejecting task-specific ones and restatements of the task's situation), ``prompts``, ``parsing``
(structured output, JSON repair, rejection), ``llm`` (model calls with usage), ``inputs`` (reading
state) and ``state`` (``SolveState``, ``BuildState`` and ``checkpoint_serde``, the checkpoint
serializer that knows their types).
"""

from __future__ import annotations

from memcollab_langgraph.nodes.abstraction import (
    DistillerOutput,
    DraftConstraint,
    DraftRule,
    RejectedConstraint,
    RuleOutput,
    SourceMaterial,
    build_constraints,
    source_material,
    task_specific_reason,
)
from memcollab_langgraph.nodes.classify import (
    CategoryChoice,
    Classification,
    ClassificationSource,
    ClassifierSettings,
    TaskLabelUse,
    create_classifier_node,
    deterministic_classify,
)
from memcollab_langgraph.nodes.distill import (
    DistillationReport,
    DistillerMethod,
    DistillerSettings,
    create_distiller_node,
    plan_distillations,
    route_to_distiller,
)
from memcollab_langgraph.nodes.effects import NodeRunnable
from memcollab_langgraph.nodes.llm import ModelCall, StructuredMethod
from memcollab_langgraph.nodes.parsing import Parsed, ParseMode, parse_structured
from memcollab_langgraph.nodes.preference import Preference, PreferenceRule, choose_preference
from memcollab_langgraph.nodes.prompts import render_constraints
from memcollab_langgraph.nodes.retrieve import (
    ConstraintConflict,
    RetrieverSettings,
    create_retriever_node,
    find_conflicts,
)
from memcollab_langgraph.nodes.solve import (
    SolverSettings,
    create_solver_node,
    fan_out_to_agents,
    route_after_solve,
)
from memcollab_langgraph.nodes.state import BuildState, SolveState, add_trajectories, checkpoint_serde, checkpoint_types
from memcollab_langgraph.nodes.story import StoryCheck
from memcollab_langgraph.nodes.turns import StopReason, TurnPlan, plan_turn
from memcollab_langgraph.nodes.verify import (
    VerifierSettings,
    averify_trajectory,
    create_outcome_node,
    create_verifier_node,
    verify_trajectory,
)

__all__ = [
    "BuildState",
    "CategoryChoice",
    "Classification",
    "ClassificationSource",
    "ClassifierSettings",
    "ConstraintConflict",
    "DistillationReport",
    "DistillerMethod",
    "DistillerOutput",
    "DistillerSettings",
    "DraftConstraint",
    "DraftRule",
    "ModelCall",
    "NodeRunnable",
    "ParseMode",
    "Parsed",
    "Preference",
    "PreferenceRule",
    "RejectedConstraint",
    "RetrieverSettings",
    "RuleOutput",
    "SolveState",
    "SolverSettings",
    "SourceMaterial",
    "StopReason",
    "StoryCheck",
    "StructuredMethod",
    "TaskLabelUse",
    "TurnPlan",
    "VerifierSettings",
    "add_trajectories",
    "averify_trajectory",
    "build_constraints",
    "checkpoint_serde",
    "checkpoint_types",
    "choose_preference",
    "create_classifier_node",
    "create_distiller_node",
    "create_outcome_node",
    "create_retriever_node",
    "create_solver_node",
    "create_verifier_node",
    "deterministic_classify",
    "fan_out_to_agents",
    "find_conflicts",
    "parse_structured",
    "plan_distillations",
    "plan_turn",
    "render_constraints",
    "route_after_solve",
    "route_to_distiller",
    "source_material",
    "task_specific_reason",
    "verify_trajectory",
]
