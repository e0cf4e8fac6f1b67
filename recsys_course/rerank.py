r"""Re-ranking a model's list for diversity: maximal marginal relevance (MMR).

Carbonell & Goldstein (1998) pick the next item greedily as the best trade
between its relevance and its similarity to what is already in the list:

.. math:: i^* = \arg\max_{i \in C \setminus S}\;
          \lambda\, \mathrm{rel}(i) - (1 - \lambda) \max_{j \in S} \mathrm{sim}(i, j)

``rel`` is the model's score rescaled to [0, 1] over the candidates ``C``
(so that lambda weighs two quantities on the same scale) and ``sim`` the
cosine between item feature vectors (genres, say). ``lambda = 1`` returns the
model's own order; smaller values buy diversity with relevance.

:class:`MMR` puts any recommender of the package behind the same protocol
(:mod:`recsys_course.models.base`): its ``score`` column is the MMR value at
which each item was picked, which never increases down the list, so sorting by
it keeps MMR's order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .ranking import check_n, rank_by_score

__all__ = ["MMR", "Diversify", "GenreCap", "mmr"]


def _check_lambda(lambda_: float) -> None:
    if not 0 <= lambda_ <= 1:
        raise ValueError(f"lambda_ must be between 0 and 1, got {lambda_}")


def mmr(scores: pd.Series, item_features: pd.DataFrame, n: int = 10, lambda_: float = 0.7,
        return_values: bool = False):
    """Re-rank the items of ``scores`` (id -> model score) by MMR; returns ``n`` item ids.

    Ties in the MMR value go to the item the model ranked higher (then the
    smaller id), so ``lambda_ = 1`` reproduces ``rank_by_score(scores, n)``.
    With ``return_values=True`` also the MMR value at which each was picked
    (a non-increasing sequence: every pick can only lower the others' values).

    >>> scores = pd.Series({"a": 0.9, "b": 0.8, "c": 0.1})
    >>> features = pd.DataFrame({"drama": [1, 1, 0], "comedy": [0, 0, 1]}, index=["a", "b", "c"])
    >>> mmr(scores, features, n=2, lambda_=1.0), mmr(scores, features, n=2, lambda_=0.5)
    (['a', 'b'], ['a', 'c'])
    """
    n = check_n(n)
    _check_lambda(lambda_)
    if scores.empty:
        return ([], []) if return_values else []
    missing = scores.index.difference(item_features.index)
    if len(missing):
        raise ValueError(f"item_features has no row for item(s) {missing[:5].tolist()}")
    order = rank_by_score(scores)                      # the model's own order breaks ties
    values = scores[order].to_numpy(dtype=float)
    spread = values.max() - values.min()
    rel = (values - values.min()) / spread if spread > 0 else np.ones_like(values)
    X = item_features.loc[order].to_numpy(dtype=float)
    norms = np.linalg.norm(X, axis=1)
    X = X / np.where(norms > 0, norms, 1)[:, None]
    chosen: list[int] = []
    picked_at: list[float] = []
    max_sim = np.zeros(len(order))                     # max similarity to the chosen items so far
    available = np.ones(len(order), dtype=bool)
    for _ in range(min(n, len(order))):
        value = lambda_ * rel - (1 - lambda_) * max_sim
        value[~available] = -np.inf
        best = int(np.argmax(value))                   # argmax takes the first: the model's order
        chosen.append(best)
        picked_at.append(float(value[best]))
        available[best] = False
        max_sim = np.maximum(max_sim, X @ X[best])
    items = [order[i] for i in chosen]
    return (items, picked_at) if return_values else items


class MMR:
    """Wrap a recommender: take its ``pool`` best items, re-rank them with :func:`mmr`.

    ``base`` is any recommender of the package (or anything with the same
    ``recommend``): its exclusion of seen items, candidates and fallback for
    unknown users are used as they are, and its ``source`` is kept.
    """

    def __init__(self, base, item_features: pd.DataFrame, lambda_: float = 0.7, pool: int = 100):
        _check_lambda(lambda_)
        self.base = base
        self.item_features = item_features
        self.lambda_ = lambda_
        self.pool = check_n(pool)

    def __repr__(self) -> str:
        return f"MMR({self.base!r}, lambda_={self.lambda_}, pool={self.pool})"

    def recommend(self, user_id, n: int = 10, exclude_seen: bool = True, candidates=None) -> pd.DataFrame:
        """The base model's ``pool`` best, re-ranked: ``item_id``, ``score`` (the MMR value), ``source``."""
        n = check_n(n)
        pool = self.base.recommend(user_id, n=max(self.pool, n), exclude_seen=exclude_seen, candidates=candidates)
        scores = pd.Series(pool["score"].to_numpy(dtype=float), index=pool["item_id"])
        top, values = mmr(scores, self.item_features, n, self.lambda_, return_values=True)
        source = pool["source"].iloc[0] if len(pool) and "source" in pool else "model"
        return pd.DataFrame({"item_id": top, "score": values, "source": source})

    def recommend_batch(self, user_ids, n: int = 10, exclude_seen: bool = True, candidates=None) -> pd.DataFrame:
        """:meth:`recommend` for many users: ``user_id``, ``rank``, ``item_id``, ``score``, ``source``."""
        n = check_n(n)
        pools = self.base.recommend_batch(user_ids, n=max(self.pool, n), exclude_seen=exclude_seen,
                                          candidates=candidates)
        lists = []
        for user, pool in pools.groupby("user_id", sort=False):
            scores = pd.Series(pool["score"].to_numpy(dtype=float), index=pool["item_id"])
            top, values = mmr(scores, self.item_features, n, self.lambda_, return_values=True)
            lists.append(pd.DataFrame({"user_id": user, "rank": np.arange(1, len(top) + 1), "item_id": top,
                                       "score": values, "source": pool["source"].iloc[0]}))
        return pd.concat(lists, ignore_index=True) if lists else pools.iloc[:0]


class GenreCap:
    """A business rule as a re-rank step: at most ``max_per_genre`` movies of any one genre in the list.

    Walks down the ranked list and keeps an item only while every one of its
    genres is still under the cap; items it skips wait. If the pool runs
    out before ``n`` items are kept, the skipped items fill the list in their
    ranked order (a short list would be worse than a bent rule), so the cap
    holds whenever the pool allows it. Called as ``step(items, scores, n)``
    (see :class:`recsys_course.pipeline.TwoStage`).

    >>> genres = pd.DataFrame({"Drama": [1, 1, 1, 0], "Comedy": [0, 0, 1, 1]}, index=[1, 2, 3, 4])
    >>> items, _ = GenreCap(genres, max_per_genre=2)(np.array([1, 2, 3, 4]), np.array([4.0, 3, 2, 1]), n=3)
    >>> items.tolist()   # 3 would be a third drama: it waits behind 4, the first three obey the cap
    [1, 2, 4, 3]
    """

    def __init__(self, item_features: pd.DataFrame, max_per_genre: int = 3):
        self.item_features = item_features
        self.max_per_genre = check_n(max_per_genre)

    def __repr__(self) -> str:
        return f"GenreCap(max_per_genre={self.max_per_genre})"

    def __call__(self, items, scores, n: int):
        items, scores = np.asarray(items), np.asarray(scores)
        missing = pd.Index(items).difference(self.item_features.index)
        if len(missing):
            raise ValueError(f"item_features has no row for item(s) {missing[:5].tolist()}")
        F = self.item_features.loc[items].to_numpy(dtype=float) > 0
        counts = np.zeros(F.shape[1], dtype=int)
        kept, waiting = [], []
        for j in range(len(items)):
            if len(kept) < n and (counts[F[j]] < self.max_per_genre).all():
                kept.append(j)
                counts += F[j]
            else:
                waiting.append(j)
        order = np.array(kept + waiting, dtype=np.intp)
        return items[order], scores[order]


class Diversify:
    """MMR (:func:`mmr`) as a re-rank step: the first ``n`` items chosen by MMR, then the rest in ranked order."""

    def __init__(self, item_features: pd.DataFrame, lambda_: float = 0.7):
        _check_lambda(lambda_)
        self.item_features = item_features
        self.lambda_ = lambda_

    def __repr__(self) -> str:
        return f"Diversify(lambda_={self.lambda_})"

    def __call__(self, items, scores, n: int):
        items, scores = np.asarray(items), np.asarray(scores, dtype=float)
        if len(items) == 0:
            return items, scores
        top, values = mmr(pd.Series(scores, index=items), self.item_features, n, self.lambda_, return_values=True)
        rest = ~pd.Index(items).isin(top)
        return (np.concatenate([np.asarray(top, dtype=items.dtype), items[rest]]),
                np.concatenate([values, scores[rest]]))
