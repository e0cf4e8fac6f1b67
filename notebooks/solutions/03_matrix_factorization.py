"""Reference solutions to the exercises of notebook 03 (matrix factorisation).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np
import pandas as pd


def sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    """Exercise 03.1: one SGD step on one rating; returns the new (b_u, b_i, p_u, q_i)."""
    err = r - (mu + b_u + b_i + p_u @ q_i)
    return (b_u + lr * (err - reg * b_u), b_i + lr * (err - reg * b_i),
            p_u + lr * (err * q_i - reg * p_u), q_i + lr * (err * p_u - reg * q_i))


def als_user(Q_rated, residuals, reg):
    """Exercise 03.2: the user's factors that minimise the squared error plus reg * ||p||^2."""
    k = Q_rated.shape[1]
    return np.linalg.solve(Q_rated.T @ Q_rated + reg * np.eye(k), Q_rated.T @ residuals)


def blend_weights(X, y):
    """Exercise 03.3: intercept and weights of the least-squares blend y ~ 1 + X."""
    A = np.column_stack([np.ones(len(X)), X])
    return np.linalg.lstsq(A, y, rcond=None)[0]


# Exercise 03.4 (find the bug): the function exactly as the notebook shows it, bug included.
def sgd_epoch(u_idx, i_idx, r, mu, b_u, b_i, P, Q, lr, reg):
    """One pass of SGD over the ratings: updates b_u, b_i, P and Q in place and returns them."""
    for u, i, r_ui in zip(u_idx, i_idx, r):
        e = r_ui - (mu + b_u[u] + b_i[i] + P[u] @ Q[i])
        b_u[u] += lr * (e - reg * b_u[u])
        b_i[i] += lr * e
        P[u], Q[i] = P[u] + lr * (e * Q[i] - reg * P[u]), Q[i] + lr * (e * P[u] - reg * Q[i])
    return b_u, b_i, P, Q


def sgd_epoch_fixed(u_idx, i_idx, r, mu, b_u, b_i, P, Q, lr, reg):
    """Exercise 03.4, fixed: the item bias is regularised like every other parameter (J penalises b_i^2 too)."""
    for u, i, r_ui in zip(u_idx, i_idx, r):
        e = r_ui - (mu + b_u[u] + b_i[i] + P[u] @ Q[i])
        b_u[u] += lr * (e - reg * b_u[u])
        b_i[i] += lr * (e - reg * b_i[i])
        P[u], Q[i] = P[u] + lr * (e * Q[i] - reg * P[u]), Q[i] + lr * (e * P[u] - reg * Q[i])
    return b_u, b_i, P, Q


def session_bias(user_ids, bins, residuals, shrink):
    """Exercise 03.5: each (user, time bin)'s shrunk mean residual, sum / (count + shrink)."""
    frame = pd.DataFrame({"user_id": np.asarray(user_ids), "bin": np.asarray(bins), "e": np.asarray(residuals, float)})
    grouped = frame.groupby(["user_id", "bin"])["e"]
    return grouped.sum() / (grouped.count() + shrink)


SOLUTIONS = {"03.1": sgd_step, "03.2": als_user, "03.3": blend_weights, "03.4": sgd_epoch_fixed,
             "03.5": session_bias}
PLANTED_BUGS = {"03.4": sgd_epoch}
