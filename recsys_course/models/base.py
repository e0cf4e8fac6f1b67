"""The one protocol every recommender of the course follows, and the plumbing it needs, written once.

Every model is an estimator with scikit-learn's conventions (hyperparameters
stored unchanged by ``__init__``; ``get_params``, ``set_params``, ``clone``
and ``repr`` from :class:`sklearn.base.BaseEstimator`; learned state ending
in ``_``; ``fit`` returns ``self``):

==========================================================  ===============================================
``fit(ratings, movies=None, users=None)``                   learn (the loader's order of frames)
``score(user_ids, item_ids=None)``                          a users x items frame of scores
``recommend(user_id, n=10, exclude_seen=True,``             one user's top-``n``: ``item_id``, ``score``,
``candidates=None)``                                        ``source``
``recommend_batch(user_ids=None, n=10, ...)``               many users at once: ``user_id``, ``rank``,
                                                            ``item_id``, ``score``, ``source``
==========================================================  ===============================================

A model implements only its maths, on row and column numbers
(:mod:`recsys_course.ids`: users and items in sorted id order):

* ``_fit(data)``: learn from a :class:`TrainingData`;
* ``_score(rows, cols)``: a ``len(rows) x len(cols)`` array of scores for
  known users and items (higher is better; ``-inf`` or ``NaN`` for an item it
  cannot score).

The rest lives here, in the parts LensKit's pipelines separate:

* **ids**: ``user_ids_`` and ``item_ids_``; row ``j`` of every array is ``user_ids_[j]``;
* **candidates**: every item of the catalogue, or ``candidates`` (ids the
  model does not know are skipped), minus the user's training items when
  ``exclude_seen`` (every item the user rated, whatever the rating);
* **ranking**: :func:`recsys_course.ranking.top_n`, in blocks of users so
  that memory stays bounded, ties to the smaller item id;
* **fallback**: a user the model does not know gets the items with the most
  training ratings, and ``source`` says ``"popularity: unknown user"``; so
  does a known user whose every score is ``NaN`` (``"popularity: model cannot
  score this user"``, e.g. no positive rating to start from).

``recommend(user, ...)`` is ``recommend_batch([user], ...)``: one path, so a
list is the same whichever way it is asked for, and through :meth:`ranker`,
:class:`~recsys_course.rerank.MMR` and
:func:`~recsys_course.evaluation.leaderboard`.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFitted

from ..checks import check_number, check_ratings
from ..ids import id_index, positions, show_id
from ..ranking import check_n, top_n

__all__ = ["FitError", "NotFittedError", "RatingModel", "Ranker", "Recommender", "TrainingData", "check_n"]

MODEL, UNKNOWN_USER, CANNOT_SCORE = "model", "popularity: unknown user", "popularity: model cannot score this user"


class NotFittedError(_SklearnNotFitted):
    """A model was used before ``fit`` (also a scikit-learn ``NotFittedError``)."""


class FitError(ValueError):
    """Training produced a model that cannot be used (NaN or infinite parameters: it diverged)."""


class TrainingData(NamedTuple):
    """What ``_fit`` receives: the frames, and the ratings as row/column numbers.

    ``u[j]``, ``i[j]`` are the positions of rating ``j``'s user and item in
    ``user_ids_`` and ``item_ids_``; ``r[j]`` its value (NaN when the frame has
    no ``rating`` column). Rows keep the order of ``ratings``.
    """

    ratings: pd.DataFrame
    u: np.ndarray
    i: np.ndarray
    r: np.ndarray
    movies: pd.DataFrame | None
    users: pd.DataFrame | None
    epoch_callback: object
    rating_scale: tuple[float, float] | None

    def positives(self, threshold: float | None) -> np.ndarray:
        """Which ratings count as interactions: every one (``threshold=None``), or those ``>= threshold``.

        Refuses a threshold that leaves nothing to learn from, naming the ratings' range.
        """
        if threshold is None:
            return np.ones(len(self.i), dtype=bool)
        check_number("positive_threshold", threshold)
        if np.isnan(self.r).all():
            raise ValueError(f"positive_threshold={threshold!r} needs a rating column to compare with")
        keep = self.r >= threshold
        if not keep.any():
            raise ValueError(f"no rating is >= positive_threshold={threshold!r} (ratings go from "
                             f"{np.nanmin(self.r):g} to {np.nanmax(self.r):g}): nothing to learn from; "
                             "lower the threshold")
        return keep

    def interactions(self, threshold: float | None, shape: tuple[int, int]) -> sparse.csr_matrix:
        """The users x items 0/1 matrix of the ratings that count as interactions (``positives(threshold)``)."""
        keep = self.positives(threshold)
        return sparse.csr_matrix((np.ones(int(keep.sum())), (self.u[keep], self.i[keep])), shape=shape)


def _described(frame, name: str, column: str, rated: pd.Series, model) -> pd.Series:
    """The ids of ``frame``, after checking that it is there and describes every rated one."""
    if frame is None:
        raise ValueError(f"{type(model).__name__} describes {name} by their features: "
                         f"call fit(ratings, movies, users) with the {name} frame")
    absent = pd.Index(rated.unique()).difference(frame[column])
    if len(absent):
        raise ValueError(f"ratings name {len(absent)} {column}(s) missing from {name}, e.g. {show_id(absent[0])}: "
                         f"every rated one needs a row in {name}")
    return frame[column]


def _scale(r: np.ndarray, given) -> tuple[float, float]:
    """The rating scale: ``given`` (checked against the data), else the lowest and highest rating."""
    lo, hi = float(r.min()), float(r.max())
    if given is None:
        return (lo, hi)
    try:
        low, high = (float(x) for x in given)
    except (TypeError, ValueError):
        raise ValueError(f"rating_scale must be (lowest, highest), got {given!r}") from None
    if not low < high:
        raise ValueError(f"rating_scale must be (lowest, highest) with lowest < highest, got {given!r}")
    if lo < low or hi > high:
        raise ValueError(f"ratings go from {lo:g} to {hi:g}, outside rating_scale={given!r}: "
                         "give the scale the ratings are on, or leave it out to take it from the data")
    return (low, high)


def _as_list(ids) -> list:
    return list(ids) if pd.api.types.is_list_like(ids) else [ids]


class Recommender(BaseEstimator):
    """Base class of every recommender of the course: see the module docstring for the protocol."""

    #: Every movie of ``movies`` is in the catalogue (content features), not only the rated ones.
    _catalogue_from_movies = False
    #: Every user of ``users`` is known (demographic features), not only those with ratings.
    _users_from_frame = False
    #: ``fit`` needs a ``rating`` column.
    _needs_rating = True
    #: ``fit`` trains in epochs and accepts ``epoch_callback(model, epoch)``.
    _iterative = False
    #: Users scored per block in ``recommend_batch``: about this many scores (8 MiB) / catalogue size.
    _block_cells = 2**20

    # ------------------------------------------------------------------ fitting

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None, users: pd.DataFrame | None = None,
            *, rating_scale: tuple[float, float] | None = None, epoch_callback=None):
        """Learn from ``ratings`` (``user_id``, ``item_id``, ``rating``); returns ``self``.

        ``movies`` and ``users`` are the loader's other two frames, used by the
        models that describe items or users by their features.
        ``rating_scale`` is ``(lowest, highest)``: by default the lowest and
        highest rating in ``ratings`` (1 and 5 on MovieLens); rating models
        clip their predictions to it (``rating_scale_``).
        ``epoch_callback(model, epoch)`` runs after every epoch of an
        iterative model (learning curves).

        Bad input is refused with a ValueError that says what to do: missing
        columns or ids, NaN or infinite ratings, a (user, item) pair twice,
        ids of mixed types; so is a model whose parameters came out NaN or
        infinite (:class:`FitError`, naming the learning rate).
        """
        ratings = check_ratings(ratings, rating=self._needs_rating or "rating" in getattr(ratings, "columns", ()))
        if epoch_callback is not None and not self._iterative:
            raise ValueError(f"{type(self).__name__} does not train in epochs: it takes no epoch_callback")
        self.user_ids_, self.item_ids_ = self._vocabularies(ratings, movies, users)
        u = positions(self.user_ids_, ratings["user_id"])
        i = positions(self.item_ids_, ratings["item_id"])
        r = (ratings["rating"].to_numpy(dtype=np.float64) if "rating" in ratings.columns
             else np.full(len(u), np.nan))
        self.rating_scale_ = _scale(r, rating_scale) if "rating" in ratings.columns else None
        self.seen_ = sparse.csr_matrix((np.ones(len(u), dtype=bool), (u, i)),
                                       shape=(len(self.user_ids_), len(self.item_ids_)))
        self.item_popularity_ = np.bincount(i, minlength=len(self.item_ids_))
        self._fit(TrainingData(ratings, u, i, r, movies, users, epoch_callback, self.rating_scale_))
        self._check_learned()
        return self

    def _learned_arrays(self):
        """``(name, array)`` for every learned floating-point array (what :meth:`_check_learned` inspects)."""
        for name, value in vars(self).items():
            if not name.endswith("_") or name.startswith("_"):
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                yield name, value
            elif sparse.issparse(value) and value.dtype.kind == "f":
                yield name, value.data

    def _check_learned(self) -> None:
        for name, values in self._learned_arrays():
            bad = int(np.count_nonzero(~np.isfinite(values)))
            if bad:
                hint = "check the input for extreme values"
                if "lr" in self.get_params():
                    default = inspect.signature(type(self).__init__).parameters["lr"].default
                    hint = f"lower the learning rate: lr={self.lr!r} (the default is {default!r})"
                raise FitError(f"{type(self).__name__} diverged: after training, {name} holds {bad} NaN or "
                               f"infinite value(s); {hint}")

    def _vocabularies(self, ratings, movies, users) -> tuple[pd.Index, pd.Index]:
        """The users and items this model knows: those rated, plus every row of ``users``/``movies``
        for the models that describe them by features."""
        user_values, item_values = ratings["user_id"], ratings["item_id"]
        if self._users_from_frame:
            user_values = pd.concat([_described(users, "users", "user_id", user_values, self), user_values])
        if self._catalogue_from_movies:
            item_values = pd.concat([_described(movies, "movies", "item_id", item_values, self), item_values])
        return id_index(user_values, "user_id"), id_index(item_values, "item_id")

    def _fit(self, data: TrainingData) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "item_ids_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(ratings) first")

    def _callback(self, data: TrainingData, epoch: int) -> None:
        if data.epoch_callback is not None:
            data.epoch_callback(self, epoch)

    # ------------------------------------------------------------------ scoring

    def score(self, user_ids, item_ids=None) -> pd.DataFrame:
        """Scores of ``item_ids`` (default: the catalogue, ``item_ids_``) for each of ``user_ids``.

        A users x items frame (index ``user_id``, columns ``item_id``); higher
        is better. Rows of users and columns of items the model does not know
        are ``NaN``.
        """
        self._check_fitted()
        users = pd.Index(_as_list(user_ids), name="user_id")
        if item_ids is None:
            items = self.item_ids_
        elif isinstance(item_ids, pd.Index):
            items = item_ids.rename("item_id")
        else:
            items = pd.Index(_as_list(item_ids), name="item_id")
        # the whole catalogue in its own order (what a served request asks): no look-up needed
        cols = np.arange(len(items)) if items.equals(self.item_ids_) else positions(self.item_ids_, items)
        rows = positions(self.user_ids_, users)
        out = np.full((len(rows), len(cols)), np.nan)
        known_rows, known_cols = rows >= 0, cols >= 0
        if known_rows.any() and known_cols.any():
            out[np.ix_(known_rows, known_cols)] = self._score_checked(rows[known_rows], cols[known_cols])
        return pd.DataFrame(out, index=users, columns=items)

    def _score_checked(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        S = np.asarray(self._score(rows, cols))
        if S.dtype.kind != "f":
            S = S.astype(np.float64)
        if not S.flags.writeable:  # a broadcast view (one list for everyone): ranking writes into it
            S = S.copy()
        if S.shape != (len(rows), len(cols)):  # pragma: no cover - a model's bug
            raise RuntimeError(f"{type(self).__name__}._score returned shape {S.shape}, "
                               f"expected {(len(rows), len(cols))}")
        return S

    # ------------------------------------------------------------------ ranking

    def _candidate_columns(self, candidates) -> np.ndarray:
        if candidates is None:
            return np.arange(len(self.item_ids_))
        cols = positions(self.item_ids_, list(candidates))
        return np.unique(cols[cols >= 0])  # sorted: column order is id order, the tie rule

    def _fallback_scores(self, cols: np.ndarray) -> np.ndarray:
        """What an unknown user is ranked by: the items' training rating counts."""
        return self.item_popularity_[cols].astype(np.float64)

    def recommend_batch(self, user_ids=None, n: int = 10, exclude_seen: bool = True, candidates=None,
                        batch_size: int | None = None) -> pd.DataFrame:
        """Top-``n`` lists for many users at once: one row per (user, rank).

        Columns ``user_id``, ``rank`` (1 = best), ``item_id``, ``score`` and
        ``source`` (``"model"``, or ``"popularity: unknown user"`` for a user
        the model does not know). Users default to every training user.
        Known users are scored ``batch_size`` at a time (default: about a
        million scores, 8 MiB, per block), so memory stays bounded.
        """
        self._check_fitted()
        n = check_n(n)
        users = self.user_ids_ if user_ids is None else pd.Index(_as_list(user_ids))
        rows = positions(self.user_ids_, users)
        cols = self._candidate_columns(candidates)
        block = batch_size or max(1, self._block_cells // max(1, len(cols)))
        parts = []  # (positions in the request, columns, scores, sources): one row of each per user
        known = np.flatnonzero(rows >= 0)
        for start in range(0, len(known), block):
            which = known[start:start + block]
            S = self._score_checked(rows[which], cols)
            blind = np.isnan(S).all(axis=1) if len(cols) else np.zeros(len(which), dtype=bool)
            if blind.any():  # a known user the model cannot score (no positive ratings, say)
                S[blind] = self._fallback_scores(cols)
            if exclude_seen:
                seen = self.seen_[rows[which]]
                if len(cols) < len(self.item_ids_):
                    seen = seen[:, cols]
                S[seen.nonzero()] = -np.inf
            parts.append((which, *top_n(S, n), np.where(blind, CANNOT_SCORE, MODEL)))
        unknown = np.flatnonzero(rows < 0)
        if len(unknown):
            S = np.broadcast_to(self._fallback_scores(cols), (len(unknown), len(cols)))
            parts.append((unknown, *top_n(S, n), np.full(len(unknown), UNKNOWN_USER)))
        return self._long_frame(users, parts, cols, n)

    def _long_frame(self, users: pd.Index, parts: list, cols: np.ndarray, n: int) -> pd.DataFrame:
        """One long frame from the blocks' top-n arrays, in the order users were asked for, best first."""
        width = min(n, len(cols))
        which = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, dtype=np.intp)
        top = np.concatenate([p[1] for p in parts]) if parts else np.empty((0, width), dtype=np.intp)
        values = np.concatenate([p[2] for p in parts]) if parts else np.empty((0, width))
        sources = np.concatenate([p[3] for p in parts]).astype(object) if parts else np.empty(0, dtype=object)
        order = np.argsort(which, kind="stable")  # blocks come in request order; unknown users came last
        which, top, values, sources = which[order], top[order], values[order], sources[order]
        listed = top >= 0
        position = np.broadcast_to(which[:, None], top.shape)[listed]
        return pd.DataFrame({"user_id": users.take(position).to_numpy(),
                             "rank": np.broadcast_to(np.arange(1, width + 1), top.shape)[listed],
                             "item_id": self.item_ids_[cols[top[listed]]], "score": values[listed],
                             "source": np.broadcast_to(sources[:, None], top.shape)[listed]})

    def recommend(self, user_id, n: int = 10, exclude_seen: bool = True, candidates=None) -> pd.DataFrame:
        """One user's top-``n``: ``item_id``, ``score`` and ``source`` (see :meth:`recommend_batch`)."""
        lists = self.recommend_batch([user_id], n=n, exclude_seen=exclude_seen, candidates=candidates)
        return lists[["item_id", "score", "source"]]

    def ranker(self, candidates=None) -> "Ranker":
        """This model, ranking only ``candidates``: for a leaderboard row, say (see :class:`Ranker`)."""
        self._check_fitted()
        return Ranker(self, candidates)


