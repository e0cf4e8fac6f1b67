r"""The baselines every model must beat: popularity, and :math:`\hat r_{ui} = \mu + b_u + b_i`.

:class:`Popularity` recommends the items with the most training ratings, the
same list to everyone (the protocol's fallback for unknown users, as a model
of its own).

:class:`BaselineModel` predicts a rating from the global mean and a user and
an item bias, regularised, fitted in one of two ways, both exactly as
Surprise's ``BaselineOnly`` does:

* ``method="als"`` (Surprise's default): alternate closed-form updates
  (:func:`~recsys_course.models.kernels.als_biases`);
* ``method="sgd"``: stochastic gradient descent over the ratings, the bias
  half of :class:`~recsys_course.models.mf.FunkSVD` (which with zero factors
  *is* this model).
"""

from __future__ import annotations

import numpy as np

from ..checks import check_choice, check_int, check_number
from .base import RatingModel, Recommender, TrainingData
from .kernels import als_biases, first_appearance, sgd_epochs

__all__ = ["BaselineModel", "Popularity"]


class Popularity(Recommender):
    """The most-rated items first, for everyone (ties to the smaller item id).

    Parameters
    ----------
    positive_threshold : float, optional
        Count only ratings >= this (e.g. 4: the most *liked* items); ``None``
        (default) counts every rating.

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> Popularity().fit(load_toy().ratings).recommend(1, n=2)["item_id"].tolist()   # Alice rated 1, 2, 4, 7
    [3, 8]
    """

    _needs_rating = False

    def __init__(self, positive_threshold: float | None = None):
        self.positive_threshold = positive_threshold

    def _fit(self, data: TrainingData) -> None:
        keep = data.positives(self.positive_threshold)
        self.counts_ = np.bincount(data.i[keep], minlength=len(self.item_ids_)).astype(np.float64)

    def _score(self, rows, cols):
        return np.broadcast_to(self.counts_[cols], (len(rows), len(cols)))


class BaselineModel(RatingModel):
    """Global mean plus user and item biases.

    Parameters
    ----------
    method : {"als", "sgd"}
    n_epochs : int, optional
        Default 10 for ALS, 20 for SGD (Surprise's defaults).
    reg_u, reg_i : float
        ALS regularisation of the user and item biases (default 15 and 10).
    lr, reg : float
        SGD learning rate and regularisation (default 0.005 and 0.02).
    """

    def __init__(self, method: str = "als", n_epochs: int | None = None, reg_u: float = 15, reg_i: float = 10,
                 lr: float = 0.005, reg: float = 0.02):
        self.method = method
        self.n_epochs = n_epochs
        self.reg_u = reg_u
        self.reg_i = reg_i
        self.lr = lr
        self.reg = reg

    def _fit_ratings(self, data: TrainingData) -> None:
        check_choice("method", self.method, ("als", "sgd"))
        if self.n_epochs is not None:
            check_int("n_epochs", self.n_epochs, 0)
        for name in ("reg_u", "reg_i", "reg"):
            check_number(name, getattr(self, name), at_least=0)
        check_number("lr", self.lr, above=0)
        u, i, r = data.u, data.i, data.r
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        if self.method == "als":
            epochs = 10 if self.n_epochs is None else self.n_epochs
            self.b_u_, self.b_i_ = als_biases(u, i, r, self.global_mean_, n_u, n_i, self.reg_u, self.reg_i, epochs)
        else:
            self.b_u_, self.b_i_ = np.zeros(n_u), np.zeros(n_i)
            order = np.argsort(first_appearance(u, n_u)[u], kind="stable")  # Surprise's order of visits
            epochs = 20 if self.n_epochs is None else self.n_epochs
            empty = np.zeros((n_u, 0)), np.zeros((n_i, 0))
            sgd_epochs(u[order], i[order], r[order], self.global_mean_, self.b_u_, self.b_i_, *empty,
                       self.lr, self.reg, self.lr, self.reg, epochs)

    def _estimate(self, u, i):
        return self.global_mean_ + self.b_u_[u] + self.b_i_[i], np.zeros(len(u), dtype=bool)

    def _score(self, rows, cols):
        return self.global_mean_ + self.b_u_[rows, None] + self.b_i_[None, cols]
