"""Statistics for comparing conditions on the same items: bootstrap intervals and exact McNemar tests.

Everything here is pure and deterministic for a given ``seed``:

* :func:`bootstrap_mean` is the percentile bootstrap of a mean (accuracy is the mean of 0/1 outcomes,
  and mean turns, tokens or latency are means too), resampled with a seeded ``numpy`` Generator.
* :func:`paired_difference` is the bootstrap of the mean *paired* difference: items are resampled
  together in both conditions, so the interval reflects that both were run on the same tasks (it is
  narrower than comparing two independent intervals whenever the outcomes are correlated).
* :func:`mcnemar_exact` is the exact McNemar test: the two-sided binomial test of the discordant
  pairs against ``p = 1/2``, computed with exact integer arithmetic (``math.comb``), no SciPy.
* :func:`holm` adjusts a family of p-values for multiple comparisons (Holm-Bonferroni).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from pydantic import BaseModel, ConfigDict

from memcollab_langgraph.errors import ConfigurationError

__all__ = [
    "DEFAULT_RESAMPLES",
    "Estimate",
    "McNemarResult",
    "accuracy",
    "binomial_two_sided_p",
    "bootstrap_mean",
    "fisher_exact_two_sided",
    "holm",
    "mcnemar_exact",
    "paired_difference",
]

DEFAULT_RESAMPLES = 10_000
"""Bootstrap resamples unless told otherwise."""

# Resampled rows drawn at once: bounds memory to _CHUNK * n indices however many resamples are asked.
_CHUNK = 1_000


class Estimate(BaseModel):
    """A point estimate (a mean) with a percentile bootstrap confidence interval."""

    model_config = ConfigDict(frozen=True)

    value: float
    """The sample mean."""
    low: float
    """Lower bound of the interval."""
    high: float
    """Upper bound of the interval."""
    n: int
    """Number of observations (for a paired difference: of pairs)."""
    confidence: float = 0.95
    """Coverage the interval was built for."""


class McNemarResult(BaseModel):
    """The exact McNemar test of a treatment against a baseline on the same items."""

    model_config = ConfigDict(frozen=True)

    n: int
    """Paired items."""
    only_treatment: int
    """Discordant items the treatment got right and the baseline wrong (often called ``c``)."""
    only_baseline: int
    """Discordant items the baseline got right and the treatment wrong (often called ``b``)."""
    p_value: float
    """Two-sided exact p-value; 1.0 when there is no discordant pair."""

    @property
    def discordant(self) -> int:
        return self.only_treatment + self.only_baseline


def _as_array(values: Sequence[float] | Sequence[bool], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ConfigurationError(f"{name} must be a flat sequence of numbers, got shape {array.shape}")
    if array.size and not np.all(np.isfinite(array)):
        raise ConfigurationError(f"{name} contains NaN or infinite values; drop unfinished items first")
    return array


def _check_settings(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ConfigurationError(f"n_resamples must be a positive int, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigurationError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence!r}")


def _resampled_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = values.size
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        rows = min(_CHUNK, n_resamples - start)
        out[start : start + rows] = values[rng.integers(0, n, size=(rows, n))].mean(axis=1)
    return out


def bootstrap_mean(
    values: Sequence[float] | Sequence[bool],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """The mean of ``values`` with a percentile bootstrap confidence interval.

    ``n_resamples`` samples of ``len(values)`` observations are drawn with replacement; the interval
    is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of their means.

    Args:
        values: The observations (booleans count as 0/1).
        n_resamples: Bootstrap resamples.
        confidence: Coverage of the interval.
        seed: Seed of the ``numpy`` Generator; the same seed gives the same interval.

    Raises:
        ConfigurationError: No values, NaN values, or bad settings.

    Example:
        >>> e = bootstrap_mean([1, 1, 1, 0], n_resamples=2000)
        >>> e.value, e.low <= e.value <= e.high, e.n
        (0.75, True, 4)
    """
    _check_settings(n_resamples, confidence)
    array = _as_array(values, "values")
    if array.size == 0:
        raise ConfigurationError("cannot estimate the mean of no values; filter empty groups out first")
    value = float(array.mean())
    if np.all(array == array[0]):
        # Every resample equals the sample: skip drawing 10k identical means.
        return Estimate(value=value, low=value, high=value, n=int(array.size), confidence=confidence)
    means = _resampled_means(array, n_resamples, seed)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Estimate(value=value, low=float(low), high=float(high), n=int(array.size), confidence=confidence)


def accuracy(
    correct: Sequence[bool],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Accuracy (fraction correct) with a percentile bootstrap interval; see :func:`bootstrap_mean`.

    Example:
        >>> accuracy([True, False, True, True, True], n_resamples=2000).value
        0.8
    """
    return bootstrap_mean(correct, n_resamples=n_resamples, confidence=confidence, seed=seed)