class Ranker:
    """A fitted recommender whose lists are restricted to a fixed set of candidate items.

    Everything else is the model's: its fallback for unknown users, its
    exclusion of seen items and its ``predict`` (so an evaluation of a rating
    model restricted to, say, movies with 50 or more ratings still reports
    its RMSE).
    """

    def __init__(self, model: Recommender, candidates=None):
        self.model = model
        self.candidates = None if candidates is None else list(candidates)

    def __repr__(self) -> str:
        size = "all items" if self.candidates is None else f"{len(self.candidates)} candidates"
        return f"Ranker({self.model!r}, {size})"

    def __getattr__(self, name):
        if name in ("predict", "user_ids_", "item_ids_", "seen_", "item_popularity_"):
            return getattr(self.model, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def recommend_batch(self, user_ids=None, n: int = 10, exclude_seen: bool = True, candidates=None,
                        batch_size: int | None = None) -> pd.DataFrame:
        if candidates is not None:
            raise ValueError("this Ranker's candidates are fixed; call the model's recommend_batch for others")
        return self.model.recommend_batch(user_ids, n, exclude_seen, self.candidates, batch_size)

    def recommend(self, user_id, n: int = 10, exclude_seen: bool = True, candidates=None) -> pd.DataFrame:
        lists = self.recommend_batch([user_id], n=n, exclude_seen=exclude_seen, candidates=candidates)
        return lists[["item_id", "score", "source"]]


class RatingModel(Recommender):
    """Base class of the models that predict star ratings.

    On top of the protocol, :meth:`predict` returns ratings for (user, item)
    pairs: clipped to the rating scale (``rating_scale_``: given to ``fit``, or
    the lowest and highest training rating), with the global mean of the training
    ratings (plus the known side's bias, for models with biases) where the
    user or the item was not seen in ``fit``, like Surprise's
    ``was_impossible``. A subclass implements ``_estimate(u, i)`` for known
    pairs; ranking uses the unclipped estimates (clipping at 5 stars would
    make many items tie), through ``_score``, which by default asks
    ``_estimate`` for the whole block and which models with a faster way
    (a matrix product) override.
    """

    def _fit(self, data: TrainingData) -> None:
        self.global_mean_ = float(data.r.mean())
        self._fit_ratings(data)

    def _fit_ratings(self, data: TrainingData) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _estimate(self, u: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _score(self, rows, cols):
        grid_u, grid_i = np.repeat(rows, len(cols)), np.tile(cols, len(rows))
        return self._estimate(grid_u, grid_i)[0].reshape(len(rows), len(cols))

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

    def predict(self, user_ids, item_ids, *, clip: bool = True, details: bool = False):
        """Predicted ratings for the pairs ``(user_ids[j], item_ids[j])``.

        Pairs with a user or item not seen in ``fit`` get the global mean of
        the training ratings (plus the known side's bias, for models with
        biases). With ``details=True`` a frame is returned with the estimate
        and a ``was_impossible`` column (True for those fall-backs and for
        pairs where the model itself had to fall back).
        """
        self._check_fitted()
        user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
        if user_ids.shape != item_ids.shape or user_ids.ndim != 1:
            raise ValueError(f"user_ids and item_ids must be 1-d and of equal length, "
                             f"got shapes {user_ids.shape} and {item_ids.shape}")
        u = positions(self.user_ids_, user_ids)
        i = positions(self.item_ids_, item_ids)
        known = (u >= 0) & (i >= 0)
        est = np.full(len(u), self.global_mean_)
        impossible = ~known
        if known.any():
            est[known], impossible[known] = self._estimate(u[known], i[known])
        partial = (u >= 0) != (i >= 0)
        if partial.any():
            est[partial] = self._estimate_partial(u[partial], i[partial])
        if clip:
            est = np.clip(est, *self.rating_scale_)
        if not details:
            return est
        reason = np.where(u < 0, "unknown user", np.where(i < 0, "unknown item", ""))
        return pd.DataFrame({"user_id": user_ids, "item_id": item_ids, "estimate": est,
                             "was_impossible": impossible, "reason": reason})
