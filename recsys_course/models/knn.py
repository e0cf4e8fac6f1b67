r"""Neighbourhood collaborative filtering: user-based and item-based k-NN with mean-centring.

User-based (:class:`UserKNN`) predicts user *u*'s rating of item *i* from the
*k* users (``n_neighbors``) most similar to *u* among those who rated *i*:

.. math:: \hat r_{ui} = \bar r_u + \frac{\sum_{v \in N_i^k(u)} s_{uv} (r_{vi} - \bar r_v)}
                                       {\sum_{v \in N_i^k(u)} s_{uv}}

Item-based (:class:`ItemKNN`) swaps the roles: the *k* items most similar to
*i* among those *u* rated, centred on item means. This is the estimate of
Surprise's ``KNNWithMeans``, reproduced exactly:

* the *k* neighbours are the most similar among *all* who rated *i* (ties in
  similarity go to the one whose rating came first in the training data, as
  in Surprise's trainset), and only those with a positive similarity are then
  used;
* with fewer than ``min_neighbors`` (Surprise's ``min_k``) such neighbours the estimate is the mean
  :math:`\bar r_u` (and ``was_impossible`` stays False, as in Surprise);
* predictions are clipped to 1..5; unknown users/items get the global mean.

Fit computes the full similarity matrix with sparse products
(:mod:`recsys_course.similarity`). Predict groups the query pairs by item (for
user-based; by user for item-based): the pairs of one group share their
candidate neighbours, so the group is one dense block of similarities, its
top-k a ``np.partition`` per row and its weighted sums one matrix-vector
product. The only Python loop is over those groups (at most one per item or
user), never per rating or per pair.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .. import similarity
from ..checks import check_int, check_number
from .base import RatingModel, Recommender, TrainingData

__all__ = ["ImplicitItemKNN", "ItemKNN", "UserKNN"]


class _KNN(RatingModel):
    """Shared machinery; ``_user_based`` says which side the neighbours are on."""

    _user_based = True
    #: A prediction gathers each pair's own neighbours (a users x items grid of pairs): smaller blocks.
    _block_cells = 2**18

    def __init__(self, n_neighbors: int = 40, sim: str = "pearson", min_support: int = 1, shrinkage: float = 0.0,
                 min_neighbors: int = 1):
        self.n_neighbors = n_neighbors
        self.sim = sim
        self.min_support = min_support
        self.shrinkage = shrinkage
        self.min_neighbors = min_neighbors

    def _check_params(self) -> None:
        check_int("n_neighbors", self.n_neighbors, 1)
        check_int("min_neighbors", self.min_neighbors, 1)
        check_int("min_support", self.min_support, 0)
        check_number("shrinkage", self.shrinkage, at_least=0)
        if self.sim not in similarity.SIMILARITIES:
            raise ValueError(f"sim must be one of {similarity.SIMILARITIES}, got {self.sim!r}")

    def _fit_ratings(self, data: TrainingData) -> None:
        self._check_params()
        u, i, r = data.u, data.i, data.r
        # x: the side whose similarities we compute; y: the other side.
        x, y = (u, i) if self._user_based else (i, u)
        n_x = len(self.user_ids_) if self._user_based else len(self.item_ids_)
        n_y = len(self.item_ids_) if self._user_based else len(self.user_ids_)
        R = sparse.csr_matrix((r, (x, y)), shape=(n_x, n_y))
        self.similarity_ = similarity.compute(R, self.sim, self.min_support, self.shrinkage)
        self.means_ = np.bincount(x, weights=r, minlength=n_x) / np.bincount(x, minlength=n_x)
        # For every y, who rated it, in the order the ratings came (a stable sort keeps it).
        order = np.argsort(y, kind="stable")
        self._nb = x[order]
        self._nb_rating = r[order]
        self._ptr = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=n_y))])

    def _estimate(self, u, i):
        x, y = (u, i) if self._user_based else (i, u)
        est = self.means_[x].copy()
        actual_k = np.zeros(len(x), dtype=int)
        # Queries that share y share their candidate neighbours (whoever rated y):
        # handle each such group as one dense block of similarities.
        order = np.argsort(y, kind="stable")
        groups, first = np.unique(y[order], return_index=True)
        for y_value, queries in zip(groups, np.split(order, first[1:])):
            lo, hi = self._ptr[y_value], self._ptr[y_value + 1]
            nb = self._nb[lo:hi]
            S = self.similarity_[np.ix_(x[queries], nb)]          # queries x candidates
            use = self._top_k(S) & (S > 0)
            W = np.where(use, S, 0.0)
            num = W @ (self._nb_rating[lo:hi] - self.means_[nb])
            den = W.sum(axis=1)
            count = use.sum(axis=1)
            ok = (count >= self.min_neighbors) & (den > 0)
            est[queries[ok]] += num[ok] / den[ok]
            actual_k[queries] = count
        self.last_actual_k_ = actual_k
        return est, np.zeros(len(x), dtype=bool)

    def _top_k(self, S: np.ndarray) -> np.ndarray:
        """Mask of each row's k largest entries; a tie at the k-th place goes to the leftmost.

        Columns are in the order the ratings came, so "leftmost" is Surprise's
        tie rule. np.partition finds each row's k-th largest value t; all
        entries above t are in, and of those equal to t the first few that
        still fit.
        """
        n, k = S.shape[1], self.n_neighbors
        if n <= k:
            return np.ones_like(S, dtype=bool)
        t = np.partition(S, n - k, axis=1)[:, [n - k]]
        above = S > t
        at = S == t
        room = k - above.sum(axis=1, keepdims=True)
        return above | (at & (np.cumsum(at, axis=1) <= room))

    def neighbours(self, user_id, item_id):
        """The neighbours behind one prediction: who they are, similarity, rating, weight used.

        For :class:`UserKNN` the neighbours are users who rated ``item_id``;
        for :class:`ItemKNN` items that ``user_id`` rated. Sorted as the model
        ranks them; ``used`` marks the top-k with a positive similarity.
        """
        import pandas as pd

        self._check_fitted()
        u = self.user_ids_.get_indexer([user_id])[0]
        i = self.item_ids_.get_indexer([item_id])[0]
        if u < 0 or i < 0:
            raise KeyError(f"unknown {'user' if u < 0 else 'item'} {user_id if u < 0 else item_id!r}")
        x, y = (u, i) if self._user_based else (i, u)
        cand = np.arange(self._ptr[y], self._ptr[y + 1])
        nb = self._nb[cand]
        sim = self.similarity_[x, nb]
        order = np.lexsort((np.arange(len(nb)), -sim))
        ids = (self.user_ids_ if self._user_based else self.item_ids_)[nb[order]]
        frame = pd.DataFrame({
            "neighbour": ids, "similarity": sim[order], "rating": self._nb_rating[cand][order],
            "neighbour_mean": self.means_[nb[order]],
        })
        frame["used"] = (np.arange(len(frame)) < self.n_neighbors) & (frame["similarity"] > 0)
        return frame


class UserKNN(_KNN):
    """User-based k-NN with mean-centring (Surprise ``KNNWithMeans(user_based=True)``).

    Parameters
    ----------
    n_neighbors : int, default 40
        Neighbours per prediction (at most; Surprise's ``k``).
    sim : {"pearson", "cosine"}, default "pearson"
        Similarity over co-rated items; see :mod:`recsys_course.similarity`.
    min_support : int, default 1
        Pairs of users with fewer co-rated items get similarity 0.
    shrinkage : float, default 0
        Shrink similarities by (n - 1) / (n - 1 + shrinkage); 0 turns it off.
    min_neighbors : int, default 1
        Below this many usable neighbours the prediction is the user's mean (Surprise's ``min_k``).

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> model = UserKNN(n_neighbors=2, sim="pearson").fit(load_toy().ratings)
    >>> round(float(model.predict([1], [8])[0]), 2)   # Alice and The Avengers
    4.55
    """

    _user_based = True


class ItemKNN(_KNN):
    """Item-based k-NN with mean-centring (Surprise ``KNNWithMeans(user_based=False)``).

    Same parameters as :class:`UserKNN`, with items in place of users: the
    similarity is between items over the users who rated both, and the
    prediction averages the user's own ratings of the ``n_neighbors`` most similar items.
    """

    _user_based = False


class ImplicitItemKNN(Recommender):
    r"""Item-based k-NN for top-N lists from implicit feedback (who rated what, not how).

    The classic top-N item-kNN (Deshpande & Karypis 2004; RecBole's and
    LensKit's implicit ``ItemKNN``) rather than a rating predictor. With
    :math:`x_i` the 0/1 column of item *i* (which users interacted with it):

    .. math:: s_{ij} = \frac{x_i \cdot x_j}{\lVert x_i\rVert\,\lVert x_j\rVert + \lambda}
              \qquad
              \mathrm{score}(u, j) = \sum_{i \in I_u \cap N_k(j)} s_{ij}

    where :math:`N_k(j)` are the ``n_neighbors`` items most similar to *j*
    (ties at the k-th place go to the smaller item id) and :math:`I_u` the items
    *u* interacted with. A movie scores high when it sits close to many movies
    the user has seen, whatever the stars. A user with no interaction to start
    from (every rating below ``positive_threshold``) cannot be scored, and gets
    the protocol's popularity fallback.

    ``similarity_`` holds every :math:`s_{ij}` (dense); ``weights_`` only the
    ``n_neighbors`` kept for each item *j* (column *j*), as a sparse matrix.

    Parameters
    ----------
    n_neighbors : int, default 100
        Neighbours kept per item.
    shrinkage : float, default 0
        :math:`\lambda` above; damps similarities of rarely seen items.
    positive_threshold : float, optional
        Only ratings >= this count as interactions; ``None`` (default) keeps
        all. Every rated item is still excluded from the user's list.

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> model = ImplicitItemKNN(n_neighbors=3).fit(load_toy().ratings)
    >>> model.recommend(1, n=2)["item_id"].tolist()
    [8, 5]
    """

    _needs_rating = False

    def __init__(self, n_neighbors: int = 100, shrinkage: float = 0.0, positive_threshold: float | None = None):
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage
        self.positive_threshold = positive_threshold

    def _fit(self, data: TrainingData) -> None:
        check_int("n_neighbors", self.n_neighbors, 1)
        check_number("shrinkage", self.shrinkage, at_least=0)
        X = data.interactions(self.positive_threshold, (len(self.user_ids_), len(self.item_ids_)))
        norms = np.sqrt(np.asarray(X.sum(axis=0)).ravel())
        S = (X.T @ X).toarray() / (np.outer(norms, norms) + self.shrinkage)
        S[~np.isfinite(S)] = 0.0  # an item nobody interacted with (0/0) is similar to nothing
        np.fill_diagonal(S, 0.0)
        self.similarity_ = S
        # the k kept per column, sparse: scoring is then one sparse product, in a fraction of the memory
        self.weights_ = sparse.csr_matrix(np.where(self._top_k_columns(S), S, 0.0))
        self.interactions_ = X

    def _top_k_columns(self, S: np.ndarray) -> np.ndarray:
        """Mask of the k largest entries of each column (ties: the smaller row index)."""
        n, k = S.shape[0], self.n_neighbors
        if k >= n - 1:
            return ~np.eye(n, dtype=bool)
        order = np.lexsort((np.tile(np.arange(n)[:, None], (1, n)), -S), axis=0)[:k]
        mask = np.zeros_like(S, dtype=bool)
        np.put_along_axis(mask, order, True, axis=0)
        return mask

    def _score(self, rows, cols):
        X = self.interactions_[rows]
        W = self.weights_ if len(cols) == self.weights_.shape[1] else self.weights_[:, cols]
        S = (X @ W).toarray()
        S[np.diff(X.indptr) == 0] = np.nan  # nothing to start from: the fallback's job
        return S
