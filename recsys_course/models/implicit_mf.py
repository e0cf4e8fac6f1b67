r"""Matrix factorisation for implicit feedback: who interacted with what, no stars.

``implicit_als`` is the alternating least squares of Hu, Koren & Volinsky
("Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008): every
user-item cell is a target, 1 where the user interacted and 0 elsewhere, each
weighted by a confidence :math:`c_{ui}` (1 for an empty cell, more for an
interaction), and the factors minimise

.. math:: \sum_{u,i} c_{ui} (p_{ui} - \mathbf{x}_u \cdot \mathbf{y}_i)^2
          + \lambda \Big(\sum_u \lVert \mathbf{x}_u\rVert^2 + \sum_i \lVert \mathbf{y}_i\rVert^2\Big)

With the item factors :math:`Y` fixed, each user's factors solve
:math:`(Y^\top C_u Y + \lambda I)\,\mathbf{x}_u = Y^\top C_u \mathbf{p}_u`, and
:math:`Y^\top C_u Y = Y^\top Y + Y^\top (C_u - I) Y`: the first term is the
same for every user (computed once per half-sweep), the second touches only
the items the user interacted with. That is what makes a sweep cost
O(interactions) instead of O(users x items). ``ImplicitALS`` wraps it in the
course's protocol.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..checks import check_int, check_number
from .base import Recommender, TrainingData

__all__ = ["ImplicitALS", "implicit_als"]


def implicit_als(confidence, user_factors: np.ndarray, item_factors: np.ndarray, reg: float,
                 n_epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Run ``n_epochs`` sweeps (users, then items) of exact implicit ALS from the given factors.

    ``confidence`` is a users x items sparse matrix holding :math:`c_{ui}` for
    the interactions only (the empty cells have confidence 1 and preference 0).
    Returns new arrays; the inputs are left unchanged. With
    ``confidence = 1 + alpha * r`` this is what ``implicit``'s
    ``AlternatingLeastSquares(alpha=1.0, use_cg=False)`` computes from the same
    starting factors (that library multiplies its input by ``alpha`` and does
    not add the 1 itself).
    """
    C = sparse.csr_matrix(confidence, dtype=float)
    Ct = C.T.tocsr()
    X, Y = np.array(user_factors, dtype=float), np.array(item_factors, dtype=float)
    for _ in range(n_epochs):
        _solve_side(C, X, Y, reg)
        _solve_side(Ct, Y, X, reg)
    return X, Y


def _solve_side(C, X: np.ndarray, Y: np.ndarray, reg: float) -> None:
    """Overwrite every row of X with its exact least-squares solution given Y."""
    k = Y.shape[1]
    shared = Y.T @ Y + reg * np.eye(k)  # Y^T Y + lambda I: once for all rows
    for row in range(C.shape[0]):
        start, end = C.indptr[row], C.indptr[row + 1]
        items, c = C.indices[start:end], C.data[start:end]
        Y_row = Y[items]
        A = shared + (Y_row.T * (c - 1.0)) @ Y_row
        X[row] = np.linalg.solve(A, Y_row.T @ c)


class ImplicitALS(Recommender):
    r"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008).

    Interactions get confidence :math:`c_{ui} = 1 + \alpha` (every other
    cell 1), and the user and item factors are fitted by :func:`implicit_als`
    from small random starting values (uniform on [0, 0.01), as ``implicit``
    starts). A user's score for an item is :math:`\mathbf{x}_u\cdot\mathbf{y}_i`.

    Parameters
    ----------
    n_factors : int, default 64
    n_epochs : int, default 15
        Sweeps, each solving every user, then every item, exactly.
    reg : float, default 0.1
        :math:`\lambda`.
    alpha : float, default 10
        Extra confidence of an interaction over an empty cell.
    positive_threshold : float, optional
        Only ratings >= this count as interactions; ``None`` (default) keeps
        all. Every rated item is still excluded from the user's list.
    random_state : int, default 0

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> model = ImplicitALS(n_factors=2, n_epochs=5).fit(load_toy().ratings)
    >>> model.user_factors_.shape, model.item_factors_.shape
    ((5, 2), (8, 2))
    """

    _needs_rating = False

    def __init__(self, n_factors: int = 64, n_epochs: int = 15, reg: float = 0.1, alpha: float = 10.0,
                 positive_threshold: float | None = None, random_state: int = 0):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.reg = reg
        self.alpha = alpha
        self.positive_threshold = positive_threshold
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        check_int("n_factors", self.n_factors, 1)
        check_int("n_epochs", self.n_epochs, 1)
        check_number("reg", self.reg, above=0, hint="with 0, an item or user with fewer interactions than "
                                                     "factors has no unique solution")
        check_number("alpha", self.alpha, at_least=0)
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        X = data.interactions(self.positive_threshold, (n_u, n_i))  # the protocol refuses a pair twice: all 1
        rng = np.random.default_rng(self.random_state)
        start_users = rng.random((n_u, self.n_factors)) * 0.01
        start_items = rng.random((n_i, self.n_factors)) * 0.01
        confidence = X.copy()
        confidence.data = 1.0 + self.alpha * confidence.data
        self.user_factors_, self.item_factors_ = implicit_als(confidence, start_users, start_items, self.reg,
                                                              self.n_epochs)
        self.interactions_ = X

    def _score(self, rows, cols):
        S = self.user_factors_[rows] @ self.item_factors_[cols].T
        S[np.diff(self.interactions_[rows].indptr) == 0] = np.nan  # nothing to start from: the fallback's job
        return S
