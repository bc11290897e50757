"""memcollab-langgraph: a shared reasoning memory for LangGraph agents that works across different LLMs."""

from __future__ import annotations

from memcollab_langgraph.errors import (
    ConfigurationError,
    MemCollabError,
    StoreError,
    UnexpectedModelOutputError,
)
from memcollab_langgraph.memory import AddOutcome, BankStats, MemoryBank, MemoryHit
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
    "AgentRef",
    "BankStats",
    "CategoryPath",
    "ChromaStore",
    "ConfigurationError",
    "Constraint",
    "MemCollabError",
    "MemoryBank",
    "MemoryHit",
    "Provenance",
    "StoreError",
    "Task",
    "Taxonomy",
    "Trajectory",
    "UnexpectedModelOutputError",
    "Usage",
    "UtilityCounter",
    "get_taxonomy",
    "load_taxonomy",
]
