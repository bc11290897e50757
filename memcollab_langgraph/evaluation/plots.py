"""PNG plots of a :class:`~memcollab_langgraph.evaluation.RunSummary` (matplotlib, Agg, no pyplot).

Figures are built as bare ``matplotlib.figure.Figure`` objects and saved with the Agg renderer, so
plotting never touches pyplot's global state or the caller's backend (safe in notebooks, threads and
headless CI). matplotlib is imported when a plot is drawn, not when this module is imported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation.statistics import Estimate
from memcollab_langgraph.evaluation.summary import POOLED, ConditionSummary, RunSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MIN_COLOUR_POINTS",
    "plot_accuracy",
    "plot_summary",
    "plot_transfer_matrix",
    "plot_turns",
    "transfer_colour_bound",
]

_PANEL_W, _PANEL_H = 5.5, 4.0


def _figure(panels: int) -> tuple[Figure, list[Axes]]:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "plots need matplotlib: pip install matplotlib (or write the report with plots=False)"
        ) from e
    cols = min(panels, 3)
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(_PANEL_W * cols, _PANEL_H * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for extra in axes[panels:]:
        extra.set_visible(False)
    return fig, axes[:panels]


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, format="png")
    return path


def _bars(
    summary: RunSummary,
    path: Path,
    metric: Callable[[ConditionSummary], Estimate | None],
    *,
    scale: float,
    ylabel: str,
    title: str,
    ylim: tuple[float, float] | None = None,
) -> Path:
    datasets = (summary.datasets + ([POOLED] if summary.pooled else [])) or ["(no data)"]
    every = [*summary.rows, *summary.pooled]
    cell = {(r.dataset, r.agent, r.condition): r for r in every}
    fig, axes = _figure(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = [r for r in every if r.dataset == dataset]
        conditions = [c for c in summary.conditions if any(r.condition == c for r in rows)]
        # Agents with something to draw here; each keeps its colour across panels.
        agents = [a for a in summary.agents if any(r.agent == a and metric(r) is not None for r in rows)]
        width = min(0.5, 0.8 / max(1, len(agents)))
        group = width * len(agents)
        for j, agent in enumerate(agents):
            xs, values, low, high = [], [], [], []
            for i, condition in enumerate(conditions):
                row = cell.get((dataset, agent, condition))
                e = metric(row) if row is not None else None
                if e is None:
                    continue
                xs.append(i - group / 2 + width * (j + 0.5))
                values.append(scale * e.value)
                low.append(scale * (e.value - e.low))
                high.append(scale * (e.high - e.value))
            color = f"C{summary.agents.index(agent) % 10}"
            ax.bar(xs, values, width=width, yerr=[low, high], capsize=3, label=agent, color=color)
        ax.set_xticks(range(len(conditions)), conditions, rotation=30, ha="right")
        ax.set_xlim(-0.5, max(1, len(conditions)) - 0.5)
        ax.set_ylabel(ylabel)
        ax.set_title(dataset)
        if ylim is not None:
            ax.set_ylim(*ylim)
        if agents:
            ax.legend(title="agent", fontsize="small")
    fig.suptitle(f"{title} ({100 * summary.confidence:g}% bootstrap CI), run {summary.run_id}")
    return _save(fig, path)


def plot_accuracy(summary: RunSummary, path: Path) -> Path:
    """Accuracy per condition with its interval as error bars, bars per agent, a panel per data set (and pooled)."""
    return _bars(
        summary, path, lambda r: r.accuracy, scale=100.0, ylabel="accuracy (%)", title="Accuracy", ylim=(0, 103)
    )


def plot_turns(summary: RunSummary, path: Path) -> Path:
    """Mean reasoning turns per condition with intervals, bars per agent, a panel per data set (and pooled)."""
    return _bars(summary, path, lambda r: r.turns, scale=1.0, ylabel="mean reasoning turns", title="Turns")


def _matrix(summary: RunSummary, dataset: str) -> tuple[list[str], list[str], list[list[float]], list[list[str]]]:
    cells = [c for c in summary.transfer if c.dataset == dataset]
    sources = list(dict.fromkeys(c.source for c in cells))
    consumers = [a for a in summary.agents if any(c.consumer == a for c in cells)]
    grid = {(c.source, c.consumer): c for c in cells}
    values: list[list[float]] = []
    labels: list[list[str]] = []
    for source in sources:
        row_values, row_labels = [], []
        for consumer in consumers:
            c = grid.get((source, consumer))
            delta = c.delta.value * 100 if c is not None and c.delta is not None else math.nan
            row_values.append(delta)
            if c is None or c.accuracy is None:
                row_labels.append("-")
            else:
                shown = f"\nΔ {delta:+.1f}" if not math.isnan(delta) else ""
                row_labels.append(f"{100 * c.accuracy.value:.1f}%{shown}\nn={c.n}")
        values.append(row_values)
        labels.append(row_labels)
    return sources, consumers, values, labels


MIN_COLOUR_POINTS = 10.0
"""The smallest half-range of the transfer matrix's colour scale, in accuracy points."""


