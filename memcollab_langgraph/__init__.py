"""memcollab-langgraph: a shared reasoning memory for LangGraph agents that works across different LLMs."""

from __future__ import annotations

from memcollab_langgraph.errors import (
    ConfigurationError,
    MemCollabError,
    StoreError,
    UnexpectedModelOutputError,
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

__all__ = [
    "AgentRef",
    "CategoryPath",
    "ConfigurationError",
    "Constraint",
    "MemCollabError",
    "Provenance",
    "StoreError",
    "Task",
    "Trajectory",
    "UnexpectedModelOutputError",
    "Usage",
    "UtilityCounter",
]
