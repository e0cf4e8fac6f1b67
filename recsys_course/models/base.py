"""What every rating model of the course shares: id mapping, fallbacks, clipping.

A model subclasses :class:`RatingModel` and implements two methods on *inner*
indices (0..n_users-1, 0..n_items-1):

* ``_fit(u, i, r)``: learn from the training ratings;
* ``_estimate(u, i)``: the raw estimates for known (user, item) pairs, plus a
  boolean array that is True where the model could not make a real estimate
  and fell back to something simpler.

The base class maps raw ids to indices, answers for unknown users or items
with the global mean of the training ratings (and says so, like Surprise's
``was_impossible``), clips predictions to the rating scale, and builds top-N
lists. That keeps each model down to its own maths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import rank_by_score

__all__ = ["NotFittedError", "RatingModel", "ScoredRecommender", "check_n"]


class NotFittedError(RuntimeError):
    """A model was used before ``fit``."""


def check_n(n) -> int:
    """Validate the length of a recommendation list: an integer >= 1."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return int(n)


class RatingModel:
    """Base class of the course's rating-prediction models (scikit-learn conventions)."""

    rating_scale = (1.0, 5.0)

    # -------------------------------------------------------------- fitting

    def fit(self, ratings: pd.DataFrame):
        """Learn from a frame with ``user_id``, ``item_id`` and ``rating``; returns ``self``."""
        missing = {"user_id", "item_id", "rating"} - set(ratings.columns)
        if missing:
            raise ValueError(f"ratings needs columns user_id, item_id, rating; missing {sorted(missing)}")
        if ratings.empty:
            raise ValueError("ratings is empty: there is nothing to learn from")
        if ratings.duplicated(["user_id", "item_id"]).any():
            raise ValueError("ratings has a (user_id, item_id) pair more than once; keep one rating per pair")
        self.user_ids_ = pd.Index(pd.unique(ratings["user_id"]))   # order of first appearance
        self.item_ids_ = pd.Index(pd.unique(ratings["item_id"]))
        u = self.user_ids_.get_indexer(ratings["user_id"])
        i = self.item_ids_.get_indexer(ratings["item_id"])
        r = ratings["rating"].to_numpy(dtype=np.float64)
        self.global_mean_ = float(r.mean())
        self.item_popularity_ = np.bincount(i, minlength=len(self.item_ids_))
        self._seen = pd.Series(i).groupby(u).agg(list)
        self._fit(u, i, r)
        return self

    def _fit(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _estimate(self, u: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _estimate_partial(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Pairs where only the user or only the item is known (the other index is -1).

        Models with biases ``b_u_``/``b_i_`` add the known side's bias to the
        global mean, as Surprise's ``BaselineOnly`` and ``SVD`` do; others
        return the global mean. Either way ``was_impossible`` is True.
        """
        est = np.full(len(u), self.global_mean_)
        if hasattr(self, "b_u_") and hasattr(self, "b_i_"):
            est[u >= 0] += self.b_u_[u[u >= 0]]
            est[i >= 0] += self.b_i_[i[i >= 0]]
        return est

    def _check_fitted(self) -> None:
        if not hasattr(self, "global_mean_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(ratings) first")

    # ----------------------------------------------------------- predicting

    def predict(self, user_ids, item_ids, *, clip: bool = True, details: bool = False):
        """Predicted ratings for the pairs ``(user_ids[j], item_ids[j])``.

        Pairs with a user or item not seen in ``fit`` get the global mean of
        the training ratings (plus the known side's bias, for models with
        biases). With ``details=True`` a frame is returned with
        the estimate and a ``was_impossible`` column (True for those
        fall-backs and for pairs where the model itself had to fall back).
        """
        self._check_fitted()
        user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
        if user_ids.shape != item_ids.shape or user_ids.ndim != 1:
            raise ValueError(f"user_ids and item_ids must be 1-d and of equal length, "
                             f"got shapes {user_ids.shape} and {item_ids.shape}")
        u = self.user_ids_.get_indexer(user_ids)
        i = self.item_ids_.get_indexer(item_ids)
        known = (u >= 0) & (i >= 0)
        est = np.full(len(u), self.global_mean_)
        impossible = ~known
        if known.any():
            est[known], impossible[known] = self._estimate(u[known], i[known])
        partial = (u >= 0) != (i >= 0)
        if partial.any():
            est[partial] = self._estimate_partial(u[partial], i[partial])
        if clip:
            est = np.clip(est, *self.rating_scale)
        if not details:
            return est
        reason = np.where(u < 0, "unknown user", np.where(i < 0, "unknown item", ""))
        return pd.DataFrame({"user_id": user_ids, "item_id": item_ids, "estimate": est,
                             "was_impossible": impossible, "reason": reason})

    def recommend(self, user_id, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The ``n`` items with the highest predicted rating for one user.

        Ranks by the unclipped estimate (clipping at 5 stars would make many
        items tie), ties broken by item id. An unknown user gets the most
        popular items instead, and the ``source`` column says so.
        """
        self._check_fitted()
        check_n(n)
        u = self.user_ids_.get_indexer([user_id])[0]
        if u < 0:
            scores = pd.Series(self.item_popularity_.astype(float), index=self.item_ids_)
            top = rank_by_score(scores, n)
            return pd.DataFrame({"item_id": top, "score": scores[top].to_numpy(),
                                 "source": "popularity: unknown user"})
        candidates = np.arange(len(self.item_ids_))
        if exclude_seen:
            candidates = np.setdiff1d(candidates, self._seen.get(u, []))
        est, _ = self._estimate(np.full(len(candidates), u), candidates)
        scores = pd.Series(est, index=self.item_ids_[candidates])
        top = rank_by_score(scores, n)
        return pd.DataFrame({"item_id": top, "score": scores[top].to_numpy(), "source": "model"})

    def score_table(self, user_ids=None, item_ids=None) -> pd.DataFrame:
        """Unclipped predictions for every (user, item) pair: a users x items frame.

        One vectorised :meth:`predict` over the whole grid, much faster than
        calling :meth:`recommend` user by user (which re-scores every item each
        time). Defaults: every training user and item.
        """
        self._check_fitted()
        user_ids = self.user_ids_ if user_ids is None else pd.Index(user_ids)
        item_ids = self.item_ids_ if item_ids is None else pd.Index(item_ids)
        grid_u = np.repeat(np.asarray(user_ids), len(item_ids))
        grid_i = np.tile(np.asarray(item_ids), len(user_ids))
        est = self.predict(grid_u, grid_i, clip=False).reshape(len(user_ids), len(item_ids))
        return pd.DataFrame(est, index=pd.Index(user_ids, name="user_id"), columns=pd.Index(item_ids, name="item_id"))

    def ranker(self, candidates=None, user_ids=None) -> "ScoredRecommender":
        """A top-N recommender that ranks ``candidates`` (default: every training item) by predicted rating.

        Scores every user once (:meth:`score_table`) and keeps :meth:`predict`,
        so ``metrics.evaluate`` reports RMSE and MAE next to the ranking
        metrics. Restricting ``candidates`` (e.g. to movies with enough
        ratings) is how a rating model is usually put to work on top-N lists:
        ranked over everything, its best predictions are movies that one
        person rated five stars.
        """
        self._check_fitted()
        seen = {user: self.item_ids_[items].tolist() for user, items in
                zip(self.user_ids_[self._seen.index], self._seen.to_numpy())}
        return ScoredRecommender(self.score_table(user_ids, candidates), seen=seen, model=self)


class ScoredRecommender:
    """Top-N lists read from a precomputed users x items score table.

    Parameters
    ----------
    scores : DataFrame
        One row per user, one column per candidate item; higher is better.
    seen : mapping user -> items, optional
        Items to leave out of each user's list (their training items).
    model : object, optional
        The model the scores came from; if it has ``predict``, so does this
        recommender (``metrics.evaluate`` then adds RMSE and MAE).

    >>> table = pd.DataFrame([[0.1, 0.9, 0.5]], index=[7], columns=["a", "b", "c"])
    >>> ScoredRecommender(table, seen={7: ["b"]}).recommend(7, n=2)["item_id"].tolist()
    ['c', 'a']
    """

    def __init__(self, scores: pd.DataFrame, seen=None, model=None):
        if scores.index.has_duplicates or scores.columns.has_duplicates:
            raise ValueError("scores must have one row per user and one column per item (duplicates found)")
        self.scores = scores
        self.seen = {} if seen is None else dict(seen)
        self.model = model

    @property
    def predict(self):
        """The underlying model's ``predict``; absent (AttributeError) when there is no rating model."""
        if self.model is None or not hasattr(self.model, "predict"):
            raise AttributeError("this ScoredRecommender has no rating model behind it")
        return self.model.predict

    def recommend(self, user_id, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        check_n(n)
        if user_id not in self.scores.index:
            raise KeyError(f"user_id {user_id!r} has no row in the score table")
        row = self.scores.loc[user_id]
        if exclude_seen:
            row = row.drop(self.seen.get(user_id, []), errors="ignore")
        top = rank_by_score(row, n)
        return pd.DataFrame({"item_id": top, "score": row[top].to_numpy()})
