"""Bootstrap intervals and paired tests: reproducible, close to scipy, and only over users present in both."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recsys_course import stats as S

def test_bootstrap_ci_is_reproducible_and_close_to_scipy():
    rng = np.random.default_rng(0)
    values = np.append(rng.random(400), [np.nan] * 10)
    ci = S.bootstrap_ci(values, n_resamples=4000, random_state=1)
    assert ci == S.bootstrap_ci(values, n_resamples=4000, random_state=1)
    assert ci["n"] == 400 and ci["low"] < ci["mean"] < ci["high"]
    ref = stats.bootstrap((values[~np.isnan(values)],), np.mean, n_resamples=4000, method="percentile",
                          random_state=2).confidence_interval
    assert ci["low"] == pytest.approx(ref.low, abs=0.005) and ci["high"] == pytest.approx(ref.high, abs=0.005)
    with pytest.raises(ValueError, match="at least 2"):
        S.bootstrap_ci([1.0, np.nan])


def test_paired_test_methods():
    rng = np.random.default_rng(0)
    users = pd.Index(range(300))
    a = pd.Series(rng.random(300), index=users)
    better = a + 0.05 + rng.normal(0, 0.02, 300)
    for method in ("t", "wilcoxon", "permutation"):
        result = S.paired_test(better, a, method=method, n_resamples=2000)
        assert result["p_value"] < 0.001 and result["mean_diff"] == pytest.approx(0.05, abs=0.01)
    same = S.paired_test(a, a + rng.normal(0, 0.01, 300), method="permutation", n_resamples=2000)
    assert same["p_value"] > 0.01
    t = S.paired_test(better, a, method="t")
    assert t["statistic"] == pytest.approx(stats.ttest_rel(better, a).statistic)
    with pytest.raises(ValueError, match="method must be"):
        S.paired_test(a, a, method="z")


def test_paired_test_only_uses_users_present_in_both():
    a = pd.Series({1: 0.5, 2: np.nan, 3: 0.1, 4: 0.3})
    b = pd.Series({1: 0.4, 3: 0.2, 4: 0.1, 5: 0.9})
    assert S.paired_test(a, b)["n"] == 3
