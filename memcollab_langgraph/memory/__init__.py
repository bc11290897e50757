"""Shared constraint memory over any LangGraph ``BaseStore``: :class:`MemoryBank` and its results.

Modules, one concept each: ``bank`` (the public class), ``driver`` (running a store plan with
``batch`` or ``abatch``), ``records`` (namespace layout and stored values), ``consolidate`` (dedup,
merge, promotion gate, budget), ``retrieval`` (category fallback and ranking order), ``ranking`` (BM25
and lexical similarity), ``stats`` and ``jsonl`` (export/import format).
"""

from __future__ import annotations

from memcollab_langgraph.memory.bank import MemoryBank
from memcollab_langgraph.memory.consolidate import promote
from memcollab_langgraph.memory.models import (
    DEFAULT_FALLBACK,
    FALLBACK_LEVELS,
    AddAction,
    AddOutcome,
    BankStats,
    CategoryStats,
    FallbackLevel,
    MemoryHit,
    ModelStats,
    RankerName,
    ScoreKind,
)
from memcollab_langgraph.memory.records import namespace_of, prefix_of, root_of

__all__ = [
    "DEFAULT_FALLBACK",
    "FALLBACK_LEVELS",
    "AddAction",
    "AddOutcome",
    "BankStats",
    "CategoryStats",
    "FallbackLevel",
    "MemoryBank",
    "MemoryHit",
    "ModelStats",
    "RankerName",
    "ScoreKind",
    "namespace_of",
    "prefix_of",
    "promote",
    "root_of",
]
