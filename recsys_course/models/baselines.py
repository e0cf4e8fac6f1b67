r"""The baseline predictor :math:`\hat r_{ui} = \mu + b_u + b_i`, regularised.

Two ways to fit it, both exactly as Surprise's ``BaselineOnly`` does:

* ``method="als"`` (Surprise's default): alternate closed-form updates,
  :math:`b_i = \sum_{u \in U_i}(r_{ui} - \mu - b_u) / (\lambda_i + |U_i|)`, then
  :math:`b_u = \sum_{i \in I_u}(r_{ui} - \mu - b_i) / (\lambda_u + |I_u|)`;
* ``method="sgd"``: stochastic gradient descent over the ratings, the bias
  half of :class:`~recsys_course.models.mf.FunkSVD` (which with zero factors
  *is* this model).
"""

from __future__ import annotations

import numpy as np

from .base import RatingModel

__all__ = ["BaselineModel", "als_biases"]


def als_biases(u, i, r, mu, n_users, n_items, reg_u=15.0, reg_i=10.0, n_epochs=10):
    """User and item biases by alternating closed-form updates (Surprise's ``baseline_als``)."""
    b_u = np.zeros(n_users)
    count_u, count_i = np.bincount(u, minlength=n_users), np.bincount(i, minlength=n_items)
    for _ in range(n_epochs):
        b_i = np.bincount(i, weights=r - mu - b_u[u], minlength=n_items) / (reg_i + count_i)
        b_u = np.bincount(u, weights=r - mu - b_i[i], minlength=n_users) / (reg_u + count_u)
    if n_epochs == 0:
        b_i = np.zeros(n_items)
    return b_u, b_i


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

    def _fit(self, u, i, r):
        if self.method not in ("als", "sgd"):
            raise ValueError(f"method must be 'als' or 'sgd', got {self.method!r}")
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        mu = self.global_mean_
        self.b_u_, self.b_i_ = np.zeros(n_u), np.zeros(n_i)
        if self.method == "als":
            epochs = 10 if self.n_epochs is None else self.n_epochs
            self.b_u_, self.b_i_ = als_biases(u, i, r, mu, n_u, n_i, self.reg_u, self.reg_i, epochs)
        else:
            from .mf import _sgd_epochs, _surprise_order

            order = _surprise_order(u)
            epochs = 20 if self.n_epochs is None else self.n_epochs
            empty = np.zeros((n_u, 0)), np.zeros((n_i, 0))
            _sgd_epochs(u[order], i[order], r[order], mu, self.b_u_, self.b_i_, *empty,
                        self.lr, self.reg, self.lr, self.reg, epochs)

    def _estimate(self, u, i):
        return self.global_mean_ + self.b_u_[u] + self.b_i_[i], np.zeros(len(u), dtype=bool)
