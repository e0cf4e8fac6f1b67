r"""The arithmetic of an online A/B test on a click-through rate (two proportions).

Offline metrics rank models; an A/B test decides whether users notice. The
three questions are how many users each arm needs, whether an observed
difference is more than noise, and how large it plausibly is.

For control rate :math:`p_1`, treatment rate :math:`p_2`, :math:`\bar p` their
mean and :math:`z_q` the standard-normal quantile, a two-sided z-test at
level :math:`\alpha` with power :math:`1-\beta` needs per arm

.. math:: n = \frac{\left(z_{1-\alpha/2}\sqrt{2\bar p(1-\bar p)}
          + z_{1-\beta}\sqrt{p_1(1-p_1) + p_2(1-p_2)}\right)^2}{(p_2 - p_1)^2}

(Fleiss, *Statistical Methods for Rates and Proportions*, without continuity
correction). :func:`two_proportion_test` uses the pooled standard error for
the test and the unpooled one for the confidence interval, as is usual.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

from scipy import stats

__all__ = ["assign_arm", "power", "sample_size", "two_proportion_test"]


def _check_rate(name: str, p: float) -> None:
    if not 0 < p < 1:
        raise ValueError(f"{name} must be a rate strictly between 0 and 1, got {p}")


def _check_level(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def assign_arm(user_id, arms: Mapping[str, float], salt: str = "experiment") -> str:
    """The arm of an experiment that ``user_id`` sees: stable across requests, processes and restarts.

    The user id and the experiment's ``salt`` are hashed (SHA-256, not
    Python's ``hash()``, which changes with every process) to a number
    :math:`h` uniform in :math:`[0, 1)`; the arms split that interval by
    their weights, in the order given. The same user always lands in the
    same arm, a new ``salt`` (a new experiment) reshuffles users
    independently of the last one, and no table of assignments is stored.

    >>> arms = {"control": 0.5, "treatment": 0.5}
    >>> assign_arm(42, arms) == assign_arm(42, arms)
    True
    >>> sorted({assign_arm(user, arms) for user in range(100)})
    ['control', 'treatment']
    """
    if not isinstance(arms, Mapping) or not arms:
        raise ValueError(f"arms must be a non-empty mapping arm -> weight, e.g. {{'A': 0.5, 'B': 0.5}}; got {arms!r}")
    weights = [float(w) for w in arms.values()]
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"arm weights must be finite, >= 0 and not all 0, got {dict(arms)}")
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    h = int.from_bytes(digest[:8], "big") / 2**64
    total, edge = sum(weights), 0.0
    for arm, weight in zip(arms, weights):
        edge += weight / total
        if h < edge:
            return arm
    return next(arm for arm, weight in reversed(list(zip(arms, weights))) if weight > 0)  # h rounding at 1


def sample_size(p_control: float, lift: float, alpha: float = 0.05, power: float = 0.8,
                relative: bool = True) -> int:
    """Users per arm to detect ``lift`` on a rate ``p_control`` (two-sided z-test).

    ``lift`` is relative by default (0.05 = +5 % of ``p_control``); with
    ``relative=False`` it is absolute (0.005 = +0.5 percentage points).

    >>> sample_size(0.05, 0.10)          # 5 % CTR, detect +10 % (to 5.5 %)
    31234
    """
    _check_rate("p_control", p_control)
    _check_level("alpha", alpha)
    _check_level("power", power)
    if lift == 0:
        raise ValueError("lift must be non-zero: no sample size detects a difference of 0")
    p_treatment = p_control * (1 + lift) if relative else p_control + lift
    _check_rate("the treatment rate", p_treatment)
    p_bar = (p_control + p_treatment) / 2
    z_alpha, z_beta = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    numerator = (z_alpha * math.sqrt(2 * p_bar * (1 - p_bar))
                 + z_beta * math.sqrt(p_control * (1 - p_control) + p_treatment * (1 - p_treatment)))
    return math.ceil(numerator**2 / (p_treatment - p_control) ** 2)


def power(p_control: float, p_treatment: float, n: int, alpha: float = 0.05) -> float:
    """Probability that the two-sided z-test with ``n`` users per arm detects the difference."""
    _check_rate("p_control", p_control)
    _check_rate("p_treatment", p_treatment)
    _check_level("alpha", alpha)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    p_bar = (p_control + p_treatment) / 2
    se_null = math.sqrt(2 * p_bar * (1 - p_bar) / n)
    se_alt = math.sqrt((p_control * (1 - p_control) + p_treatment * (1 - p_treatment)) / n)
    z_alpha = stats.norm.ppf(1 - alpha / 2)
    delta = abs(p_treatment - p_control)
    # both tails; the wrong-direction one is negligible unless delta is tiny
    return float(stats.norm.cdf((delta - z_alpha * se_null) / se_alt)
                 + stats.norm.cdf((-delta - z_alpha * se_null) / se_alt))


def two_proportion_test(successes_a: int, n_a: int, successes_b: int, n_b: int,
                        confidence: float = 0.95) -> dict:
    """Is B's rate different from A's? Difference, its confidence interval, z and p-value.

    >>> result = two_proportion_test(500, 10_000, 580, 10_000)
    >>> round(result["diff"], 4), round(result["p_value"], 4)
    (0.008, 0.0123)
    """
    _check_level("confidence", confidence)
    for name, s, n in (("a", successes_a, n_a), ("b", successes_b, n_b)):
        if n < 1 or not 0 <= s <= n:
            raise ValueError(f"arm {name}: need 0 <= successes <= n and n >= 1, got {s} of {n}")
    p_a, p_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    diff = p_b - p_a
    z = diff / se_pooled if se_pooled > 0 else 0.0
    half = stats.norm.ppf(1 - (1 - confidence) / 2) * se
    return {"rate_a": p_a, "rate_b": p_b, "diff": diff, "low": diff - half, "high": diff + half,
            "z": z, "p_value": float(2 * stats.norm.sf(abs(z)))}
