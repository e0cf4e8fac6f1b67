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
settings the two give the same model. The loop is **compiled with numba**:
plain numpy cannot express it, because every step reads the values the
previous step wrote (vectorised mini-batches would change the algorithm), and
a Python loop over 100,000 ratings x 20 epochs x 100 factors takes minutes
instead of about a second.

**ALS** fixes the item factors and solves every user's ridge regression in
closed form, then the other way round; all users (or items) are solved at
once with one stacked ``np.linalg.solve``. Each half-step is an exact
minimisation, so the objective never increases, and the solves are
independent, which is why ALS parallelises well (Spark MLlib) and extends to
implicit feedback (Hu, Koren & Volinsky 2008).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import sparse

from .base import RatingModel

__all__ = ["ALS", "FunkSVD", "objective"]


@numba.njit(cache=True)
def _sgd_epochs(u, i, r, mu, b_u, b_i, P, Q, lr, reg, lr_b, reg_b, n_epochs):  # pragma: no cover - compiled
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


def _surprise_order(u: np.ndarray) -> np.ndarray:
    """Visit users in order of first appearance, each user's ratings in their original order."""
    return np.argsort(u, kind="stable")  # inner user ids are already numbered by first appearance


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


class FunkSVD(RatingModel):
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

    def fit(self, ratings, *, epoch_callback=None):
        """Fit on ``ratings``; ``epoch_callback(model)`` runs after every epoch (learning curves)."""
        self._epoch_callback = epoch_callback
        try:
            return super().fit(ratings)
        finally:
            del self._epoch_callback

    def _fit(self, u, i, r):
        from tqdm.auto import tqdm

        epoch_callback = getattr(self, "_epoch_callback", None)
        if self.n_factors < 0 or self.n_epochs < 0:
            raise ValueError(f"n_factors and n_epochs must be >= 0, got {self.n_factors} and {self.n_epochs}")
        rng = np.random.RandomState(self.random_state)  # the generator Surprise uses, for identical starts
        self.P_ = rng.normal(0, self.init_std, (len(self.user_ids_), self.n_factors))
        self.Q_ = rng.normal(0, self.init_std, (len(self.item_ids_), self.n_factors))
        self.b_u_, self.b_i_ = np.zeros(len(self.user_ids_)), np.zeros(len(self.item_ids_))
        order = _surprise_order(u)
        u, i, r = u[order], i[order], r[order]
        self.history_ = []
        for _ in tqdm(range(self.n_epochs), desc="FunkSVD", disable=not self.verbose):
            _sgd_epochs(u, i, r, self.global_mean_, self.b_u_, self.b_i_, self.P_, self.Q_,
                        self.lr, self.reg, self.lr, self.reg, 1)
            if self.record_history:
                self.history_.append(objective(r, u, i, self.global_mean_, self.b_u_, self.b_i_,
                                               self.P_, self.Q_, self.reg))
            if epoch_callback is not None:
                epoch_callback(self)

    def _raw(self, u, i):
        return self.global_mean_ + self.b_u_[u] + self.b_i_[i] + np.einsum("ij,ij->i", self.P_[u], self.Q_[i])

    def _estimate(self, u, i):
        return self._raw(u, i), np.zeros(len(u), dtype=bool)

    def explain(self, user_id, item_id) -> dict:
        """A prediction taken apart: global mean, user bias, item bias and the factor dot product."""
        self._check_fitted()
        u = self.user_ids_.get_indexer([user_id])[0]
        i = self.item_ids_.get_indexer([item_id])[0]
        if u < 0 or i < 0:
            raise KeyError(f"unknown {'user' if u < 0 else 'item'} {user_id if u < 0 else item_id!r}")
        parts = {"mu": self.global_mean_, "b_u": self.b_u_[u], "b_i": self.b_i_[i], "p_u . q_i": self.P_[u] @ self.Q_[i]}
        parts["r_hat (unclipped)"] = sum(parts.values())
        return {k: float(v) for k, v in parts.items()}


class ALS(RatingModel):
    """Biased matrix factorisation by alternating least squares.

    The biases are fitted first (the ALS baseline of :class:`BaselineModel`);
    the factors then model what the biases leave, alternating exact ridge
    solves for all users and all items. ``verbose`` shows a tqdm progress bar.
    """

    def __init__(self, n_factors: int = 20, n_epochs: int = 10, reg: float = 10.0, init_std: float = 0.1,
                 random_state: int = 0, record_history: bool = False, verbose: bool = False):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.reg = reg
        self.init_std = init_std
        self.random_state = random_state
        self.record_history = record_history
        self.verbose = verbose

    def _fit(self, u, i, r):
        from tqdm.auto import tqdm

        from .baselines import als_biases

        n_u, n_i, k = len(self.user_ids_), len(self.item_ids_), self.n_factors
        self.b_u_, self.b_i_ = als_biases(u, i, r, self.global_mean_, n_u, n_i)
        resid = r - self.global_mean_ - self.b_u_[u] - self.b_i_[i]
        R = sparse.csr_matrix((resid, (u, i)), shape=(n_u, n_i))
        B = sparse.csr_matrix((np.ones(len(r)), (u, i)), shape=(n_u, n_i))
        rng = np.random.default_rng(self.random_state)
        self.P_ = rng.normal(0, self.init_std, (n_u, k))
        self.Q_ = rng.normal(0, self.init_std, (n_i, k))
        self.history_ = []
        for _ in tqdm(range(self.n_epochs), desc="ALS", disable=not self.verbose):
            self.P_ = self._solve(B, R, self.Q_)
            self.Q_ = self._solve(B.T.tocsr(), R.T.tocsr(), self.P_)
            if self.record_history:
                pred = np.einsum("ij,ij->i", self.P_[u], self.Q_[i])
                self.history_.append(float(((resid - pred) ** 2).sum()
                                           + self.reg * ((self.P_ ** 2).sum() + (self.Q_ ** 2).sum())))

    def _solve(self, B, R, F):
        """Ridge solutions for every row of R given the fixed factors F (one stacked solve)."""
        k = F.shape[1]
        outer = (F[:, :, None] * F[:, None, :]).reshape(len(F), k * k)
        A = (B @ outer).reshape(B.shape[0], k, k) + self.reg * np.eye(k)
        b = R @ F
        return np.linalg.solve(A, b[:, :, None])[:, :, 0]

    def _estimate(self, u, i):
        est = self.global_mean_ + self.b_u_[u] + self.b_i_[i] + np.einsum("ij,ij->i", self.P_[u], self.Q_[i])
        return est, np.zeros(len(u), dtype=bool)
