r"""Next-item baselines: which movie will a user rate next, given the order of what they rated?

Three models that any sequence model (SASRec, GRU4Rec) has to beat, each a
few lines of counting:

* :class:`RecentPopularity`: what everyone watched lately, the same list for
  everyone;
* :class:`MarkovChain`: what people watched right after the user's last
  movie (a first-order Markov chain);
* :class:`RecentItemKNN`: the movies most similar to the user's last few,
  the most recent counting most.

All three read the order of each user's ratings from the ``timestamp``
column (and refuse a frame without one); ties in time are broken by the
order of the rows, the earlier row first, as everywhere in the package
(:func:`~recsys_course.models.two_tower.histories_before`,
:func:`~recsys_course.models.two_tower.last_items`, the split
:func:`~recsys_course.split.leave_last_out`). Every rating counts as an
interaction, whatever its stars. A user the model does not know gets the
protocol's fallback, the most rated items (:mod:`recsys_course.models.base`).

**Ties.** Where the model's own scores tie (items never reached from the
last movie, say), the more popular item (more training interactions) comes
first, and only then the smaller id (the protocol's rule). How each model
builds that in is said in its docstring; with :math:`n_j` item *j*'s number of
training interactions, :math:`p_j = n_j / \sum_l n_l` is its popularity share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from .. import similarity
from ..checks import check_int, check_number, check_timestamps
from .base import Recommender, TrainingData
from .two_tower import PAD, histories_before, last_items

__all__ = ["TIE_BREAK", "MarkovChain", "RecentItemKNN", "RecentPopularity"]

#: Weight of the popularity share added to :class:`RecentItemKNN`'s scores: breaks ties, too small to reorder
#: scores that differ by more than about ``TIE_BREAK * max p_j`` (6e-9 on MovieLens-100k).
TIE_BREAK = 1e-6


def _timestamps(data: TrainingData, model: Recommender) -> pd.Series:
    """The ``timestamp`` column, or a ValueError naming the columns the frame has."""
    if "timestamp" not in data.ratings.columns:
        raise ValueError(f"{type(model).__name__} needs the order of each user's ratings, but ratings has no "
                         f"timestamp column (it has {list(data.ratings.columns)}): add one")
    return check_timestamps(data.ratings)


class RecentPopularity(Recommender):
    r"""The items most interacted with in the last ``window_days`` days of the training data, for everyone.

    With :math:`t_{\max}` the latest training timestamp and :math:`W` the
    window, item *j* scores its number of interactions in the window, ties
    broken by its all-time number :math:`n_j`, then by the smaller id:

    .. math:: \mathrm{score}(j) = \bigl|\{(u, j, t) : t > t_{\max} - W\}\bigr|
              + \frac{n_j}{1 + \sum_l n_l}

    The fraction is below 1, so it only ever orders items with the same
    count in the window. An interaction exactly :math:`W` before
    :math:`t_{\max}` is outside the window. ``window_days=None`` counts all
    time: the ranking of :class:`~recsys_course.models.baselines.Popularity`.

    The window ends at the latest *training* timestamp, the same moment for
    every user: under :func:`~recsys_course.split.leave_last_out` that is the
    end of the data set, which for a user whose test rating is months
    earlier is not their "recently". A user the model does not know gets
    the protocol's fallback, like every model: all-time popularity.

    Parameters
    ----------
    window_days : float or None, default 30
        Length of the window in days (fractions allowed); ``None``: all time.
        Timestamps that are numbers are read as seconds (as MovieLens stores them).

    Attributes
    ----------
    counts_ : ndarray
        Interactions of each item (``item_ids_`` order) in the window.
    window_start_ : pandas.Timestamp or None
        :math:`t_{\max} - W`: interactions after it count.

    Examples
    --------
    The toy data ends on 14 February; in the 10 days before, movie 8 was
    rated three times and movie 6 twice; the others follow by all-time
    popularity: 1 and 2 (four ratings each), then 3 (three, like 4 and 8,
    and the smaller id), 4, then 5 and 7 (two each):

    >>> from recsys_course.data import load_toy
    >>> model = RecentPopularity(window_days=10).fit(load_toy().ratings)
    >>> model.window_start_
    Timestamp('2024-02-04 00:00:00')
    >>> model.recommend(1, n=8, exclude_seen=False)["item_id"].tolist()
    [8, 6, 1, 2, 3, 4, 5, 7]
    >>> model.recommend(1, n=3)["item_id"].tolist()   # Alice has 1, 2, 4 and 7
    [8, 6, 3]
    """

    _needs_rating = False

    def __init__(self, window_days: float | None = 30):
        self.window_days = window_days

    def _fit(self, data: TrainingData) -> None:
        if self.window_days is not None:
            check_number("window_days", self.window_days, above=0, hint="give a length in days, or None for all time")
        times = _timestamps(data, self)
        n_items = len(self.item_ids_)
        if self.window_days is None:
            in_window = np.ones(len(data.i), dtype=bool)
            self.window_start_ = None
        else:
            if not pd.api.types.is_datetime64_any_dtype(times):
                times = pd.to_datetime(times, unit="s")
            self.window_start_ = times.max() - pd.Timedelta(days=self.window_days)
            in_window = (times > self.window_start_).to_numpy()
        self.counts_ = np.bincount(data.i[in_window], minlength=n_items)
        all_time = self.item_popularity_
        self._scores = self.counts_ + all_time / (1.0 + all_time.sum())

    def _score(self, rows, cols):
        return np.broadcast_to(self._scores[cols], (len(rows), len(cols)))


class MarkovChain(Recommender):
    r"""First-order Markov chain: what users rated right after the user's last item.

    Counting, over every user's training interactions in time order, how
    often item *j* came right after item *i* (:math:`c_{ij}`, the sparse
    items x items ``transitions_``; :math:`c_i = \sum_j c_{ij}`), the
    probability that *j* follows *i* is estimated with a Dirichlet prior of
    strength :math:`\alpha` (``smoothing``) centred on popularity:

    .. math:: \hat P(j \mid i) = \frac{c_{ij} + \alpha\, p_j}{c_i + \alpha}

    and user *u*'s score for *j* is :math:`\hat P(j \mid i_u)`, with
    :math:`i_u` the user's last training item. The prior is :math:`\alpha`
    pseudo-transitions out of every item, shared in proportion to
    popularity: the estimates of an item sum to 1; items never reached from
    :math:`i_u` are ranked by popularity instead of by id; and an item with
    no transition out (:math:`c_i = 0`: it was only ever someone's last)
    gives the popularity ranking. Where :math:`\alpha \le 1` the counts come
    first (a difference of one transition outweighs
    :math:`\alpha (p_k - p_j) < 1`) and popularity only breaks ties; as
    :math:`\alpha` grows past :math:`c_i` the scores tend to popularity.

    Parameters
    ----------
    smoothing : float, default 1
        :math:`\alpha > 0`.

    Attributes
    ----------
    transitions_ : scipy.sparse.csr_matrix
        :math:`c_{ij}`, rows and columns in ``item_ids_`` order.
    last_items_ : ndarray of shape (n_users, 1)
        Each user's last training item (its column number).
    popularity_ : ndarray
        :math:`p_j`.

    Examples
    --------
    Alice (user 1) rated 1, 2, 4, 7 in that order: her last item is 7, and
    the only transition out of 7 (Bob's) goes to 8. Then the others by
    popularity (1 and 2, which she has, are left out):

    >>> from recsys_course.data import load_toy
    >>> model = MarkovChain(smoothing=1.0).fit(load_toy().ratings)
    >>> model.transitions_[model.item_ids_.get_loc(7)].toarray().ravel().tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    >>> model.recommend(1, n=3)["item_id"].tolist()
    [8, 3, 5]
    """

    _needs_rating = False

    def __init__(self, smoothing: float = 1.0):
        self.smoothing = smoothing

    def _fit(self, data: TrainingData) -> None:
        check_number("smoothing", self.smoothing, above=0,
                     hint="the pseudo-transitions out of every item, shared by popularity (a tiny value, "
                          "e.g. 1e-6: counts first, popularity only breaks ties)")
        times = _timestamps(data, self)
        n_items = len(self.item_ids_)
        previous = histories_before(data.u, data.i, times, 1)[:, 0]
        step = previous != PAD
        self.transitions_ = sparse.csr_matrix((np.ones(int(step.sum())), (previous[step], data.i[step])),
                                              shape=(n_items, n_items))
        self.last_items_ = last_items(data.u, data.i, times, 1, len(self.user_ids_))
        self.popularity_ = self.item_popularity_ / self.item_popularity_.sum()
        self._out = np.asarray(self.transitions_.sum(axis=1)).ravel()

    def _score(self, rows, cols):
        last = self.last_items_[rows, 0]
        counts = self.transitions_[last]
        if len(cols) != len(self.item_ids_):
            counts = counts[:, cols]
        alpha = float(self.smoothing)
        return (counts.toarray() + alpha * self.popularity_[cols]) / (self._out[last, None] + alpha)


class RecentItemKNN(Recommender):
    r"""Item-kNN from the user's last few items only, the most recent counting most.

    With :math:`i_0, i_1, \dots` the user's training items from the last
    backwards (:math:`i_0` the last; ``n_recent`` of them, fewer if the user
    has fewer) and :math:`\delta` the ``decay``, item *a* places back weighs
    :math:`\delta^a`. Items are compared by the cosine of their interaction
    columns (:func:`~recsys_course.similarity.implicit_cosine`, the
    similarity of :class:`~recsys_course.models.knn.ImplicitItemKNN`), and
    each recent item passes its similarity on to its ``n_neighbors`` most
    similar items :math:`N_k(i)` (itself excluded; ties at the *k*-th place
    to the smaller id; all items when ``n_neighbors`` is None):

    .. math:: \mathrm{score}(u, j) = \sum_{a=0}^{\text{n\_recent}-1} \delta^{a}\,
              s_{i_a j}\,[\,j \in N_k(i_a)\,] \;+\; \varepsilon\, p_j

    The last term, :math:`\varepsilon` = :data:`TIE_BREAK` = 1e-6 times the
    popularity share, ranks the items no recent item reaches (and exact ties)
    by popularity; on MovieLens-100k it is at most 6e-9, and so only
    reorders items whose similarity scores differ by less than that.

    With ``decay=1``, ``n_recent`` at least the longest history and
    ``n_neighbors=None`` this is ImplicitItemKNN over the whole history
    (``ImplicitItemKNN(n_neighbors=n_items)``, plus the tie term).

    Parameters
    ----------
    n_recent : int, default 5
        How many of the user's last items score.
    decay : float, default 0.8
        :math:`\delta` in (0, 1]: 1 counts the recent items equally, smaller
        values weigh the last ones more (0.5: each step back halves).
    n_neighbors : int or None, default None
        *k*, neighbours each recent item passes score to; ``None``: every item.

    Attributes
    ----------
    similarity_ : ndarray
        :math:`s_{ij}`, dense, zero diagonal.
    weights_ : scipy.sparse.csr_matrix
        The kept pairs: entry :math:`(i, j)` is what item *i* adds to item *j*'s score.
    last_items_ : ndarray of shape (n_users, n_recent)
        Each user's last items (column numbers), oldest first, padded on the left with -1.

    Examples
    --------
    Alice's last two movies are 4, then 7 (weights 0.5 and 1). Bob, the
    other fan of 7, also rated 8, which is close to 4 too:
    :math:`s_{78} = 1/\sqrt{6}`, :math:`s_{48} = 2/3`, so 8 scores
    :math:`0.41 + 0.5 \cdot 0.67 = 0.74`. Movies 6 and 3 are reached from
    4 alone (through Eve): :math:`0.5/\sqrt{6} = 0.20` and
    :math:`0.5/3 = 0.17`.

    >>> from recsys_course.data import load_toy
    >>> model = RecentItemKNN(n_recent=2, decay=0.5).fit(load_toy().ratings)
    >>> model.recommend(1, n=3).round(2).values.tolist()
    [[8, 0.74, 'model'], [6, 0.2, 'model'], [3, 0.17, 'model']]
    """

    _needs_rating = False

    def __init__(self, n_recent: int = 5, decay: float = 0.8, n_neighbors: int | None = None):
        self.n_recent = n_recent
        self.decay = decay
        self.n_neighbors = n_neighbors

    def _fit(self, data: TrainingData) -> None:
        n_recent = check_int("n_recent", self.n_recent, 1)
        decay = check_number("decay", self.decay, above=0)
        if decay > 1:
            raise ValueError(f"decay must be in (0, 1], got {self.decay!r}: 1 counts the recent items equally, "
                             "smaller values weigh the last ones more")
        if self.n_neighbors is not None:
            check_int("n_neighbors", self.n_neighbors, 1)
        times = _timestamps(data, self)
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        X = data.interactions(None, (n_users, n_items))
        S = similarity.implicit_cosine(X)
        np.fill_diagonal(S, 0.0)
        self.similarity_ = S
        if self.n_neighbors is None:
            self.weights_ = sparse.csr_matrix(S)
        else:  # S is symmetric: its columns' top k, transposed, are its rows' top k (each item keeps its own k)
            self.weights_ = sparse.csr_matrix(np.where(similarity.top_k_mask(S, self.n_neighbors).T, S, 0.0))
        self.last_items_ = last_items(data.u, data.i, times, n_recent, n_users)
        age = np.broadcast_to(np.arange(n_recent - 1, -1, -1), self.last_items_.shape)
        there = self.last_items_ != PAD
        user = np.broadcast_to(np.arange(n_users)[:, None], self.last_items_.shape)
        self._recent = sparse.csr_matrix((decay ** age[there], (user[there], self.last_items_[there])),
                                         shape=(n_users, n_items))
        self.popularity_ = self.item_popularity_ / self.item_popularity_.sum()

    def _score(self, rows, cols):
        W = self.weights_ if len(cols) == len(self.item_ids_) else self.weights_[:, cols]
        return (self._recent[rows] @ W).toarray() + TIE_BREAK * self.popularity_[cols]
