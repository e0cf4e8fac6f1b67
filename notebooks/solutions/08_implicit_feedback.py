"""Reference solutions to the exercises of notebook 08 (implicit feedback).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np


def ease_weights(X, reg):
    """Exercise 08.1: EASE's item-item matrix, B = -P / diag(P) off the diagonal, 0 on it."""
    P = np.linalg.inv(X.T @ X + reg * np.eye(X.shape[1]))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    return B


# Exercise 08.2 (find the bug): the function exactly as the notebook shows it, then the fix.
def solve_user(Y, items, confidence, reg):
    """Factors of one user: the items they interacted with, and their confidences."""
    k = Y.shape[1]
    Y_u = Y[items]
    A = Y.T @ Y + (Y_u.T * confidence) @ Y_u + reg * np.eye(k)
    b = Y_u.T @ confidence
    return np.linalg.solve(A, b)


def solve_user_fixed(Y, items, confidence, reg):
    """Exercise 08.2: Y^T Y already counts every item with confidence 1; the user's items add c - 1 more."""
    k = Y.shape[1]
    Y_u = Y[items]
    A = Y.T @ Y + (Y_u.T * (confidence - 1)) @ Y_u + reg * np.eye(k)
    b = Y_u.T @ confidence
    return np.linalg.solve(A, b)


def popular_share(recommendations, item_counts, n_top=100):
    """Exercise 08.3: the share of all recommended slots that hold one of the n_top most interacted-with items."""
    ranked = item_counts.sort_index().sort_values(ascending=False, kind="stable")
    top = set(ranked.index[:n_top])
    slots = [item for items in recommendations.values() for item in items]
    return sum(item in top for item in slots) / len(slots)


SOLUTIONS = {"08.1": ease_weights, "08.2": solve_user_fixed, "08.3": popular_share}
PLANTED_BUGS = {"08.2": solve_user}
