"""Evaluation statistics against hand-computed values and properties that must always hold."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation import statistics
from memcollab_langgraph.evaluation.statistics import (
    accuracy,
    binomial_two_sided_p,
    bootstrap_mean,
    fisher_exact_two_sided,
    holm,
    mcnemar_exact,
    paired_difference,
)


@pytest.mark.parametrize(
    ("only_baseline", "only_treatment", "expected"),
    [
        (0, 5, 0.0625),  # 2 * (1/2)^5
        (5, 0, 0.0625),  # symmetric
        (0, 1, 1.0),  # 2 * 1/2
        (1, 6, 0.125),  # 2 * (1 + 7) / 128
        (2, 10, 2 * (1 + 12 + 66) / 4096),
        (3, 3, 1.0),  # b == c
        (7, 7, 1.0),
        (0, 0, 1.0),  # no discordant pair: no evidence
        (0, 20, 2 / 2**20),
    ],
)
def test_mcnemar_matches_hand_computed_binomial_tails(only_baseline: int, only_treatment: int, expected: float) -> None:
    concordant = [(True, True)] * 4 + [(False, False)] * 3
    pairs = concordant + [(True, False)] * only_treatment + [(False, True)] * only_baseline
    result = mcnemar_exact([t for t, _ in pairs], [b for _, b in pairs])
    assert (result.only_treatment, result.only_baseline) == (only_treatment, only_baseline)
    assert result.n == len(pairs)
    assert result.discordant == only_treatment + only_baseline
    assert result.p_value == pytest.approx(expected, rel=1e-12)


def test_binomial_p_values_are_exact() -> None:
    # Exact tails, equal to scipy.stats.binomtest(k, n, 0.5).pvalue: 2 * (1 + 15 + 105 + 455) / 2**15 ...
    assert binomial_two_sided_p(3, 15) == pytest.approx(0.03515625, abs=1e-12)
    assert binomial_two_sided_p(4, 15) == pytest.approx(0.11846923828125, abs=1e-12)
    assert binomial_two_sided_p(0, 10) == pytest.approx(0.001953125, abs=1e-15)
    # Large n stays exact (no overflow, no float underflow to 0 before the final rounding).
    assert binomial_two_sided_p(0, 1000) == pytest.approx(2.0**-999, rel=1e-12)
    assert binomial_two_sided_p(500, 1000) == 1.0


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ((3, 1, 1, 3), 34 / 70),  # the tea-tasting table: 1 + 16 + 16 + 1 of C(8, 4) = 70
        ((0, 5, 5, 0), 2 / 252),  # only the two extreme tables of C(10, 5)
        ((2, 2, 2, 2), 1.0),
        ((0, 0, 0, 0), 1.0),
        ((1, 9, 11, 3), 0.0027594561852200836),  # scipy.stats.fisher_exact's documented example
    ],
)
def test_fisher_exact_matches_hand_computed_hypergeometric_tails(
    table: tuple[int, int, int, int], expected: float
) -> None:
    a, b, c, d = table
    assert fisher_exact_two_sided(a, b, c, d) == pytest.approx(expected, rel=1e-12)
    assert fisher_exact_two_sided(c, d, a, b) == pytest.approx(expected, rel=1e-12)  # rows swapped
    assert fisher_exact_two_sided(a, c, b, d) == pytest.approx(expected, rel=1e-12)  # transposed


@pytest.mark.parametrize("table", [(-1, 2, 3, 4), (1, 2.0, 3, 4), (True, 2, 3, 4)])
def test_fisher_exact_refuses_what_is_not_a_table_of_counts(table: tuple[int, int, int, int]) -> None:
    with pytest.raises(ConfigurationError, match=r"four counts >= 0, got \("):
        fisher_exact_two_sided(*table)


def test_identical_conditions_have_p_one_and_zero_difference() -> None:
    outcomes = [True, False, True, True, False, False, True]
    assert mcnemar_exact(outcomes, outcomes).p_value == 1.0
    diff = paired_difference(outcomes, outcomes, n_resamples=500)
    assert (diff.value, diff.low, diff.high) == (0.0, 0.0, 0.0)


def test_accuracy_interval_matches_the_normal_approximation_for_a_large_sample() -> None:
    outcomes = [True] * 200 + [False] * 200
    e = accuracy(outcomes, n_resamples=10_000, seed=1)
    half = 1.96 * math.sqrt(0.25 / 400)  # 0.049
    assert e.value == 0.5
    assert e.n == 400
    assert e.low == pytest.approx(0.5 - half, abs=0.006)
    assert e.high == pytest.approx(0.5 + half, abs=0.006)


def test_bootstrap_is_reproducible_and_depends_on_the_seed() -> None:
    values = [0.3, 1.7, 2.2, 0.1, 5.0, 1.1, 0.9, 3.3, 1.4]
    assert bootstrap_mean(values, seed=3) == bootstrap_mean(values, seed=3)
    assert bootstrap_mean(values, seed=3) != bootstrap_mean(values, seed=4)


def test_bootstrap_chunks_give_the_same_interval_as_one_draw_would_cover() -> None:
    # More resamples than one chunk: the interval still brackets the mean and narrows nothing away.
    e = bootstrap_mean(list(range(10)), n_resamples=2_500, seed=0)
    assert e.low < 4.5 < e.high
    assert e.value == 4.5


@pytest.mark.parametrize("seed", range(25))
def test_interval_contains_the_point_estimate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    outcomes = (rng.random(n) < rng.random()).tolist()
    e = accuracy(outcomes, n_resamples=1_000, seed=seed)
    assert e.low <= e.value <= e.high
    assert e.low >= 0.0
    assert e.high <= 1.0
    costs = rng.exponential(300.0, size=n).tolist()
    c = bootstrap_mean(costs, n_resamples=1_000, seed=seed)
    assert c.low <= c.value <= c.high
    baseline = (rng.random(n) < 0.5).tolist()
    d = paired_difference(outcomes, baseline, n_resamples=1_000, seed=seed)
    assert d.low <= d.value <= d.high
    assert d.value == pytest.approx(np.mean(outcomes) - np.mean(baseline))


def test_paired_interval_is_narrower_than_unpaired_when_outcomes_are_correlated() -> None:
    # The treatment fixes 10 of 100 items and breaks none: every other outcome is shared.
    baseline = [True] * 50 + [False] * 50
    treatment = [True] * 60 + [False] * 40
    paired = paired_difference(treatment, baseline, seed=0)
    assert paired.value == pytest.approx(0.10)
    assert paired.low > 0  # always at least as good: the paired interval excludes 0
    unpaired_half_width = 1.96 * math.sqrt(0.25 / 100 + 0.24 / 100)
    assert (paired.high - paired.low) / 2 < unpaired_half_width


def test_degenerate_samples() -> None:
    assert accuracy([True]).model_dump() == {"value": 1.0, "low": 1.0, "high": 1.0, "n": 1, "confidence": 0.95}
    assert bootstrap_mean([2.0, 2.0, 2.0]).low == 2.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_mean([]), "no values"),
        (lambda: bootstrap_mean([1.0, float("nan")]), "NaN"),
        (lambda: bootstrap_mean([1.0], n_resamples=0), "n_resamples"),
        (lambda: bootstrap_mean([1.0], confidence=95), "confidence"),
        (lambda: paired_difference([True], [True, False]), "one baseline outcome"),
        (lambda: mcnemar_exact([True], []), "one baseline outcome"),
        (lambda: binomial_two_sided_p(5, 3), "0 <= k <= n"),
    ],
)
def test_misuse_is_a_configuration_error(call: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        call()  # type: ignore[operator]


def test_holm_adjustment() -> None:
    assert holm([]) == []
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    adjusted = holm([0.001, 0.2, 0.01, 0.04])
    assert all(a >= p for a, p in zip(adjusted, [0.001, 0.2, 0.01, 0.04], strict=True))


def test_docstring_examples_run() -> None:
    assert doctest.testmod(statistics).failed == 0
