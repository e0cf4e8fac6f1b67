r"""The numerical kernels that the baseline and matrix-factorisation models share.

* :func:`sgd_epochs`: the SGD loop of biased MF, compiled with numba. Plain
  numpy cannot express it: every step reads what the previous step wrote
  (vectorised mini-batches would change the algorithm), and a Python loop over
  100,000 ratings x 20 epochs x 100 factors takes minutes instead of a second.
  With zero factors it fits the biases alone (:class:`~recsys_course.models.baselines.BaselineModel`).
* :func:`first_appearance`: the order in which Surprise meets users and items,
  which its SGD visits and its random start follows.
* :func:`als_biases`: user and item biases by alternating closed-form updates.
* :func:`ridge_rows`: every row's ridge regression on fixed factors at once (ALS).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

__all__ = ["als_biases", "first_appearance", "ridge_rows", "sgd_epochs"]


@numba.njit(cache=True)
def sgd_epochs(u, i, r, mu, b_u, b_i, P, Q, lr, reg, lr_b, reg_b, n_epochs):  # pragma: no cover - compiled
    """``n_epochs`` passes of SGD over the ratings in the order given, updating the arrays in place."""
    k = P.shape[1]
    for _ in range(n_epochs):
        for j in range(len(u)):
            uu, ii = u[j], i[j]
            dot = 0.0
            for f in range(k):
                dot += Q[ii, f] * P[uu, f]
            err = r[j] - (mu + b_u[uu] + b_i[ii] + dot)
            b_u[uu] += lr_b * (err - reg_b * b_u[uu])
            b_i[ii] += lr_b * (err - reg_b * b_i[ii])
            for f in range(k):
                puf = P[uu, f]
                qif = Q[ii, f]
                P[uu, f] += lr * (err * qif - reg * puf)
                Q[ii, f] += lr * (err * puf - reg * qif)


def first_appearance(x: np.ndarray, n: int) -> np.ndarray:
    """``rank[j]``: when value ``j`` (0..n-1) first appears in ``x`` (0 = first); values absent from ``x`` come last.

    Surprise numbers users and items in this order, visits the ratings user by
    user in it, and draws the initial factors row by row in it.

    >>> first_appearance(np.array([2, 0, 2, 1]), 4).tolist()
    [1, 2, 0, 3]
    """
    rank = np.full(n, n, dtype=np.int64)
    seen = pd.unique(x)
    rank[seen] = np.arange(len(seen))
    absent = np.flatnonzero(rank == n)
    rank[absent] = len(seen) + np.arange(len(absent))
    return rank


def als_biases(u, i, r, mu, n_users, n_items, reg_u=15.0, reg_i=10.0, n_epochs=10):
    r"""User and item biases by alternating closed-form updates (Surprise's ``baseline_als``).

    .. math:: b_i = \frac{\sum_{u \in U_i}(r_{ui} - \mu - b_u)}{\lambda_i + |U_i|},\qquad
              b_u = \frac{\sum_{i \in I_u}(r_{ui} - \mu - b_i)}{\lambda_u + |I_u|}
    """
    b_u = np.zeros(n_users)
    b_i = np.zeros(n_items)
    count_u, count_i = np.bincount(u, minlength=n_users), np.bincount(i, minlength=n_items)
    for _ in range(n_epochs):
        b_i = np.bincount(i, weights=r - mu - b_u[u], minlength=n_items) / (reg_i + count_i)
        b_u = np.bincount(u, weights=r - mu - b_i[i], minlength=n_users) / (reg_u + count_u)
    return b_u, b_i


def ridge_rows(B, R, F, reg: float) -> np.ndarray:
    r"""For every row of ``R`` (sparse, with pattern ``B``), the ridge solution on the fixed factors ``F``.

    Row :math:`x` solves :math:`(F_x^\top F_x + \lambda I)\,\mathbf{p}_x = F_x^\top \mathbf{r}_x`
    where :math:`F_x` holds the factors of the columns the row has a value in;
    all rows at once, with one stacked ``np.linalg.solve``.
    """
    k = F.shape[1]
    outer = (F[:, :, None] * F[:, None, :]).reshape(len(F), k * k)
    A = (B @ outer).reshape(B.shape[0], k, k) + reg * np.eye(k)
    b = R @ F
    return np.linalg.solve(A, b[:, :, None])[:, :, 0]
