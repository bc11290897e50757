"""memcollab-langgraph: a shared reasoning memory for LangGraph agents that works across different LLMs."""

from __future__ import annotations

from memcollab_langgraph.errors import (
    ConfigurationError,
    MemCollabError,
    ModelServerDown,
    StoreError,
    UnexpectedModelOutputError,
)
from memcollab_langgraph.graphs import (
    BatchReport,
    arun_tasks,
    create_build_graph,
    create_memory_hook,
    create_solve_graph,
    run_tasks,
)
from memcollab_langgraph.memory import AddOutcome, BankStats, MemoryBank, MemoryHit
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes import (
    BuildState,
    Classification,
    DistillationReport,
    ModelCall,
    SolveState,
    StoryCheck,
    create_classifier_node,
    create_distiller_node,
    create_outcome_node,
    create_retriever_node,
    create_solver_node,
    create_verifier_node,
    fan_out_to_agents,
    route_after_solve,
    route_to_distiller,
)
from memcollab_langgraph.schema import (
    AgentRef,
    CategoryPath,
    Constraint,
    Provenance,
    Task,
    Trajectory,
    Usage,
    UtilityCounter,
)
from memcollab_langgraph.store import ChromaStore
from memcollab_langgraph.taxonomy import Taxonomy, get_taxonomy, load_taxonomy

__all__ = [
    "AddOutcome",
    "Agent",
    "AgentRef",
    "BankStats",
    "BatchReport",
    "BuildState",
    "CategoryPath",
    "ChromaStore",
    "Classification",
    "ConfigurationError",
    "Constraint",
    "DistillationReport",
    "MemCollabError",
    "MemoryBank",
    "MemoryHit",
    "ModelCall",
    "ModelServerDown",
    "Provenance",
    "SolveState",
    "StoreError",
    "StoryCheck",
    "Task",
    "Taxonomy",
    "Trajectory",
    "UnexpectedModelOutputError",
    "Usage",
    "UtilityCounter",
    "arun_tasks",
    "create_build_graph",
    "create_classifier_node",
    "create_distiller_node",
    "create_memory_hook",
    "create_outcome_node",
    "create_retriever_node",
    "create_solve_graph",
    "create_solver_node",
    "create_verifier_node",
    "fan_out_to_agents",
    "get_taxonomy",
    "load_taxonomy",
    "route_after_solve",
    "route_to_distiller",
    "run_tasks",
]