def _check_paired(treatment: Sequence[float] | Sequence[bool], baseline: Sequence[float] | Sequence[bool]) -> None:
    if len(treatment) != len(baseline):
        raise ConfigurationError(
            f"paired statistics need one baseline outcome per treatment outcome, got {len(treatment)} "
            f"treatment and {len(baseline)} baseline values; align both on the same task ids first"
        )


def paired_difference(
    treatment: Sequence[float] | Sequence[bool],
    baseline: Sequence[float] | Sequence[bool],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Mean of ``treatment[i] - baseline[i]`` with a paired percentile bootstrap interval.

    Items (index ``i``) are resampled, each keeping both of its outcomes, so the interval is the
    bootstrap interval of the mean of the per-item differences. For 0/1 outcomes the value is the
    accuracy difference in fractions (``0.05`` is five points).

    Raises:
        ConfigurationError: Sequences of different lengths, no pairs, NaN values, or bad settings.

    Example:
        >>> d = paired_difference([1, 1, 1, 0], [0, 1, 1, 0], n_resamples=2000)
        >>> d.value, d.low <= d.value <= d.high
        (0.25, True)
    """
    _check_paired(treatment, baseline)
    diff = _as_array(treatment, "treatment") - _as_array(baseline, "baseline")
    return bootstrap_mean(diff, n_resamples=n_resamples, confidence=confidence, seed=seed)


def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips (``p = 1/2``).

    The null distribution is symmetric, so the two-sided p-value is twice the smaller tail,
    ``2 * P(X <= min(k, n - k))``, capped at 1; this equals SciPy's ``binomtest(k, n).pvalue``.
    Computed with exact integers and one final rounding to float.

    Example:
        >>> binomial_two_sided_p(0, 5), binomial_two_sided_p(3, 6)
        (0.0625, 1.0)
    """
    if n < 0 or not 0 <= k <= n:
        raise ConfigurationError(f"need 0 <= k <= n, got k={k!r}, n={n!r}")
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def fisher_exact_two_sided(a: int, b: int, c: int, d: int) -> float:
    """Exact two-sided p-value of Fisher's test on the 2x2 table ``[[a, b], [c, d]]``.

    With the margins fixed, the p-value sums the hypergeometric probabilities of every table no more
    likely than the observed one (as SciPy's ``fisher_exact``); computed with exact integers, so ties
    are compared exactly, and one final rounding to float. Use it to ask whether two groups of items
    differ in a rate, e.g. tasks lost by memory among those whose answer echoes a constraint and among
    the others.

    Example:
        >>> round(fisher_exact_two_sided(3, 1, 1, 3), 4), round(fisher_exact_two_sided(1, 9, 11, 3), 6)
        (0.4857, 0.002759)
    """
    cells = (a, b, c, d)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in cells):
        raise ConfigurationError(f"a 2x2 table needs four counts >= 0, got {cells!r}")
    row, other, column = a + b, c + d, a + c
    weights = [
        math.comb(row, x) * math.comb(other, column - x) for x in range(max(0, column - other), min(row, column) + 1)
    ]
    observed = math.comb(row, a) * math.comb(other, c)
    tail = sum(w for w in weights if w <= observed)
    return float(min(Fraction(1), Fraction(tail, math.comb(row + other, column))))


def mcnemar_exact(treatment: Sequence[bool], baseline: Sequence[bool]) -> McNemarResult:
    """Exact McNemar test of ``treatment`` against ``baseline`` on the same items.

    Only discordant items carry information: ``b`` (baseline right, treatment wrong) and ``c``
    (treatment right, baseline wrong). Under the null hypothesis of equal accuracy each discordant
    item is a fair coin flip, so the p-value is :func:`binomial_two_sided_p` of ``c`` in ``b + c``.

    Args:
        treatment: Correctness per item under the condition being tested.
        baseline: Correctness of the same items, in the same order, under the baseline.

    Raises:
        ConfigurationError: Sequences of different lengths.

    Example:
        >>> r = mcnemar_exact([True] * 5 + [False] * 3, [False] * 5 + [False] * 3)
        >>> r.only_treatment, r.only_baseline, r.p_value
        (5, 0, 0.0625)
    """
    _check_paired(treatment, baseline)
    only_treatment = sum(bool(t) and not bool(b) for t, b in zip(treatment, baseline, strict=True))
    only_baseline = sum(bool(b) and not bool(t) for t, b in zip(treatment, baseline, strict=True))
    return McNemarResult(
        n=len(treatment),
        only_treatment=only_treatment,
        only_baseline=only_baseline,
        p_value=binomial_two_sided_p(only_treatment, only_treatment + only_baseline),
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    The ``i``-th smallest p-value is multiplied by ``m - i`` (``m`` tests, ``i`` from 0), then made
    monotone with a running maximum and capped at 1. Rejecting where the adjusted value is below
    ``alpha`` controls the family-wise error rate at ``alpha``.

    Example:
        >>> [round(p, 6) for p in holm([0.01, 0.04, 0.03])]
        [0.03, 0.06, 0.06]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
