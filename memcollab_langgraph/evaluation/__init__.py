"""Evaluation harness: conditions, per-item results, LLM response cache, statistics and reports.

* :mod:`.config`: :class:`EvalConfig`, the evaluation's TOML configuration (team, data sets, conditions).
* :mod:`.plan`: :func:`plan_evaluation`, every item of a run and the memory banks they read (pure).
* :mod:`.runner`: :func:`run_evaluation` / :func:`arun_evaluation`, the resumable end-to-end run.
* :mod:`.failures`: which item failures are recorded and retried, and when a run stops.
* :mod:`.conditions`: the conditions compared (:func:`standard_conditions`: vanilla, self memory,
  naive transfer, self-contrast, MemCollab; :func:`transfer_matrix_conditions`; :func:`curated_condition`,
  constraints from a file) and the leakage guard.
* :mod:`.results`: :class:`ItemResult` records in an append-only, crash-safe, resumable JSONL store.
* :mod:`.collect`: a solve graph's final state (or a failure) as an :class:`ItemResult` and a transcript.
* :mod:`.compare`: two runs of the same items, cell by cell (``memcollab eval compare``).
* :mod:`.transcripts`: ``transcripts.jsonl``, what each item's solver saw and said (``memcollab eval show``).
* :mod:`.cache`: :class:`SqliteLLMCache`, a persistent langchain ``BaseCache``.
* :mod:`.statistics`: bootstrap intervals, paired differences, exact McNemar, Holm.
* :mod:`.summary`, :mod:`.markdown`, :mod:`.plots`, :mod:`.report`: ``summary.md``,
  ``results.json`` and PNG plots of a run, complete or partial.
"""

from __future__ import annotations

from memcollab_langgraph.errors import ModelServerDown
from memcollab_langgraph.evaluation.cache import CacheStats, SqliteLLMCache
from memcollab_langgraph.evaluation.collect import failed_result, result_from_solve, transcript_from_solve
from memcollab_langgraph.evaluation.compare import CellComparison, compare_runs
from memcollab_langgraph.evaluation.conditions import (
    CURATED,
    TRANSFER_PREFIX,
    VANILLA,
    Condition,
    EvalCell,
    MemorySource,
    RetrievalVariant,
    check_no_leakage,
    curated_condition,
    is_transfer,
    plan_cells,
    standard_conditions,
    transfer_matrix_conditions,
)
from memcollab_langgraph.evaluation.config import (
    ACCEPTED_CONDITIONS,
    CONDITION_NAMES,
    DatasetConfig,
    EvalConfig,
    TaskFileConfig,
    TransferMatrixConfig,
    load_eval_config,
    parse_eval_config,
)
from memcollab_langgraph.evaluation.failures import RECORDED_ERRORS, is_transient
from memcollab_langgraph.evaluation.markdown import render_markdown
from memcollab_langgraph.evaluation.plan import (
    BankPlan,
    CuratedBank,
    EvaluationPlan,
    LoadedDataset,
    TrainSet,
    WorkItem,
    load_curated,
    load_datasets,
    plan_evaluation,
)
from memcollab_langgraph.evaluation.report import ReportFiles, write_report
from memcollab_langgraph.evaluation.results import (
    ItemKey,
    ItemResult,
    ResultsStore,
    RunPlan,
    TruncatedResultWarning,
)
from memcollab_langgraph.evaluation.runner import arun_evaluation, run_evaluation
from memcollab_langgraph.evaluation.statistics import (
    Estimate,
    McNemarResult,
    accuracy,
    bootstrap_mean,
    fisher_exact_two_sided,
    holm,
    mcnemar_exact,
    paired_difference,
)
from memcollab_langgraph.evaluation.summary import (
    ConditionSummary,
    RetrievalLevels,
    RunSummary,
    TransferCell,
    summarize,
)
from memcollab_langgraph.evaluation.transcripts import Transcript, TranscriptLog

__all__ = [
    "ACCEPTED_CONDITIONS",
    "CONDITION_NAMES",
    "CURATED",
    "CellComparison",
    "RECORDED_ERRORS",
    "TRANSFER_PREFIX",
    "VANILLA",
    "BankPlan",
    "CacheStats",
    "Condition",
    "ConditionSummary",
    "CuratedBank",
    "DatasetConfig",
    "Estimate",
    "EvalCell",
    "EvalConfig",
    "EvaluationPlan",
    "ItemKey",
    "ItemResult",
    "LoadedDataset",
    "McNemarResult",
    "MemorySource",
    "ModelServerDown",
    "ReportFiles",
    "ResultsStore",
    "RetrievalLevels",
    "RetrievalVariant",
    "RunPlan",
    "RunSummary",
    "SqliteLLMCache",
    "TaskFileConfig",
    "TrainSet",
    "Transcript",
    "TranscriptLog",
    "TransferCell",
    "TransferMatrixConfig",
    "TruncatedResultWarning",
    "WorkItem",
    "accuracy",
    "arun_evaluation",
    "compare_runs",
    "bootstrap_mean",
    "check_no_leakage",
    "curated_condition",
    "failed_result",
    "fisher_exact_two_sided",
    "holm",
    "is_transfer",
    "is_transient",
    "load_curated",
    "load_datasets",
    "load_eval_config",
    "mcnemar_exact",
    "paired_difference",
    "parse_eval_config",
    "plan_cells",
    "plan_evaluation",
    "render_markdown",
    "result_from_solve",
    "transcript_from_solve",
    "run_evaluation",
    "standard_conditions",
    "summarize",
    "transfer_matrix_conditions",
    "write_report",
]