def transfer_colour_bound(panels: Sequence[Sequence[Sequence[float]]]) -> float:
    """Half-range of the colour scale shared by the transfer-matrix panels: the largest change shown,
    and at least :data:`MIN_COLOUR_POINTS`.

    Example:
        >>> transfer_colour_bound([[[3.0, -1.0]], [[math.nan]]]), transfer_colour_bound([[[-24.0]], [[5.0]]])
        (10.0, 24.0)
    """
    finite = [abs(v) for panel in panels for row in panel for v in row if not math.isnan(v)]
    return max([MIN_COLOUR_POINTS, *finite])


def plot_transfer_matrix(summary: RunSummary, path: Path) -> Path:
    """Heatmap per data set: memory source (rows) x consumer (columns).

    Colour is the accuracy change against the consumer's own baseline in points (blue better, red
    worse, white no change or no baseline), on one scale for every panel that spans at least
    ±:data:`MIN_COLOUR_POINTS`, so that a change of a task or two does not look like a large one; each
    cell is annotated with accuracy, delta and n.

    Raises:
        ConfigurationError: The summary has no transfer-matrix cells.
    """
    datasets = [d for d in summary.datasets if any(c.dataset == d for c in summary.transfer)]
    if not datasets:
        raise ConfigurationError("the run has no transfer-matrix conditions (named 'transfer:...') to plot")
    fig, axes = _figure(len(datasets))
    matrices = [_matrix(summary, dataset) for dataset in datasets]
    bound = transfer_colour_bound([values for _, _, values, _ in matrices])
    for ax, dataset, (sources, consumers, values, labels) in zip(axes, datasets, matrices, strict=True):
        image = ax.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_xticks(range(len(consumers)), consumers)
        ax.set_yticks(range(len(sources)), sources)
        ax.set_xlabel("consumer")
        ax.set_ylabel("memory built from")
        ax.set_title(dataset)
        for i, row in enumerate(labels):
            for j, text in enumerate(row):
                dark = not math.isnan(values[i][j]) and abs(values[i][j]) > 0.6 * bound
                ax.text(j, i, text, ha="center", va="center", fontsize="small", color="white" if dark else "black")
        fig.colorbar(image, ax=ax, label=f"Δ accuracy vs {summary.baseline} (points)")
    fig.suptitle(f"Cross-model transfer, run {summary.run_id}")
    return _save(fig, path)


def plot_summary(summary: RunSummary, directory: Path) -> list[Path]:
    """Every plot of a report into ``directory``: accuracy, turns, and the transfer matrix if any."""
    written = [
        plot_accuracy(summary, directory / "accuracy.png"),
        plot_turns(summary, directory / "turns.png"),
    ]
    if summary.transfer:
        written.append(plot_transfer_matrix(summary, directory / "transfer_matrix.png"))
    return written
