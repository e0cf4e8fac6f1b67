"""Reference solutions to the exercises of notebook 06 (neural collaborative filtering).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np


def ndcg_single(rank: int) -> float:
    """Exercise 06.1: NDCG@10 when the only relevant item sits at 1-based `rank`."""
    return float(1 / np.log2(rank + 1)) if rank <= 10 else 0.0


def sampled_rank(scores, positive: int, negatives) -> int:
    """Exercise 06.2: 1-based rank of `positive` among itself and the sampled `negatives` (ties count against it)."""
    return int(1 + np.sum(scores[np.asarray(negatives)] >= scores[positive]))


def count_parameters(n_users: int, n_items: int, dim: int, layers) -> int:
    """Exercise 06.3: weights and biases of the MLP model (embeddings, tower, output)."""
    total = (n_users + n_items) * dim
    width = 2 * dim
    for size in layers:
        total += width * size + size
        width = size
    return total + width + 1


def sample_negatives(positives, n_items, n, rng):
    """n items (with repetition) drawn uniformly from those the user never interacted with."""
    positives = np.asarray(positives)
    items = rng.integers(0, n_items, n)
    bad = np.isin(items, positives)
    items[bad] = rng.integers(0, n_items, bad.sum())
    return items


def fixed_sample_negatives(positives, n_items, n, rng):
    """Exercise 06.4, fixed: redraw until no draw is a positive (a redraw can land on one again)."""
    positives = np.asarray(positives)
    items = rng.integers(0, n_items, n)
    bad = np.isin(items, positives)
    while bad.any():
        items[bad] = rng.integers(0, n_items, bad.sum())
        bad = np.isin(items, positives)
    return items


def popularity_negatives(positives, counts, n, rng, alpha=0.75):
    """Exercise 06.5: n negatives drawn with probability proportional to (1 + count) ** alpha."""
    weights = (1.0 + np.asarray(counts, dtype=float)) ** alpha
    weights[np.asarray(positives, dtype=int)] = 0.0
    return rng.choice(len(weights), size=n, p=weights / weights.sum())


SOLUTIONS = {"06.1": ndcg_single, "06.2": sampled_rank, "06.3": count_parameters,
             "06.4": fixed_sample_negatives, "06.5": popularity_negatives}
# the buggy function exercise 06.4 shows, exactly as the notebook shows it
PLANTED_BUGS = {"06.4": sample_negatives}
