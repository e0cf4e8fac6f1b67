r"""The production architecture: candidate generators, a learned ranker, re-rank steps, as one estimator.

Scoring every movie for every request is affordable on MovieLens-100k and
nowhere else, so real systems recommend in stages (Covington et al. 2016):

1. **candidate generation**: a few cheap models (collaborative filtering,
   nearest neighbours in an embedding space, popularity) each propose their
   best ``n_candidates`` items; their union is the candidate set;
2. **ranking**: a model that is too expensive to run on the whole catalogue,
   trained on rich features of each (user, candidate) pair, orders the
   candidates (here a learning-to-rank model such as LightGBM's lambdarank);
3. **re-ranking**: rules the business needs (no repeats, no more than three
   movies of one genre, diversity) reorder or filter the ranked list.

:class:`TwoStage` is all three behind the package's one protocol
(:mod:`recsys_course.models.base`), so it can be evaluated, put on a
leaderboard and served like any other model. Its ranker learns from a
**ranking period** carved from the training ratings themselves: each user's
latest ``ranking_period`` share of training ratings are the labels, the
generators are fitted on what came before, and the ranker learns which
candidates of that earlier fit the user went on to watch. The generators are
then refitted on all the training ratings for recommending. No test rating is
involved, so the test set stays unseen until the evaluation.

The features (:data:`FEATURES`) are the ones a team would build first: each
generator's score and rank, the item's popularity (all time and recent), mean
rating, release year and age, the user's activity, mean rating and
demographics, and the user's affinity for the item's genres (over their
whole history and their last ten movies).
"""

from __future__ import annotations

import copy
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import clone

from .checks import check_fraction, check_int
from .data import GENRES
from .ids import positions
from .models.base import Recommender, TrainingData
from .ranking import check_n
from .split import per_user_temporal_split

__all__ = ["FEATURES", "RankingData", "TwoStage", "candidate_recall", "feature_names", "ranking_data",
           "reciprocal_rank_fusion"]

#: The constant of reciprocal rank fusion (Cormack et al. 2009): score = sum over generators of 1 / (60 + rank).
RRF_K = 60
#: Features of a (user, candidate) pair besides the generators' "<name> score" and "<name> rank".
FEATURES = ("item popularity", "item recent popularity", "item mean rating", "movie year", "movie age",
            "user activity", "user mean rating", "user age", "user gender", "user occupation",
            "genre affinity", "recent genre affinity")
RECENT_DAYS, RECENT_ITEMS = 30, 10


def _genre_matrix(movies: pd.DataFrame | None, item_ids: pd.Index) -> np.ndarray:
    """items x genres 0/1 (zeros for a movie ``movies`` lacks, or without ``movies``)."""
    G = np.zeros((len(item_ids), len(GENRES)))
    if movies is not None and set(GENRES) <= set(movies.columns):
        rows = positions(item_ids, movies["item_id"])
        G[rows[rows >= 0]] = movies.loc[rows >= 0, list(GENRES)].to_numpy(dtype=float)
    return G


class _Context(NamedTuple):
    """What the features of one fitted set of generators need, computed once from its training ratings."""

    item_ids: pd.Index
    user_ids: pd.Index
    item_stats: np.ndarray    # items x 5: popularity, recent popularity, mean rating, year, age in years
    user_stats: np.ndarray    # users x 5: activity, mean rating, age, gender (1 = F), occupation code
    genres: np.ndarray        # items x genres, rows normalised to sum 1 (a movie's genres share one unit)
    profile: np.ndarray       # users x genres: share of the user's movies in each genre
    recent_profile: np.ndarray
    seen: sparse.csr_matrix   # users x items: True where the user rated the item


