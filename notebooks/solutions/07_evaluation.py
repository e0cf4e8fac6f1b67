"""Reference solutions to the exercises of notebook 07 (evaluation).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import math

import numpy as np
import pandas as pd
from scipy import stats


def average_precision(recommended, relevant, k: int) -> float:
    """Exercise 07.1: AP@k, dividing by min(|relevant|, k)."""
    hits, total = 0, 0.0
    for position, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / position
    return total / min(len(relevant), k)


def mmr_next(relevance, similarity, chosen, lam: float) -> int:
    """Exercise 07.2: index of the item MMR adds next to the list `chosen`."""
    penalty = np.max(np.asarray(similarity)[:, chosen], axis=1)
    value = lam * np.asarray(relevance) - (1 - lam) * penalty
    value[chosen] = -np.inf
    return int(np.argmax(value))


def sample_size(p_control: float, lift: float) -> int:
    """Exercise 07.3: users per arm, two-sided alpha 0.05, power 0.8, relative lift."""
    p_treatment = p_control * (1 + lift)
    p_bar = (p_control + p_treatment) / 2
    z_alpha, z_beta = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    spread = (z_alpha * math.sqrt(2 * p_bar * (1 - p_bar))
              + z_beta * math.sqrt(p_control * (1 - p_control) + p_treatment * (1 - p_treatment)))
    return math.ceil(spread**2 / (p_treatment - p_control) ** 2)


# Exercise 07.4 (find the bug): the function exactly as the notebook shows it, then the fix.
def ndcg_at_k(recommended, relevant, k):
    """NDCG@k of one ranked list, binary relevance."""
    dcg = sum(1 / np.log2(position + 1)
              for position, item in enumerate(recommended[:k], start=1) if item in relevant)
    ideal = sum(1 / np.log2(position + 1) for position in range(1, len(relevant) + 1))
    return dcg / ideal


def ndcg_at_k_fixed(recommended, relevant, k):
    """Exercise 07.4: the ideal list has only k positions, so it holds min(|relevant|, k) hits."""
    dcg = sum(1 / np.log2(position + 1)
              for position, item in enumerate(recommended[:k], start=1) if item in relevant)
    ideal = sum(1 / np.log2(position + 1) for position in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def exposure_gini(recommendations, catalog) -> float:
    """Exercise 07.5: Gini index of how often each catalogue item is shown (0: evenly, near 1: a few items)."""
    shown = pd.Series([item for items in recommendations.values() for item in items], dtype=object)
    counts = np.sort(shown.value_counts().reindex(pd.Index(catalog, dtype=object), fill_value=0).to_numpy(float))
    n = len(counts)
    return float(((2 * np.arange(1, n + 1) - n - 1) * counts).sum() / (n * counts.sum()))


SOLUTIONS = {"07.1": average_precision, "07.2": mmr_next, "07.3": sample_size, "07.4": ndcg_at_k_fixed,
             "07.5": exposure_gini}
PLANTED_BUGS = {"07.4": ndcg_at_k}
