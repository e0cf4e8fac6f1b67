"""Other libraries' models behind the package's conventions, so one leaderboard can rank them all.

:class:`SurpriseModel` wraps any Surprise algorithm (``SVD``, ``KNNBaseline``,
...) as a :class:`~recsys_course.models.base.RatingModel`: it is fitted on a
ratings frame, predicts for arrays of raw ids, recommends, and scores the
whole user x item grid at once. Surprise itself still does the training.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .base import RatingModel, TrainingData

__all__ = ["SurpriseModel"]


class SurpriseModel(RatingModel):
    """A Surprise algorithm with ``predict(user_ids, item_ids)``, ``recommend`` and ``ranker``.

    Parameters
    ----------
    algo : surprise.AlgoBase
        An unfitted algorithm, e.g. ``SVD(random_state=0)``. It is copied
        before fitting (the object you pass stays unfitted); the fitted copy
        is ``algo_``.

    Predictions equal ``algo_.predict(user, item).est`` before clipping. For
    matrix factorisation (``SVD``) they are computed from the learned factors
    in one vectorised step, and a block of users is ranked with one matrix
    product; other algorithms are asked pair by pair.

    Examples
    --------
    >>> from surprise import BaselineOnly
    >>> from recsys_course.data import load_toy
    >>> model = SurpriseModel(BaselineOnly(verbose=False)).fit(load_toy().ratings)
    >>> round(float(model.predict([1], [8])[0]), 3)
    3.907
    """

    def __init__(self, algo):
        self.algo = algo

    def __repr__(self, N_CHAR_MAX=700) -> str:
        # Surprise's algorithms have no repr of their own (only a memory address): name the class and
        # the settings it was given (its plain attributes, as set by its __init__).
        settings = {k: v for k, v in vars(self.algo).items()
                    if not k.startswith("_") and isinstance(v, (bool, int, float, str, dict, type(None)))}
        shown = ", ".join(f"{k}={v!r}" for k, v in settings.items())
        return f"SurpriseModel({type(self.algo).__name__}({shown}))"

    def _fit_ratings(self, data: TrainingData) -> None:
        from surprise import Dataset, Reader

        u, i, r = data.u, data.i, data.r
        frame = pd.DataFrame({"user": u, "item": i, "rating": r})
        trainset = Dataset.load_from_df(frame, Reader(rating_scale=self.rating_scale_)).build_full_trainset()
        self.algo_ = copy.deepcopy(self.algo)
        self.algo_.fit(trainset)
        # Surprise numbers users and items itself; translate ours (0..n-1) to its inner ids once.
        self._inner_u = np.array([trainset.to_inner_uid(x) for x in range(len(self.user_ids_))])
        self._inner_i = np.array([trainset.to_inner_iid(x) for x in range(len(self.item_ids_))])
        self._factors = all(hasattr(self.algo_, name) for name in ("pu", "qi", "bu", "bi"))
        if self._factors:  # the factors in our numbering, for ranking by one matrix product
            algo = self.algo_
            self._P, self._Q = algo.pu[self._inner_u], algo.qi[self._inner_i]
            biased = getattr(algo, "biased", True)
            self._b_u = algo.bu[self._inner_u] + algo.trainset.global_mean if biased else np.zeros(len(self._P))
            self._b_i = algo.bi[self._inner_i] if biased else np.zeros(len(self._Q))

    def _estimate(self, u, i):
        iu, ii = self._inner_u[u], self._inner_i[i]
        if self._factors:
            algo = self.algo_
            est = np.einsum("ij,ij->i", algo.pu[iu], algo.qi[ii])
            if getattr(algo, "biased", True):
                est += self.algo_.trainset.global_mean + algo.bu[iu] + algo.bi[ii]
            return est, np.zeros(len(u), dtype=bool)
        return self._ask(iu, ii)

    def _score(self, rows, cols):
        if not self._factors:
            return super()._score(rows, cols)
        S = self._P[rows] @ self._Q[cols].T
        S += self._b_i[cols]
        S += self._b_u[rows, None]
        return S

    def _estimate_partial(self, u, i):
        # Only the user or only the item is known: let the algorithm decide (SVD and
        # BaselineOnly add the known side's bias), passing Surprise's marker for the unknown id.
        iu = [int(self._inner_u[x]) if x >= 0 else "UKN__user" for x in u]
        ii = [int(self._inner_i[x]) if x >= 0 else "UKN__item" for x in i]
        return self._ask(iu, ii)[0]

    def _ask(self, iu, ii) -> tuple[np.ndarray, np.ndarray]:
        """Surprise's own ``estimate``, pair by pair, with its fallback where it gives up."""
        from surprise import PredictionImpossible

        est = np.empty(len(iu))
        impossible = np.zeros(len(iu), dtype=bool)
        for n, (a, b) in enumerate(zip(iu, ii)):
            try:
                value = self.algo_.estimate(a, b)
                est[n] = value[0] if isinstance(value, tuple) else value
            except PredictionImpossible:
                est[n], impossible[n] = self.algo_.default_prediction(), True
        return est, impossible
