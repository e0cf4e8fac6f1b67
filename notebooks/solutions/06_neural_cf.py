"""Reference solutions to the exercises of notebook 06 (neural collaborative filtering).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np


def ndcg_single(rank: int) -> float:
    """Exercise 06.1: NDCG@10 when the only relevant item sits at 1-based `rank`."""
    return float(1 / np.log2(rank + 1)) if rank <= 10 else 0.0


def sampled_rank(scores, positive: int, negatives) -> int:
    """Exercise 06.2: 1-based rank of `positive` among itself and the sampled `negatives`."""
    return int(1 + np.sum(scores[np.asarray(negatives)] > scores[positive]))


def count_parameters(n_users: int, n_items: int, dim: int, layers) -> int:
    """Exercise 06.3: weights and biases of the MLP model (embeddings, tower, output)."""
    total = (n_users + n_items) * dim
    width = 2 * dim
    for size in layers:
        total += width * size + size
        width = size
    return total + width + 1


SOLUTIONS = {"06.1": ndcg_single, "06.2": sampled_rank, "06.3": count_parameters}
