r"""Bayesian Personalized Ranking: matrix factorisation trained to rank what a user chose above what they did not.

Rendle, Freudenthaler, Gantner & Schmidt-Thieme ("BPR: Bayesian Personalized
Ranking from Implicit Feedback", UAI 2009). A user's score for an item is

.. math:: \hat x_{ui} = \mathbf{p}_u \cdot \mathbf{q}_i + b_i

and training looks only at *differences* :math:`\hat x_{uij} = \hat x_{ui} - \hat x_{uj}`
between an item :math:`i` the user interacted with (a positive) and an item
:math:`j` they did not (a negative). The model maximises the log-likelihood
that every such pair is ordered right, with an L2 penalty,

.. math:: \text{BPR-Opt} = \sum_{(u,i,j)} \Big[\ln \sigma(\hat x_{uij})
          - \tfrac{\lambda}{2}\big(\lVert\mathbf{p}_u\rVert^2 + \lVert\mathbf{q}_i\rVert^2
          + \lVert\mathbf{q}_j\rVert^2 + b_i^2 + b_j^2\big)\Big],
          \qquad \sigma(x) = \frac{1}{1 + e^{-x}},

(the penalty counted once per sampled triple, as SGD sees it; :func:`objective`).
There are far too many triples to visit them all, so each SGD step draws one
(:func:`sample_triples`) and climbs its gradient: with
:math:`z = 1 - \sigma(\hat x_{uij}) = \sigma(-\hat x_{uij})`, how wrong the pair
still is, and every right-hand side taken at the values before the step,

.. math:: \mathbf{p}_u \mathrel{+}= \eta\big(z(\mathbf{q}_i - \mathbf{q}_j) - \lambda\mathbf{p}_u\big),\quad
          \mathbf{q}_i \mathrel{+}= \eta\big(z\,\mathbf{p}_u - \lambda\mathbf{q}_i\big),\quad
          \mathbf{q}_j \mathrel{+}= \eta\big(-z\,\mathbf{p}_u - \lambda\mathbf{q}_j\big),

.. math:: b_i \mathrel{+}= \eta(z - \lambda b_i),\qquad b_j \mathrel{+}= \eta(-z - \lambda b_j)

(:func:`bpr_sgd`, compiled with numba: every step reads what the one before
wrote, so it cannot be vectorised without changing the algorithm).

There is an item bias but no user bias: a user's bias would be added to both
:math:`\hat x_{ui}` and :math:`\hat x_{uj}` and cancel in every difference, so
it would never be learned, while an item's bias does not cancel and lets one
number per item carry how widely liked it is, leaving the factors for taste.
The ``implicit`` library keeps the same bias as an extra factor column whose
user entry is fixed at 1.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import sparse

from ..checks import check_choice, check_int, check_number
from .base import Recommender, TrainingData

__all__ = ["BPR", "bpr_sgd", "objective", "sample_triples"]

NEGATIVE_SAMPLING = ("uniform", "popularity")


@numba.njit(cache=True)
def bpr_sgd(u, i, j, P, Q, b_i, lr, reg):  # pragma: no cover - compiled
    r"""One SGD step per triple ``(u[s], i[s], j[s])``, in order, updating ``P``, ``Q`` and ``b_i`` in place.

    Returns how many triples the model ordered right (:math:`\hat x_{uij} > 0`)
    before their step: divided by ``len(u)``, a running estimate of the
    training AUC.
    """
    k = P.shape[1]
    correct = 0
    for s in range(len(u)):
        uu, ii, jj = u[s], i[s], j[s]
        x = b_i[ii] - b_i[jj]
        for f in range(k):
            x += P[uu, f] * (Q[ii, f] - Q[jj, f])
        if x > 0.0:
            correct += 1
        z = 1.0 / (1.0 + math.exp(x))  # sigma(-x): d ln sigma(x) / dx
        b_i[ii] += lr * (z - reg * b_i[ii])
        b_i[jj] += lr * (-z - reg * b_i[jj])
        for f in range(k):
            puf, qif, qjf = P[uu, f], Q[ii, f], Q[jj, f]
            P[uu, f] += lr * (z * (qif - qjf) - reg * puf)
            Q[ii, f] += lr * (z * puf - reg * qif)
            Q[jj, f] += lr * (-z * puf - reg * qjf)
    return correct


def objective(u, i, j, P, Q, b_i, reg) -> float:
    """BPR-Opt above for the triples ``(u[s], i[s], j[s])``: log-likelihood minus the L2 penalty (higher is better)."""
    x = b_i[i] - b_i[j] + np.einsum("sf,sf->s", P[u], Q[i] - Q[j])
    penalty = (P[u] ** 2).sum(axis=1) + (Q[i] ** 2).sum(axis=1) + (Q[j] ** 2).sum(axis=1) + b_i[i] ** 2 + b_i[j] ** 2
    return float(-np.logaddexp(0.0, -x).sum() - reg / 2 * penalty.sum())  # ln sigma(x) = -ln(1 + e^-x)


@numba.njit(cache=True)
def _in_rows(indptr, indices, u, j):  # pragma: no cover - compiled
    """``out[s]``: whether ``j[s]`` is in row ``u[s]`` of a CSR pattern with sorted indices (binary search)."""
    out = np.zeros(len(u), dtype=np.bool_)
    for s in range(len(u)):
        lo, hi = indptr[u[s]], indptr[u[s] + 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if indices[mid] < j[s]:
                lo = mid + 1
            else:
                hi = mid
        out[s] = lo < indptr[u[s] + 1] and indices[lo] == j[s]
    return out


def sample_triples(X, n_draws: int, rng: np.random.Generator, negative_sampling: str = "uniform"):
    r"""Draw ``n_draws`` candidate triples ``(u, i, j)`` from the users x items interaction matrix ``X``; keep the valid ones.

    ``X`` is anything ``scipy.sparse.csr_matrix`` accepts; its nonzero cells are the interactions.

    * ``(u, i)``: one of the interactions (nonzero cells of ``X``), uniformly,
      with replacement (so an active user is drawn more often);
    * ``j``: ``"uniform"`` draws any item of the catalogue with equal chance;
      ``"popularity"`` takes the item of another uniformly drawn interaction,
      so an item comes in proportion to its number of interactions (an item
      without any is never drawn).

    A triple whose ``j`` is one of the user's own positives is dropped, not
    drawn again (``implicit``'s ``verify_negative_samples``). What is kept is
    then a draw from the set :math:`D_S` of all (user, positive, negative)
    triples with probability proportional to :math:`w_j`: with ``"uniform"``
    every triple equally likely, Rendle et al.'s LearnBPR draw; with
    ``"popularity"`` :math:`w_j` is the number of interactions of ``j``.
    Returns three int64 arrays of the kept triples, in the order drawn.
    """
    check_int("n_draws", n_draws, 0)
    check_choice("negative_sampling", negative_sampling, NEGATIVE_SAMPLING)
    X = sparse.csr_matrix(X, copy=True)  # the caller's matrix is left as it was
    X.eliminate_zeros()
    X.sum_duplicates()  # and sorts each row's indices, for the binary search
    n_items = X.shape[1]
    if X.nnz == 0:
        raise ValueError("X has no interaction: there is no positive item to sample")
    owner = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))  # the user of each interaction
    picks = rng.integers(0, X.nnz, n_draws)
    u, i = owner[picks], X.indices[picks].astype(np.int64)
    if negative_sampling == "uniform":
        j = rng.integers(0, n_items, n_draws)
    else:
        j = X.indices[rng.integers(0, X.nnz, n_draws)].astype(np.int64)
    keep = ~_in_rows(X.indptr, X.indices, u, j)
    return u[keep], i[keep], j[keep]


def _has_negatives(X: sparse.csr_matrix, negative_sampling: str) -> bool:
    """Whether some user has an item that ``negative_sampling`` can draw and they did not interact with."""
    # every positive of a user is drawable, so a user with fewer positives than drawable items has a negative
    drawable = X.shape[1] if negative_sampling == "uniform" else len(np.unique(X.indices))
    return bool((np.diff(X.indptr) < drawable).any())


class BPR(Recommender):
    r"""Matrix factorisation with an item bias, trained by SGD on the BPR pairwise loss (Rendle et al. 2009).

    Each epoch draws as many triples as there are interactions, drops
    those whose negative is one of the user's positives
    (:func:`sample_triples`), and makes one SGD step per kept triple
    (:func:`bpr_sgd`; the maths is in the module docstring), as
    ``implicit``'s ``BayesianPersonalizedRanking`` does. Factors start
    uniform on :math:`[-0.5, 0.5) / k` and the item biases at 0. A user's
    score for an item is :math:`\mathbf{p}_u \cdot \mathbf{q}_i + b_i`; a
    user with no interaction to learn from gets ``NaN`` scores and so the
    protocol's popularity fallback.

    Parameters
    ----------
    n_factors : int, default 64
        :math:`k`.
    n_epochs : int, default 100
    lr : float, default 0.05
        :math:`\eta`.
    reg : float, default 0.02
        :math:`\lambda`, applied to the factors and biases of the triple at each step.
    negative_sampling : {"uniform", "popularity"}, default "uniform"
        How the negative item is drawn: every item equally, or in proportion
        to its number of interactions (as ``implicit`` does), which shows the
        model more of the popular items a user skipped.
    positive_threshold : float, optional
        Only ratings >= this count as interactions; ``None`` (default) keeps
        all. A rated item below the threshold can be drawn as a negative, and
        every rated item is still excluded from the user's list.
    random_state : int, default 0
        Seeds the starting factors and every draw: the same seed gives the same model.

    Attributes
    ----------
    P_, Q_ : ndarray
        User and item factors, ``(n_users, k)`` and ``(n_items, k)``.
    b_i_ : ndarray
        Item biases.
    history_ : list of float
        Per epoch, the share of its sampled triples the model ordered right
        before their step (a running estimate of the training AUC).

    Notes
    -----
    With ``negative_sampling="popularity"`` this is the algorithm of
    ``implicit``'s ``BayesianPersonalizedRanking`` (0.7.3), run on one
    thread; that library also keeps its factors in float32 by default,
    starts the item biases at random like the factors instead of at 0, and
    zeroes the starting rows of users and items without interactions. The
    defaults here (64 factors, lr 0.05, reg 0.02, 100 epochs, uniform
    negatives) were chosen on a validation split carved out of the training
    part of MovieLens-100k's ``random_split(test_size=0.2, random_state=0)``;
    ``implicit``'s own (lr 0.01, reg 0.01) train more slowly.

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> model = BPR(n_factors=2, n_epochs=20).fit(load_toy().ratings)
    >>> model.P_.shape, model.Q_.shape, model.b_i_.shape
    ((5, 2), (8, 2), (8,))
    >>> len(model.history_)
    20
    """

    _needs_rating = False
    _iterative = True

    def __init__(self, n_factors: int = 64, n_epochs: int = 100, lr: float = 0.05, reg: float = 0.02,
                 negative_sampling: str = "uniform", positive_threshold: float | None = None, random_state: int = 0):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.negative_sampling = negative_sampling
        self.positive_threshold = positive_threshold
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        k = check_int("n_factors", self.n_factors, 1)
        check_int("n_epochs", self.n_epochs, 0)
        lr = check_number("lr", self.lr, above=0)
        reg = check_number("reg", self.reg, at_least=0)
        check_choice("negative_sampling", self.negative_sampling, NEGATIVE_SAMPLING)
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        X = data.interactions(self.positive_threshold, (n_u, n_i))
        X.sort_indices()
        if not _has_negatives(X, self.negative_sampling):
            raise ValueError(f"every user interacted with every item that negative_sampling="
                             f"{self.negative_sampling!r} can draw: BPR has no (positive, negative) pair to learn "
                             "from; raise positive_threshold or use a model for explicit ratings")
        rng = np.random.default_rng(self.random_state)
        self.P_ = (rng.random((n_u, k)) - 0.5) / k  # implicit's start
        self.Q_ = (rng.random((n_i, k)) - 0.5) / k
        self.b_i_ = np.zeros(n_i)
        self.interactions_ = X
        self.history_ = []
        for epoch in range(1, self.n_epochs + 1):
            u, i, j = sample_triples(X, X.nnz, rng, self.negative_sampling)
            correct = bpr_sgd(u, i, j, self.P_, self.Q_, self.b_i_, lr, reg)
            self.history_.append(correct / len(u) if len(u) else np.nan)
            self._callback(data, epoch)

    def _score(self, rows, cols):
        S = self.P_[rows] @ self.Q_[cols].T
        S += self.b_i_[cols]
        S[np.diff(self.interactions_[rows].indptr) == 0] = np.nan  # nothing to learn from: the fallback's job
        return S
