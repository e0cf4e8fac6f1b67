"""A/B-test arithmetic: against scipy's chi-square test, simulation, and its own definitions."""

import numpy as np
import pytest
from scipy import stats

from recsys_course.abtest import power, sample_size, two_proportion_test


@pytest.mark.parametrize(("p", "lift", "alpha", "target"), [
    (0.05, 0.10, 0.05, 0.8), (0.10, 0.05, 0.05, 0.9), (0.30, -0.05, 0.01, 0.8), (0.02, 0.25, 0.10, 0.8)])
def test_sample_size_is_the_smallest_n_with_the_target_power(p, lift, alpha, target):
    n = sample_size(p, lift, alpha=alpha, power=target)
    p2 = p * (1 + lift)
    assert power(p, p2, n, alpha) >= target - 1e-9
    assert power(p, p2, n - 1, alpha) < target + 1e-4  # the formula ignores the far tail: at most 1e-4 off


def test_absolute_and_relative_lift_agree():
    assert sample_size(0.05, 0.005, relative=False) == sample_size(0.05, 0.10)


def test_simulated_experiments_detect_the_effect_as_often_as_the_power_says():
    p1, p2 = 0.05, 0.06
    n = sample_size(p1, p2 - p1, relative=False)
    rng = np.random.default_rng(0)
    clicks_a, clicks_b = rng.binomial(n, p1, 4000), rng.binomial(n, p2, 4000)
    detected = np.mean([two_proportion_test(a, n, b, n)["p_value"] < 0.05 for a, b in zip(clicks_a, clicks_b)])
    assert detected == pytest.approx(0.8, abs=0.02)  # 4,000 runs: standard error 0.006


def test_z_test_equals_scipy_chi_square_without_correction():
    for a, n_a, b, n_b in [(500, 10_000, 580, 10_000), (30, 400, 45, 420), (7, 50, 3, 60)]:
        result = two_proportion_test(a, n_a, b, n_b)
        chi2, p, _, _ = stats.chi2_contingency([[a, n_a - a], [b, n_b - b]], correction=False)
        assert result["z"] ** 2 == pytest.approx(chi2)
        assert result["p_value"] == pytest.approx(p)


def test_confidence_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    p1, p2, n = 0.10, 0.12, 5_000
    hits = [r["low"] <= p2 - p1 <= r["high"] for r in
            (two_proportion_test(a, n, b, n) for a, b in zip(rng.binomial(n, p1, 3000), rng.binomial(n, p2, 3000)))]
    assert np.mean(hits) == pytest.approx(0.95, abs=0.015)


def test_a_by_hand_example():
    r = two_proportion_test(50, 1000, 70, 1000)
    se = np.sqrt(0.05 * 0.95 / 1000 + 0.07 * 0.93 / 1000)
    assert r["diff"] == pytest.approx(0.02)
    assert (r["low"], r["high"]) == pytest.approx((0.02 - 1.959964 * se, 0.02 + 1.959964 * se))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sample_size(0, 0.1), "p_control must be a rate strictly between 0 and 1, got 0"),
    (lambda: sample_size(0.05, 0), "lift must be non-zero"),
    (lambda: sample_size(0.6, 1.0), "treatment rate must be a rate"),
    (lambda: sample_size(0.05, 0.1, power=1.2), "power must be between 0 and 1"),
    (lambda: power(0.05, 0.06, 0), "n must be >= 1"),
    (lambda: two_proportion_test(11, 10, 5, 10), "arm a: need 0 <= successes <= n"),
    (lambda: two_proportion_test(1, 10, 5, 10, confidence=95), "confidence must be between 0 and 1"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