def _context(ratings: pd.DataFrame, movies, users, user_ids: pd.Index, item_ids: pd.Index) -> _Context:
    u, i = positions(user_ids, ratings["user_id"]), positions(item_ids, ratings["item_id"])
    n_users, n_items = len(user_ids), len(item_ids)
    has_time = "timestamp" in ratings.columns
    r = ratings["rating"].to_numpy(dtype=float) if "rating" in ratings.columns else np.full(len(u), np.nan)
    count = np.bincount(i, minlength=n_items).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        item_mean = np.bincount(i, weights=r, minlength=n_items) / count
        user_count = np.bincount(u, minlength=n_users).astype(float)
        user_mean = np.bincount(u, weights=r, minlength=n_users) / user_count
    recent = np.full(n_items, np.nan)
    year = np.full(n_items, np.nan)
    age = np.full(n_items, np.nan)
    if has_time:
        t = pd.to_datetime(ratings["timestamp"])
        end = t.max()
        recent = np.bincount(i[(t > end - pd.Timedelta(days=RECENT_DAYS)).to_numpy()], minlength=n_items).astype(float)
    if movies is not None and "year" in movies.columns:
        rows = positions(item_ids, movies["item_id"])
        year[rows[rows >= 0]] = movies.loc[rows >= 0, "year"].to_numpy(dtype=float)
        if has_time:
            age = end.year + end.day_of_year / 365.25 - year
    demo = np.full((n_users, 3), np.nan)
    if users is not None and {"age", "gender", "occupation"} <= set(users.columns):
        rows = positions(user_ids, users["user_id"])
        known = users[rows >= 0]
        demo[rows[rows >= 0], 0] = known["age"].to_numpy(dtype=float)
        demo[rows[rows >= 0], 1] = (known["gender"] == "F").to_numpy(dtype=float)
        codes = pd.Categorical(users["occupation"]).codes  # sorted categories: the same code for the same text
        demo[rows[rows >= 0], 2] = codes[rows >= 0]
    G = _genre_matrix(movies, item_ids)
    shares = G / np.maximum(G.sum(axis=1, keepdims=True), 1)
    profile = np.zeros((n_users, len(GENRES)))
    np.add.at(profile, u, shares[i])
    profile /= np.maximum(user_count, 1)[:, None]
    # the last RECENT_ITEMS movies of each user, in time (then row) order
    order = np.lexsort((np.arange(len(u)), t.to_numpy() if has_time else np.arange(len(u)), u))
    from_end = pd.Series(u[order]).groupby(u[order]).cumcount(ascending=False).to_numpy()
    last = order[from_end < RECENT_ITEMS]
    recent_profile = np.zeros((n_users, len(GENRES)))
    np.add.at(recent_profile, u[last], shares[i[last]])
    recent_profile /= np.maximum(np.bincount(u[last], minlength=n_users), 1)[:, None]
    ok = (u >= 0) & (i >= 0)
    seen = sparse.csr_matrix((np.ones(ok.sum(), dtype=bool), (u[ok], i[ok])), shape=(n_users, n_items))
    return _Context(item_ids, user_ids, np.column_stack([count, recent, item_mean, year, age]),
                    np.column_stack([user_count, user_mean, demo]), shares, profile, recent_profile, seen)


def _ranks(S: np.ndarray) -> np.ndarray:
    """1-based rank of every column in its row (best first, ties to the smaller column; -inf/NaN last)."""
    S = np.where(np.isnan(S), -np.inf, S)
    order = np.argsort(-S, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, S.shape[1] + 1), axis=1)
    return ranks


def _generator_scores(generators: Mapping, user_ids, item_ids: pd.Index, seen) -> dict:
    """name -> (scores, ranks) over ``item_ids`` for ``user_ids``, seen items ranked last (score -inf)."""
    out = {}
    for name, model in generators.items():
        S = model.score(user_ids, item_ids).to_numpy(dtype=float, copy=True)
        S[seen] = -np.inf
        out[name] = (S, _ranks(S))
    return out


