"""How sure can we be? Confidence intervals for a mean over users, and paired tests between two models.

Both work on per-user values (one number per test user, e.g. their NDCG@10),
which is what :func:`recsys_course.evaluation.evaluate` returns with
``return_per_user=True``: the user, not the rating, is the unit that was
sampled, so the user is what a bootstrap resamples and a paired test pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["bootstrap_ci", "paired_test"]


def bootstrap_ci(per_user_values, n_resamples: int = 2000, confidence: float = 0.95,
                 random_state: int = 0) -> dict:
    """Percentile-bootstrap confidence interval of the mean of per-user values.

    NaN values (users without a defined metric) are dropped first. Returns
    ``{"mean", "low", "high", "n"}``.
    """
    values = np.asarray(per_user_values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size < 2:
        raise ValueError(f"need at least 2 non-NaN values for a bootstrap, got {values.size}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    rng = np.random.default_rng(random_state)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 500):  # in blocks: bounded memory for large n
        stop = min(start + 500, n_resamples)
        means[start:stop] = values[rng.integers(0, values.size, (stop - start, values.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": int(values.size)}


def paired_test(a: pd.Series, b: pd.Series, method: str = "t", random_state: int = 0,
                n_resamples: int = 10_000) -> dict:
    """Is model A's per-user metric different from model B's on the same users?

    ``a`` and ``b`` are per-user values indexed by user; only users with a
    value for both are compared. ``method``: ``"t"`` (paired t-test),
    ``"wilcoxon"`` (signed-rank test) or ``"permutation"`` (random sign flips
    of the differences; no distributional assumption).
    """
    joined = pd.concat({"a": pd.Series(a, dtype=float), "b": pd.Series(b, dtype=float)}, axis=1).dropna()
    if len(joined) < 2:
        raise ValueError(f"need at least 2 users with values for both models, got {len(joined)}")
    diff = (joined["a"] - joined["b"]).to_numpy()
    if method == "t":
        result = stats.ttest_rel(joined["a"], joined["b"])
        statistic, p_value = result.statistic, result.pvalue
    elif method == "wilcoxon":
        result = stats.wilcoxon(diff)
        statistic, p_value = result.statistic, result.pvalue
    elif method == "permutation":
        rng = np.random.default_rng(random_state)
        observed = abs(diff.mean())
        signs = rng.choice([-1.0, 1.0], size=(n_resamples, diff.size))
        flipped = np.abs((signs * diff).mean(axis=1))
        statistic = diff.mean()
        p_value = (1 + (flipped >= observed - 1e-15).sum()) / (n_resamples + 1)
    else:
        raise ValueError(f"method must be 't', 'wilcoxon' or 'permutation', got {method!r}")
    return {"method": method, "n": len(joined), "mean_a": float(joined["a"].mean()),
            "mean_b": float(joined["b"].mean()), "mean_diff": float(diff.mean()),
            "statistic": float(statistic), "p_value": float(p_value)}
