"""Evaluation harness: conditions, per-item results, LLM response cache, statistics and reports.

* :mod:`.conditions`: the conditions compared (:func:`standard_conditions`: vanilla, self memory,
  naive transfer, self-contrast, MemCollab; :func:`transfer_matrix_conditions`) and the leakage guard.
* :mod:`.results`: :class:`ItemResult` records in an append-only, crash-safe, resumable JSONL store.
* :mod:`.collect`: a solve graph's final state (or a failure) as an :class:`ItemResult`.
* :mod:`.cache`: :class:`SqliteLLMCache`, a persistent langchain ``BaseCache``.
* :mod:`.statistics`: bootstrap intervals, paired differences, exact McNemar, Holm.
* :mod:`.summary`, :mod:`.markdown`, :mod:`.plots`, :mod:`.report`: ``summary.md``,
  ``results.json`` and PNG plots of a run, complete or partial.
"""

from __future__ import annotations

from memcollab_langgraph.evaluation.cache import CacheStats, SqliteLLMCache
from memcollab_langgraph.evaluation.collect import failed_result, result_from_solve
from memcollab_langgraph.evaluation.conditions import (
    TRANSFER_PREFIX,
    VANILLA,
    Condition,
    EvalCell,
    MemorySource,
    RetrievalVariant,
    check_no_leakage,
    is_transfer,
    plan_cells,
    standard_conditions,
    transfer_matrix_conditions,
)
from memcollab_langgraph.evaluation.markdown import render_markdown
from memcollab_langgraph.evaluation.report import ReportFiles, write_report
from memcollab_langgraph.evaluation.results import (
    ItemKey,
    ItemResult,
    ResultsStore,
    RunPlan,
    TruncatedResultWarning,
)
from memcollab_langgraph.evaluation.statistics import (
    Estimate,
    McNemarResult,
    accuracy,
    bootstrap_mean,
    holm,
    mcnemar_exact,
    paired_difference,
)
from memcollab_langgraph.evaluation.summary import ConditionSummary, RunSummary, TransferCell, summarize

__all__ = [
    "TRANSFER_PREFIX",
    "VANILLA",
    "CacheStats",
    "Condition",
    "ConditionSummary",
    "Estimate",
    "EvalCell",
    "ItemKey",
    "ItemResult",
    "McNemarResult",
    "MemorySource",
    "ReportFiles",
    "ResultsStore",
    "RetrievalVariant",
    "RunPlan",
    "RunSummary",
    "SqliteLLMCache",
    "TransferCell",
    "TruncatedResultWarning",
    "accuracy",
    "bootstrap_mean",
    "check_no_leakage",
    "failed_result",
    "holm",
    "is_transfer",
    "mcnemar_exact",
    "paired_difference",
    "plan_cells",
    "render_markdown",
    "result_from_solve",
    "standard_conditions",
    "summarize",
    "transfer_matrix_conditions",
    "write_report",
]
