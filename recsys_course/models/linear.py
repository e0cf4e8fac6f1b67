r"""Linear item-item models for implicit feedback: a user's scores are their 0/1 row times a learned matrix.

``EASE`` (Steck 2019) learns that item-item matrix in closed form. Item-kNN
(``knn.ImplicitItemKNN``) is the same shape of model with a hand-made matrix:
cosine similarities, truncated to the nearest neighbours.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_number
from .base import Recommender, TrainingData

__all__ = ["EASE"]


class EASE(Recommender):
    r"""Embarrassingly Shallow Autoencoder (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

    With :math:`X` the users x items 0/1 matrix of interactions, EASE learns
    the item-item matrix

    .. math:: \hat B = \arg\min_B \lVert X - XB\rVert_F^2 + \lambda \lVert B\rVert_F^2
              \quad\text{subject to}\quad \operatorname{diag}(B) = 0

    and scores user *u* by :math:`x_u B`. The zero diagonal is what makes it
    learn anything: without it :math:`B = I` would rebuild :math:`X`
    perfectly and recommend nothing new. The constrained problem has a
    closed form: with :math:`P = (X^\top X + \lambda I)^{-1}`,
    :math:`\hat B_{ij} = -P_{ij} / P_{jj}` off the diagonal and 0 on it.
    Training is one inversion of an items x items matrix, so the cost grows
    with the catalogue (cubed), not with the number of users.

    Parameters
    ----------
    reg : float, default 500
        :math:`\lambda` above (Steck reports values of a few hundred for
        MovieLens-20M); choose it on a validation split.
    positive_threshold : float, optional
        Only ratings >= this count as interactions; ``None`` (default) keeps
        all. Every rated item is still excluded from the user's list.

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> model = EASE(reg=1.0).fit(load_toy().ratings)
    >>> bool((np.diag(model.weights_) == 0).all())
    True
    >>> model.recommend(1, n=2)["item_id"].tolist()
    [8, 6]
    """

    _needs_rating = False

    def __init__(self, reg: float = 500.0, positive_threshold: float | None = None):
        self.reg = reg
        self.positive_threshold = positive_threshold

    def _fit(self, data: TrainingData) -> None:
        check_number("reg", self.reg, above=0,
                     hint="without regularisation X^T X is singular for any item nobody interacted with")
        n_i = len(self.item_ids_)
        X = data.interactions(self.positive_threshold, (len(self.user_ids_), n_i))
        gram = (X.T @ X).toarray()
        gram[np.diag_indices(n_i)] += self.reg
        P = np.linalg.inv(gram)
        B = -P / np.diag(P)  # column j divided by P_jj
        np.fill_diagonal(B, 0.0)
        self.weights_ = B
        self.interactions_ = X

    def _score(self, rows, cols):
        X = self.interactions_[rows]
        # Copying columns of the dense n x n weights costs more than the product for a few users (a
        # served request scores one): take the columns after the product unless they are few.
        if 2 * len(cols) < self.weights_.shape[1]:
            S = np.asarray(X @ self.weights_[:, cols])
        else:
            S = np.asarray(X @ self.weights_)[:, cols]
        S[np.diff(X.indptr) == 0] = np.nan  # nothing to start from: the fallback's job
        return S
