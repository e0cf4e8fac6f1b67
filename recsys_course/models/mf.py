r"""Matrix factorisation: biased MF by SGD (:class:`FunkSVD`) and by alternating least squares (:class:`ALS`).

Both learn :math:`\hat r_{ui} = \mu + b_u + b_i + \mathbf{p}_u \cdot \mathbf{q}_i` by minimising

.. math:: J = \sum_{(u,i) \in R} (r_{ui} - \hat r_{ui})^2
              + \lambda \big(b_u^2 + b_i^2 + \lVert\mathbf{p}_u\rVert^2 + \lVert\mathbf{q}_i\rVert^2\big)

(each regularisation term counted once per rating, as SGD sees it).

**FunkSVD** makes one SGD step per rating, exactly Surprise's ``SVD``: with
:math:`e_{ui} = r_{ui} - \hat r_{ui}`,

.. math:: b_u \mathrel{+}= \eta(e_{ui} - \lambda b_u),\quad
          b_i \mathrel{+}= \eta(e_{ui} - \lambda b_i),\quad
          \mathbf{p}_u \mathrel{+}= \eta(e_{ui}\mathbf{q}_i - \lambda \mathbf{p}_u),\quad
          \mathbf{q}_i \mathrel{+}= \eta(e_{ui}\mathbf{p}_u - \lambda \mathbf{q}_i).

The ratings are visited in Surprise's order (users by first appearance, each
user's ratings in the order given) and the factors start from the same
``RandomState(random_state).normal(0, 0.1)`` draws, so for the same data and
settings the two give the same model. The loop is compiled with numba
(:func:`~recsys_course.models.kernels.sgd_epochs`).

**ALS** fixes the item factors and solves every user's ridge regression in
closed form, then the other way round; all users (or items) are solved at
once with one stacked ``np.linalg.solve``
(:func:`~recsys_course.models.kernels.ridge_rows`). Each half-step is an exact
minimisation, so the objective never increases, and the solves are
independent, which is why ALS parallelises well (Spark MLlib) and extends to
implicit feedback (Hu, Koren & Volinsky 2008).

Both rank items for a user with one matrix product per block of users,
:math:`\mu + b_u + b_i + P Q^\top`.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..checks import check_int, check_number
from .base import RatingModel, TrainingData
from .kernels import als_biases, first_appearance, ridge_rows, sgd_epochs

__all__ = ["ALS", "FunkSVD", "gradient", "objective"]


def objective(r, u, i, mu, b_u, b_i, P, Q, reg) -> float:
    """The regularised squared error J above, for given parameters."""
    pred = mu + b_u[u] + b_i[i] + np.einsum("ij,ij->i", P[u], Q[i])
    penalty = b_u[u] ** 2 + b_i[i] ** 2 + (P[u] ** 2).sum(axis=1) + (Q[i] ** 2).sum(axis=1)
    return float(((r - pred) ** 2).sum() + reg * penalty.sum())


def gradient(r, u, i, mu, b_u, b_i, P, Q, reg) -> dict:
    """The analytic gradient of :func:`objective` with respect to ``b_u, b_i, P, Q``."""
    err = r - (mu + b_u[u] + b_i[i] + np.einsum("ij,ij->i", P[u], Q[i]))
    g_bu = np.bincount(u, weights=-2 * err + 2 * reg * b_u[u], minlength=len(b_u))
    g_bi = np.bincount(i, weights=-2 * err + 2 * reg * b_i[i], minlength=len(b_i))
    g_P, g_Q = np.zeros_like(P), np.zeros_like(Q)
    np.add.at(g_P, u, -2 * err[:, None] * Q[i] + 2 * reg * P[u])
    np.add.at(g_Q, i, -2 * err[:, None] * P[u] + 2 * reg * Q[i])
    return {"b_u": g_bu, "b_i": g_bi, "P": g_P, "Q": g_Q}


class _BiasedMF(RatingModel):
    """What FunkSVD and ALS share: the prediction, and ranking by one matrix product."""

    _iterative = True

    def _estimate(self, u, i):
        est = self.global_mean_ + self.b_u_[u] + self.b_i_[i] + np.einsum("ij,ij->i", self.P_[u], self.Q_[i])
        return est, np.zeros(len(u), dtype=bool)

    def _score(self, rows, cols):
        S = self.P_[rows] @ self.Q_[cols].T
        S += self.b_i_[cols]
        S += (self.global_mean_ + self.b_u_[rows])[:, None]
        return S

    def _start(self, data: TrainingData, rng_draw) -> None:
        """Initial factors, drawn row by row in the order users and items first appear in the ratings."""
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        P = rng_draw((n_u, self.n_factors))
        Q = rng_draw((n_i, self.n_factors))
        self.P_ = P[first_appearance(data.u, n_u)]
        self.Q_ = Q[first_appearance(data.i, n_i)]


class FunkSVD(_BiasedMF):
    """Biased matrix factorisation by SGD (Surprise's ``SVD``; Funk 2006, Koren et al. 2009).

    Parameters
    ----------
    n_factors : int, default 100
    n_epochs : int, default 20
    lr : float, default 0.005
    reg : float, default 0.02
    init_std : float, default 0.1
    random_state : int, default 0
    verbose : bool
        A tqdm progress bar over epochs.
    record_history : bool
        Store the objective J after each epoch in ``history_`` (costs one
        pass over the ratings per epoch).

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> model = FunkSVD(n_factors=2, n_epochs=50, lr=0.01).fit(load_toy().ratings)
    >>> model.P_.shape, model.Q_.shape
    ((5, 2), (8, 2))
    """

    def __init__(self, n_factors: int = 100, n_epochs: int = 20, lr: float = 0.005, reg: float = 0.02,
                 init_std: float = 0.1, random_state: int = 0, verbose: bool = False,
                 record_history: bool = False):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.init_std = init_std
        self.random_state = random_state
        self.verbose = verbose
        self.record_history = record_history

    def _fit_ratings(self, data: TrainingData) -> None:
        from tqdm.auto import tqdm

        check_int("n_factors", self.n_factors, 0)
        check_int("n_epochs", self.n_epochs, 0)
        check_number("lr", self.lr, above=0)
        check_number("reg", self.reg, at_least=0)
        check_number("init_std", self.init_std, at_least=0)
        rng = np.random.RandomState(self.random_state)  # the generator Surprise uses, for identical starts
        self._start(data, lambda shape: rng.normal(0, self.init_std, shape))
        self.b_u_, self.b_i_ = np.zeros(len(self.user_ids_)), np.zeros(len(self.item_ids_))
        order = np.argsort(first_appearance(data.u, len(self.user_ids_))[data.u], kind="stable")
        u, i, r = data.u[order], data.i[order], data.r[order]  # Surprise's order of visits
        self.history_ = []
        for epoch in tqdm(range(1, self.n_epochs + 1), desc="FunkSVD", disable=not self.verbose):
            sgd_epochs(u, i, r, self.global_mean_, self.b_u_, self.b_i_, self.P_, self.Q_,
                       self.lr, self.reg, self.lr, self.reg, 1)
            if self.record_history:
                self.history_.append(objective(r, u, i, self.global_mean_, self.b_u_, self.b_i_,
                                               self.P_, self.Q_, self.reg))
            self._callback(data, epoch)

    def explain(self, user_id, item_id) -> dict:
        """A prediction taken apart: global mean, user bias, item bias and the factor dot product."""
        self._check_fitted()
        u = self.user_ids_.get_indexer([user_id])[0]
        i = self.item_ids_.get_indexer([item_id])[0]
        if u < 0 or i < 0:
            raise KeyError(f"unknown {'user' if u < 0 else 'item'} {user_id if u < 0 else item_id!r}")
        parts = {"mu": self.global_mean_, "b_u": self.b_u_[u], "b_i": self.b_i_[i],
                 "p_u . q_i": self.P_[u] @ self.Q_[i]}
        parts["r_hat (unclipped)"] = sum(parts.values())
        return {k: float(v) for k, v in parts.items()}


class ALS(_BiasedMF):
    """Biased matrix factorisation by alternating least squares.

    The biases are fitted first (the ALS baseline of
    :class:`~recsys_course.models.baselines.BaselineModel`); the factors then
    model what the biases leave, alternating exact ridge solves for all users
    and all items. ``verbose`` shows a tqdm progress bar; ``record_history``
    stores the objective after each iteration in ``history_``.
    """

    def __init__(self, n_factors: int = 20, n_epochs: int = 10, reg: float = 10.0, init_std: float = 0.1,
                 random_state: int = 0, verbose: bool = False, record_history: bool = False):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.reg = reg
        self.init_std = init_std
        self.random_state = random_state
        self.verbose = verbose
        self.record_history = record_history

    def _fit_ratings(self, data: TrainingData) -> None:
        from tqdm.auto import tqdm

        check_int("n_factors", self.n_factors, 1)
        check_int("n_epochs", self.n_epochs, 0)
        check_number("reg", self.reg, above=0, hint="each solve adds reg to the diagonal; with 0, a user with "
                     "fewer ratings than factors has no unique solution")
        check_number("init_std", self.init_std, at_least=0)
        u, i, r = data.u, data.i, data.r
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        self.b_u_, self.b_i_ = als_biases(u, i, r, self.global_mean_, n_u, n_i)
        resid = r - self.global_mean_ - self.b_u_[u] - self.b_i_[i]
        R = sparse.csr_matrix((resid, (u, i)), shape=(n_u, n_i))
        B = sparse.csr_matrix((np.ones(len(r)), (u, i)), shape=(n_u, n_i))
        rng = np.random.default_rng(self.random_state)
        self._start(data, lambda shape: rng.normal(0, self.init_std, shape))
        self.history_ = []
        for epoch in tqdm(range(1, self.n_epochs + 1), desc="ALS", disable=not self.verbose):
            self.P_ = ridge_rows(B, R, self.Q_, self.reg)
            self.Q_ = ridge_rows(B.T.tocsr(), R.T.tocsr(), self.P_, self.reg)
            if self.record_history:
                pred = np.einsum("ij,ij->i", self.P_[u], self.Q_[i])
                self.history_.append(float(((resid - pred) ** 2).sum()
                                           + self.reg * ((self.P_ ** 2).sum() + (self.Q_ ** 2).sum())))
            self._callback(data, epoch)