def _pair_features(names, scored, ctx: _Context, rows: np.ndarray, cols: np.ndarray,
                   user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
    """The feature matrix of the pairs (block row ``rows[j]``, column ``cols[j]``): generators first, then FEATURES."""
    parts = []
    for name in names:
        S, R = scored[name]
        score = S[rows, cols]
        parts += [np.where(np.isfinite(score), score, np.nan), R[rows, cols].astype(float)]
    u, i = user_rows[rows], item_rows[cols]
    item = np.where(i[:, None] >= 0, ctx.item_stats[np.maximum(i, 0)], np.nan)
    user = np.where(u[:, None] >= 0, ctx.user_stats[np.maximum(u, 0)], np.nan)
    g = ctx.genres[np.maximum(i, 0)]
    affinity = np.einsum("pg,pg->p", ctx.profile[np.maximum(u, 0)], g) / np.maximum(g.sum(axis=1), 1e-12)
    recent = np.einsum("pg,pg->p", ctx.recent_profile[np.maximum(u, 0)], g) / np.maximum(g.sum(axis=1), 1e-12)
    return np.column_stack(parts + [item, user, affinity, recent])


def feature_names(generators: Sequence[str]) -> list[str]:
    """The columns of the feature matrix: each generator's score and rank, then :data:`FEATURES`."""
    return [f"{name} {what}" for name in generators for what in ("score", "rank")] + list(FEATURES)


def _candidates(scored: dict, n_candidates: int) -> np.ndarray:
    """block users x items: True where some generator ranks the item in its top ``n_candidates`` (seen excluded)."""
    mask = None
    for S, R in scored.values():
        top = (R <= n_candidates) & np.isfinite(S)
        mask = top if mask is None else mask | top
    return mask


class RankingData(NamedTuple):
    """A ranker's training data: one row per (user, candidate) of the ranking period.

    ``pairs`` (``user_id``, ``item_id``, ``label``: 1 if the user rated the
    candidate in the period), ``X`` (the features, columns
    :func:`feature_names`) and ``group`` (candidates per user, in the order of
    the rows: what a learning-to-rank model needs). ``relevant`` counts each
    user's period ratings, candidates or not (for recall). ``fingerprint``
    identifies the ratings and settings it was built from.
    """

    pairs: pd.DataFrame
    X: pd.DataFrame
    group: np.ndarray
    relevant: pd.Series
    fingerprint: tuple

    def subset(self, user_ids) -> RankingData:
        """The rows of ``user_ids`` only (e.g. to hold some users out while choosing the ranker's settings)."""
        keep = self.pairs["user_id"].isin(user_ids).to_numpy()
        pairs = self.pairs[keep].reset_index(drop=True)
        return RankingData(pairs, self.X[keep].reset_index(drop=True),
                           pairs.groupby("user_id", sort=False).size().to_numpy(),
                           self.relevant[self.relevant.index.isin(user_ids)], self.fingerprint + ("subset",))


def _fingerprint(ratings: pd.DataFrame, generators: Mapping, n_candidates: int, period: float) -> tuple:
    ids = np.ascontiguousarray(ratings[["user_id", "item_id"]].to_numpy(dtype=np.int64))
    return (len(ratings), zlib.crc32(ids.tobytes()), tuple((k, repr(v)) for k, v in generators.items()),
            n_candidates, period)


def _check_generators(generators) -> dict:
    if not isinstance(generators, Mapping) or not generators:
        raise ValueError("generators must be a non-empty mapping name -> recommender, "
                         f"e.g. {{'iALS': ImplicitALS(), 'popularity': Popularity()}}; got {generators!r}")
    for name, model in generators.items():
        if not isinstance(model, Recommender):
            raise TypeError(f"generator {name!r} must be a recommender of the package (fit/score), "
                             f"got {type(model).__name__}")
    return dict(generators)


def _fit_all(generators: Mapping, ratings, movies, users) -> dict:
    return {name: clone(model).fit(ratings, movies, users) for name, model in generators.items()}


def ranking_data(generators: Mapping, ratings: pd.DataFrame, movies: pd.DataFrame | None = None,
                 users: pd.DataFrame | None = None, *, n_candidates: int = 100,
                 ranking_period: float = 0.2) -> RankingData:
    """Build a ranker's training data from ``ratings`` alone (see :class:`TwoStage`).

    Each user's latest ``ranking_period`` share of ``ratings`` becomes the
    period (:func:`~recsys_course.split.per_user_temporal_split`); copies of
    the (unfitted) ``generators`` are fitted on the rest; every user with
    ratings in the period gets their candidates, features and labels.
    """
    generators = _check_generators(generators)
    n_candidates = check_n(n_candidates)
    check_fraction("ranking_period", ranking_period)
    early, period, _ = per_user_temporal_split(ratings, test_size=ranking_period, cold_start="keep")
    fitted = _fit_all(generators, early, movies, users)
    some = next(iter(fitted.values()))
    ctx = _context(early, movies, users, some.user_ids_, some.item_ids_)
    user_ids = pd.Index(np.sort(period["user_id"].unique()))
    pairs, X = _features_for(fitted, ctx, user_ids, ctx.item_ids, n_candidates)
    labels = pd.MultiIndex.from_frame(period[["user_id", "item_id"]])
    pairs["label"] = pd.MultiIndex.from_frame(pairs[["user_id", "item_id"]]).isin(labels).astype(int)
    return RankingData(pairs, X, pairs.groupby("user_id", sort=False).size().to_numpy(),
                       period.groupby("user_id").size(), _fingerprint(ratings, generators, n_candidates,
                                                                      ranking_period))


def _seen(ctx: _Context, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
    """users x items, True where the user rated the item in the context's ratings (row -1: nobody known)."""
    seen = np.zeros((len(user_rows), len(item_rows)), dtype=bool)
    u, i = user_rows >= 0, item_rows >= 0
    if u.any() and i.any():
        seen[np.ix_(u, i)] = ctx.seen[user_rows[u]].toarray()[:, item_rows[i]]
    return seen


def _features_for(fitted: Mapping, ctx: _Context, user_ids: pd.Index, item_ids: pd.Index,
                  n_candidates: int, timings: dict | None = None):
    """Candidates of ``user_ids`` among ``item_ids`` (their rated items excluded) and their features."""
    start = time.perf_counter()
    user_rows, item_rows = positions(ctx.user_ids, user_ids), positions(ctx.item_ids, item_ids)
    scored = _generator_scores(fitted, user_ids, item_ids, _seen(ctx, user_rows, item_rows))
    rows, cols = np.nonzero(_candidates(scored, n_candidates))
    middle = time.perf_counter()
    X = _pair_features(list(fitted), scored, ctx, rows, cols, user_rows, item_rows)
    if timings is not None:
        timings["candidates"] += middle - start
        timings["features"] += time.perf_counter() - middle
    pairs = pd.DataFrame({"user_id": user_ids.to_numpy()[rows], "item_id": item_ids.to_numpy()[cols]})
    return pairs, pd.DataFrame(X, columns=feature_names(list(fitted)))


def reciprocal_rank_fusion(X: pd.DataFrame, generators: Sequence[str], k: int = RRF_K) -> np.ndarray:
    r"""Score candidates by their ranks alone: :math:`\sum_g 1 / (k + \mathrm{rank}_g)` (Cormack et al. 2009)."""
    return sum(1.0 / (k + X[f"{name} rank"].to_numpy()) for name in generators)


def candidate_recall(lists: pd.DataFrame, test: pd.DataFrame) -> pd.Series:
    """Per user: the share of their ``test`` items that appear in their ``lists`` (``user_id``, ``item_id``).

    Users of ``test`` with no list count as 0. This is recall at the list's
    length: the ceiling any ranker of these candidates can reach.
    """
    hit = pd.MultiIndex.from_frame(test[["user_id", "item_id"]]).isin(
        pd.MultiIndex.from_frame(lists[["user_id", "item_id"]]))
    return pd.Series(hit, index=test.index).groupby(test["user_id"]).mean().rename("candidate recall")


class TwoStage(Recommender):
    """Candidate generators, a learned ranker and re-rank steps as one recommender.

    Parameters
    ----------
    generators : mapping name -> recommender
        Unfitted models of the package (copies are fitted). Each proposes
        its ``n_candidates`` best unseen items; their union is ranked.
    ranking_model : estimator or None
        A learning-to-rank model with ``fit(X, y, group=...)`` and
        ``predict(X)``, e.g. ``lightgbm.LGBMRanker(objective="lambdarank")``
        (a copy is fitted on :func:`ranking_data`). ``None``: no learned
        ranker; the candidates are ordered by reciprocal rank fusion of the
        generators' ranks (retrieval only).
    rerank : sequence of steps
        Applied in order to each user's ranked list (a pool of
        ``rerank_pool`` items), e.g. :class:`recsys_course.rerank.GenreCap`
        and :class:`recsys_course.rerank.Diversify`. Each is called as
        ``step(items, scores, n)`` and returns the reordered ``(items, scores)``.
    n_candidates : int
        Candidates per generator.
    ranking_period : float
        The share of each user's latest training ratings the ranker learns from.
    rerank_pool : int
        How many ranked candidates the re-rank steps choose from.

    A pipeline never proposes a movie the user has already rated: its
    candidates exclude them, as a production system's do, so ``score`` is
    ``-inf`` there (and for every non-candidate) and ``exclude_seen=False``
    changes nothing.

    Attributes
    ----------
    generators_ : dict of fitted generators (fitted on all the training ratings)
    ranking_model_ : the fitted ranker (``None`` without one)
    stage_seconds_ : seconds spent in each stage by the last ``recommend_batch`` call
    """

    _needs_rating = False

    def __init__(self, generators: Mapping, ranking_model=None, rerank: Sequence = (), n_candidates: int = 100,
                 ranking_period: float = 0.2, rerank_pool: int = 50):
        self.generators = generators
        self.ranking_model = ranking_model
        self.rerank = rerank
        self.n_candidates = n_candidates
        self.ranking_period = ranking_period
        self.rerank_pool = rerank_pool

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None, users: pd.DataFrame | None = None,
            *, training: RankingData | None = None, rating_scale=None):
        """Fit the ranker on a ranking period of ``ratings``, then the generators on all of ``ratings``.

        ``training``: the ranker's data if already built by :func:`ranking_data`
        from the same ratings, generators and settings (a notebook that chose
        the ranker's settings on it need not build it twice); refused if it
        was built from anything else.
        """
        self._training = training
        try:
            return super().fit(ratings, movies, users, rating_scale=rating_scale)
        finally:
            del self._training

    def _fit(self, data: TrainingData) -> None:
        generators = _check_generators(self.generators)
        n_candidates = check_n(self.n_candidates)
        check_int("rerank_pool", self.rerank_pool, 1)
        _check_steps(self.rerank)
        self.ranking_model_ = None
        if self.ranking_model is not None:
            training = self._training
            expected = _fingerprint(data.ratings, generators, n_candidates, self.ranking_period)
            if training is None:
                training = ranking_data(generators, data.ratings, data.movies, data.users,
                                        n_candidates=n_candidates, ranking_period=self.ranking_period)
            elif training.fingerprint != expected:
                raise ValueError("training was built from other ratings, generators or settings than this fit: "
                                 "build it with ranking_data() from the same arguments, or leave it out")
            learn = _with_positive(training)
            self.ranking_model_ = clone(self.ranking_model).fit(learn.X, learn.pairs["label"].to_numpy(), group=learn.group)
        self.generators_ = _fit_all(generators, data.ratings, data.movies, data.users)
        self._ctx = _context(data.ratings, data.movies, data.users, self.user_ids_, self.item_ids_)
        self.stage_seconds_ = dict.fromkeys(("candidates", "features", "ranker", "rerank"), 0.0)

    def _learned_arrays(self):
        return iter(())  # the generators checked their own parameters when they were fitted

    def _score(self, rows, cols):
        users, items = self.user_ids_[rows], self.item_ids_[cols]
        pairs, X = _features_for(self.generators_, self._ctx, users, items, check_n(self.n_candidates),
                                 self.stage_seconds_)
        start = time.perf_counter()
        if self.ranking_model_ is None:
            values = reciprocal_rank_fusion(X, list(self.generators_))
        else:
            booster = getattr(self.ranking_model_, "booster_", None)
            # LightGBM's scikit-learn wrapper re-validates its parameters on every call (about a
            # millisecond, most of a served request's ranker time); its booster gives the same scores.
            if booster is None:
                values = np.asarray(self.ranking_model_.predict(X), dtype=float)
            else:
                values = np.asarray(booster.predict(X.to_numpy()), dtype=float)
        self.stage_seconds_["ranker"] += time.perf_counter() - start
        S = np.full((len(rows), len(cols)), -np.inf)
        S[positions(users, pairs["user_id"]), positions(items, pairs["item_id"])] = values
        return S

    def variant(self, *, rerank: Sequence | None = None, ranking_model: bool = True) -> TwoStage:
        """This fitted pipeline with other re-rank steps, or without its ranker: an ablation without refitting.

        The copy shares the fitted generators (and ranker); ``rerank=None``
        keeps this pipeline's steps; ``ranking_model=False`` orders the candidates by
        reciprocal rank fusion, as a pipeline without a ranker does.
        """
        self._check_fitted()
        twin = copy.copy(self)
        twin.rerank = self.rerank if rerank is None else _check_steps(rerank)
        if not ranking_model:
            twin.ranking_model, twin.ranking_model_ = None, None
        twin.stage_seconds_ = dict.fromkeys(self.stage_seconds_, 0.0)
        return twin

    def recommend_batch(self, user_ids=None, n: int = 10, exclude_seen: bool = True, candidates=None,
                        batch_size: int | None = None) -> pd.DataFrame:
        """Top-``n`` lists (see the protocol), ranked by the ranker, then passed through the re-rank steps."""
        self._check_fitted()
        n = check_n(n)
        self.stage_seconds_ = dict.fromkeys(("candidates", "features", "ranker", "rerank"), 0.0)
        if not self.rerank:
            return super().recommend_batch(user_ids, n, exclude_seen, candidates, batch_size)
        pool = super().recommend_batch(user_ids, max(n, self.rerank_pool), exclude_seen, candidates, batch_size)
        start = time.perf_counter()
        lists = []
        for user, group in pool.groupby("user_id", sort=False):
            items, scores = group["item_id"].to_numpy(), group["score"].to_numpy(dtype=float)
            for step in self.rerank:
                items, scores = step(items, scores, n)
            k = min(n, len(items))
            lists.append(pd.DataFrame({"user_id": user, "rank": np.arange(1, k + 1), "item_id": items[:k],
                                       "score": np.asarray(scores[:k], dtype=float),
                                       "source": group["source"].iloc[0]}))
        self.stage_seconds_["rerank"] += time.perf_counter() - start
        return pd.concat(lists, ignore_index=True) if lists else pool.iloc[:0]


def _check_steps(steps: Sequence) -> Sequence:
    for step in steps:
        if not callable(step):
            raise TypeError(f"each rerank step must be callable as step(items, scores, n), got {step!r}")
    return steps


def _with_positive(training: RankingData) -> RankingData:
    """Only the users with at least one positive candidate: a list with none teaches a ranker nothing."""
    useful = training.pairs.groupby("user_id", sort=False)["label"].transform("max").to_numpy() > 0
    if not useful.any():
        raise ValueError("no user of the ranking period has a candidate they went on to rate: the ranker has "
                         "nothing to learn from; raise n_candidates or ranking_period")
    return training.subset(training.pairs.loc[useful, "user_id"].unique())

