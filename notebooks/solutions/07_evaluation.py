"""Reference solutions to the exercises of notebook 07 (evaluation).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import math

import numpy as np
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


SOLUTIONS = {"07.1": average_precision, "07.2": mmr_next, "07.3": sample_size}
