"""Write a run's report: ``summary.md``, ``results.json`` and PNG plots next to ``items.jsonl``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from memcollab_langgraph.evaluation.conditions import VANILLA
from memcollab_langgraph.evaluation.markdown import render_markdown
from memcollab_langgraph.evaluation.plots import plot_summary
from memcollab_langgraph.evaluation.results import ResultsStore
from memcollab_langgraph.evaluation.statistics import DEFAULT_RESAMPLES
from memcollab_langgraph.evaluation.summary import summarize

__all__ = ["ReportFiles", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    summary_md: Path
    results_json: Path
    plots: list[Path]


def write_report(
    store: ResultsStore,
    *,
    baseline: str = VANILLA,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    plots: bool = True,
) -> ReportFiles:
    """Write ``summary.md``, ``results.json`` and (with ``plots``) PNG plots into the run directory.

    Works on a partial run too: it reports what is there and how many planned items are finished.
    Plots need matplotlib: ``accuracy.png`` (accuracy with intervals per condition, one panel per
    data set), ``turns.png`` (mean reasoning turns) and, when the run has transfer-matrix
    conditions, ``transfer_matrix.png``.

    Example:
        >>> import tempfile
        >>> from memcollab_langgraph.evaluation import ItemResult
        >>> store = ResultsStore(tempfile.mkdtemp(), "demo")
        >>> store.append(ItemResult(run_id="demo", condition="vanilla", agent="a", model="m",
        ...                         dataset="toy", task_id="1", correct=True, turns=1))
        >>> files = write_report(store, n_resamples=200, plots=False)
        >>> files.summary_md.name, files.results_json.name
        ('summary.md', 'results.json')
    """
    summary = summarize(
        store.read(),
        run_id=store.run_id,
        plan=store.read_plan(),
        baseline=baseline,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    store.directory.mkdir(parents=True, exist_ok=True)
    summary_md = _write_atomic(store.directory / "summary.md", render_markdown(summary))
    results_json = _write_atomic(store.directory / "results.json", summary.model_dump_json(indent=2))
    written = plot_summary(summary, store.directory) if plots else []
    return ReportFiles(summary_md=summary_md, results_json=results_json, plots=written)


def _write_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` in one step, so a reader never sees a half-written report during a run."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
