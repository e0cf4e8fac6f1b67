"""Evaluating fitted recommenders: one model (:func:`evaluate`), or several under one protocol (:func:`leaderboard`).

(:func:`sampled_evaluate` is the other protocol, the one many papers used: the
test item ranked among 100 sampled items instead of the whole catalogue.)

The protocol, the same for every model: for each test user, the model's
ranked list with the user's **training items removed**, cut at ``k``; a test
rating at or above ``relevance_threshold`` (default 4) makes an item
relevant; the metrics of :mod:`recsys_course.metrics` per user, averaged over
users; :mod:`recsys_course.stats` for the intervals and the paired test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from .checks import check_choice, check_int, check_number, check_ratings
from .ids import show_id
from .metrics import (RANKING_METRICS, auc, catalog_coverage, intra_list_diversity, mae, novelty, personalization,
                      popularity_bias, ranking_metrics, rmse)
from .ranking import check_k, check_list
from .stats import bootstrap_ci, paired_test

__all__ = ["DEFAULT_METRICS", "Leaderboard", "evaluate", "leaderboard", "sample_negatives", "sampled_evaluate"]

DEFAULT_METRICS = (*RANKING_METRICS, "coverage", "novelty", "personalization", "popularity_bias")


def _as_item_list(result) -> list:
    if isinstance(result, pd.DataFrame):
        return result["item_id"].tolist()
    if result is None:
        raise TypeError("the recommender returned None instead of a list of item ids")
    return list(result)


def _recommend_fn(recommender):
    if hasattr(recommender, "recommend"):
        return lambda user, n: recommender.recommend(user, n=n)
    if callable(recommender):
        return recommender
    raise TypeError("recommender needs .recommend(user_id, n=...) (or .recommend_batch), "
                    "or must be a function (user_id, n)")


def _lists(recommender, users: np.ndarray, seen: pd.Series, n_for) -> dict:
    """Each user's ranked list with their training items removed (at least ``n_for(user)`` items when possible).

    A recommender of the package's protocol is asked once for all users
    (``recommend_batch``, which already leaves out what it was trained on); a
    user is asked again alone only where the evaluation's training frame
    removed items the model did not (a model trained on other data) and the
    model may have more to give. Others are asked user by user for
    ``n_for(user)`` + the user's training items.
    """
    ask = _recommend_fn(recommender) if hasattr(recommender, "recommend") or callable(recommender) else None
    batch, n = None, max((n_for(user) for user in users), default=1)
    if hasattr(recommender, "recommend_batch"):
        frame = recommender.recommend_batch(users, n=n, exclude_seen=True)
        batch = {user: items.tolist() for user, items in frame.groupby("user_id", sort=False)["item_id"]}
    elif ask is None:
        _recommend_fn(recommender)  # raises the TypeError that says what is needed
    lists = {}
    for user in users:
        user_seen = seen.get(user, set())
        if batch is not None:
            given = batch.get(user, [])
            ranked = [item for item in given if item not in user_seen]
            if len(ranked) == len(given) or len(given) < n or ask is None:
                lists[user] = ranked
                continue
        lists[user] = [item for item in _as_item_list(ask(user, n_for(user) + len(user_seen)))
                       if item not in user_seen]
    return lists


def _checked_frames(train, test, relevance_threshold) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``train`` and ``test`` if :func:`evaluate` can use them, else an error that says what to change."""
    train = check_ratings(train, rating=False, name="train", allow_empty=True)
    if isinstance(test, pd.DataFrame) and relevance_threshold is not None and "rating" not in test.columns:
        raise ValueError(f"test has no 'rating' column, but relevance_threshold={relevance_threshold!r} picks the "
                         "relevant items by rating: pass relevance_threshold=None to count every test "
                         "interaction as relevant (implicit feedback)")
    if relevance_threshold is not None:
        check_number("relevance_threshold", relevance_threshold)
    test = check_ratings(test, rating=relevance_threshold is not None, name="test", allow_empty=True)
    if test.empty:
        raise ValueError("test is empty: there is nothing to evaluate")
    return train, test


def evaluate(
    recommender,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    relevance_threshold: float | None = 4,
    item_features: pd.DataFrame | None = None,
    name: str | None = None,
    return_per_user: bool = False,
):
    """Evaluate a fitted recommender on a test set: one tidy row of metrics.

    For every user in ``test``, the recommender is asked for ``k`` + (number
    of the user's training items) items; the user's **training items are
    removed** and the first ``k`` that remain are scored, so no model gets
    credit (or blame) for recommending what the user already rated. The
    ``protocol`` column says so.

    Parameters
    ----------
    recommender : a model of the package, anything with ``recommend(user_id, n=...)``, or a function ``(user_id, n)``
        Returns item ids best first (a list, or a frame with ``item_id``).
        A recommender with ``recommend_batch`` is asked for every user at
        once. If it also has ``predict(user_ids, item_ids)``, ``rmse`` and
        ``mae`` on the test ratings are added.
    relevance_threshold : float or None
        Test ratings >= this are relevant; ``None`` makes every test
        interaction relevant (implicit feedback).
    metrics : names
        Any of ``precision recall ndcg map hit_rate mrr`` (at ``k``),
        ``coverage novelty personalization popularity_bias``, ``diversity``
        (needs ``item_features``) and ``auc`` (asks each user's full ranking).
    return_per_user : bool
        Also return the per-user ranking metrics (for :func:`bootstrap_ci` and
        :func:`paired_test`).
    """
    k = check_k(k)
    metrics = list(metrics)
    known = set(DEFAULT_METRICS) | {"diversity", "auc"}
    unknown = set(metrics) - known
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; choose from {sorted(known)}")
    if "diversity" in metrics and item_features is None:
        raise ValueError("the 'diversity' metric needs item_features (one row per item)")
    train, test = _checked_frames(train, test, relevance_threshold)
    seen = train.groupby("user_id")["item_id"].agg(set)
    relevant_rows = test if relevance_threshold is None else test[test["rating"] >= relevance_threshold]
    relevant = relevant_rows.groupby("user_id")["item_id"].agg(set).to_dict()
    catalog = pd.Index(np.union1d(train["item_id"].unique(), test["item_id"].unique()))

    users = np.sort(test["user_id"].unique())
    full_rankings = _lists(recommender, users, seen, lambda user: len(catalog) if "auc" in metrics else k)
    recommendations = {user: check_list(full_rankings[user][:k]) for user in users}

    rank_names = [m for m in metrics if m in RANKING_METRICS]
    per_user = ranking_metrics(recommendations, relevant, k, rank_names or ["precision"])
    if "auc" in metrics:
        per_user["auc"] = [
            _auc_from_ranking(full_rankings[u], catalog.difference(list(seen.get(u, set()))), relevant.get(u, set()))
            for u in users
        ]
    row = {"model": name or getattr(recommender, "__name__", type(recommender).__name__), "k": k}
    row["users"] = int(per_user.iloc[:, 0].notna().sum())
    row["users_without_relevant"] = int(per_user.iloc[:, 0].isna().sum())
    for m in rank_names:
        row[f"{m}@{k}"] = float(per_user[f"{m}@{k}"].mean())
    if "auc" in metrics:
        row["auc"] = float(per_user["auc"].mean())
    counts = train.groupby("item_id")["user_id"].nunique().reindex(catalog, fill_value=0)
    if "coverage" in metrics:
        row["coverage"] = catalog_coverage(recommendations, catalog)
    if "novelty" in metrics:
        row["novelty"] = novelty(recommendations, counts, train["user_id"].nunique())
    if "diversity" in metrics:
        row["diversity"] = intra_list_diversity(recommendations, item_features)
    if "personalization" in metrics:
        row["personalization"] = personalization(recommendations)
    if "popularity_bias" in metrics:
        row["popularity_bias"] = popularity_bias(recommendations, counts)
    if hasattr(recommender, "predict") and "rating" in test.columns:
        predicted = np.asarray(recommender.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy()))
        row["rmse"], row["mae"] = rmse(test["rating"], predicted), mae(test["rating"], predicted)
    relevance = "every test interaction" if relevance_threshold is None else f"test rating >= {relevance_threshold}"
    row["protocol"] = f"train items excluded from rankings; relevant = {relevance}"
    result = pd.DataFrame([row])
    if return_per_user:
        keep = [c for c in per_user.columns if c.split("@")[0] in rank_names or c == "auc"]
        return result, per_user[keep]
    return result


def _auc_from_ranking(ranked: list, candidates: pd.Index, relevant: set) -> float:
    """AUC of a ranking over ``candidates``; candidates it leaves out share the bottom rank."""
    score = pd.Series(0.0, index=candidates)
    listed = [i for i in ranked if i in score.index]
    score[listed] = np.arange(len(listed), 0, -1, dtype=float)
    return auc(score, relevant)


# ---------------------------------------------------------------- leaderboard

LEADERBOARD_METRICS = ("precision", "recall", "ndcg", "map", "coverage", "novelty", "diversity", "personalization")


class Leaderboard(NamedTuple):
    """What :func:`leaderboard` returns.

    ``table``: one row per model (index: name), best first; each ranking
    metric ``m@k`` comes with ``m@k low`` and ``m@k high``, the bounds of its
    bootstrap confidence interval. ``per_user``: the per-user ranking metrics,
    columns ``(model, metric)``. ``comparison``: the paired test of the two
    best models on the sorting metric (``None`` with a single model).
    """

    table: pd.DataFrame
    per_user: pd.DataFrame
    comparison: dict | None

    def summary(self, digits: int = 3) -> pd.DataFrame:
        """The table for reading: ranking metrics as ``mean [low, high]``, the rest rounded."""
        out = {}
        for column in self.table.columns:
            if column.endswith((" low", " high")):
                continue
            if f"{column} low" in self.table.columns:
                t = self.table
                out[column] = [f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
                               for m, lo, hi in zip(t[column], t[f"{column} low"], t[f"{column} high"])]
            else:
                out[column] = self.table[column].round(digits)
        return pd.DataFrame(out, index=self.table.index)


def leaderboard(
    models: Mapping,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    metrics: Iterable[str] | None = None,
    *,
    relevance_threshold: float | None = 4,
    item_features: pd.DataFrame | None = None,
    sort_by: str = "ndcg",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    test_method: str = "t",
    random_state: int = 0,
) -> Leaderboard:
    """Rank several fitted recommenders under one protocol, with confidence intervals.

    Every model is scored by :func:`evaluate` on the same ``train``/``test``,
    the same ``k`` and the same relevance rule; each ranking metric gets a
    percentile-bootstrap interval over users (:func:`bootstrap_ci`, the same
    ``random_state`` for every model), and the two best models on ``sort_by``
    are compared user by user with :func:`paired_test`.

    Parameters
    ----------
    models : mapping name -> recommender
        Anything :func:`evaluate` accepts. Models with ``predict`` also get
        ``rmse`` and ``mae`` (NaN for the others).
    metrics : names, optional
        Default: precision, recall, NDCG and MAP at ``k``, coverage, novelty,
        personalization, and diversity when ``item_features`` is given.
    sort_by : str
        A ranking metric in ``metrics`` (without ``@k``).

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> from recsys_course.split import leave_last_out
    >>> train, test, _ = leave_last_out(load_toy().ratings)   # each user's last rating
    >>> board = leaderboard({"by id": lambda user, n: [1, 2, 3, 4, 5, 6, 7, 8][:n],
    ...                      "reversed": lambda user, n: [8, 7, 6, 5, 4, 3, 2, 1][:n]},
    ...                     train, test, k=3, metrics=["precision", "ndcg"], n_resamples=100)
    >>> board.summary()  # doctest: +NORMALIZE_WHITESPACE
              users           precision@3                ndcg@3
    model
    reversed      4  0.333 [0.333, 0.333]  0.783 [0.565, 1.000]
    by id         4  0.083 [0.000, 0.250]  0.158 [0.000, 0.473]
    """
    if not models:
        raise ValueError("models is empty: pass a mapping name -> fitted recommender")
    if metrics is None:
        metrics = [m for m in LEADERBOARD_METRICS if m != "diversity" or item_features is not None]
    metrics = list(metrics)
    if sort_by not in RANKING_METRICS:
        raise ValueError(f"sort_by must be one of the ranking metrics {RANKING_METRICS}, got {sort_by!r}")
    if sort_by not in metrics:
        raise ValueError(f"sort_by={sort_by!r} is not among the metrics computed: {metrics}")
    rows, per_user = [], {}
    for name, model in models.items():
        row, users = evaluate(model, train, test, k, metrics, relevance_threshold=relevance_threshold,
                              item_features=item_features, name=str(name), return_per_user=True)
        row = row.iloc[0].to_dict()
        for column in users.columns:
            ci = bootstrap_ci(users[column], n_resamples=n_resamples, confidence=confidence,
                              random_state=random_state)
            row[f"{column} low"], row[f"{column} high"] = ci["low"], ci["high"]
        rows.append(row)
        per_user[str(name)] = users
    table = pd.DataFrame(rows).set_index("model")
    key = f"{sort_by}@{k}"
    order = np.lexsort((table.index.to_numpy(dtype=str), -table[key].to_numpy()))
    table = table.iloc[order]
    ranking = [c for c in table.columns if "@" in c and not c.endswith((" low", " high"))]
    columns = ["users"] + [c for m in ranking for c in (m, f"{m} low", f"{m} high")]
    columns += [c for c in ("auc", "coverage", "novelty", "diversity", "personalization", "popularity_bias")
                if c in table.columns]
    columns += [c for c in ("rmse", "mae") if c in table.columns]  # only when some model predicts ratings
    table = table.reindex(columns=columns)
    per_user = pd.concat({name: per_user[name] for name in table.index}, axis=1, names=["model", "metric"])
    comparison = None
    if len(table) > 1:
        best, second = table.index[:2]
        comparison = {"a": best, "b": second, "metric": key,
                      **paired_test(per_user[(best, key)], per_user[(second, key)], method=test_method,
                                    random_state=random_state)}
    return Leaderboard(table, per_user, comparison)


# ---------------------------------------------------------------- the sampled protocol

SAMPLINGS = ("uniform", "popularity")


def _sampled_frames(train, test) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = check_ratings(train, rating=False, name="train", allow_empty=True)
    test = check_ratings(test, rating=False, name="test", allow_empty=True)
    if test.empty:
        raise ValueError("test is empty: there is nothing to evaluate")
    per_user = test.groupby("user_id").size()
    several = per_user[per_user > 1]
    if len(several):
        raise ValueError(f"test holds several items of {len(several)} user(s), e.g. {int(several.iloc[0])} of user "
                         f"{show_id(several.index[0])}: the sampled protocol ranks one test item per user; split "
                         "with leave_last_out(ratings, 1), or use evaluate() for several")
    return train, test


def sample_negatives(train: pd.DataFrame, test: pd.DataFrame, n_negatives: int = 100, sampling: str = "uniform",
                     random_state: int | None = 0) -> pd.DataFrame:
    r"""For each test user, ``n_negatives`` distinct items they never interacted with, in train or in test.

    The items to draw from are those of ``train`` or ``test``, less the
    user's own. ``sampling="uniform"`` draws them with equal probability;
    ``"popularity"`` in proportion to their number of training interactions
    :math:`n_j` (an item seen only in test has none, and is never drawn).
    Draws are without replacement, user by user in sorted id order, from
    ``numpy.random.default_rng(random_state)``: the same arguments give the
    same negatives.

    Returns a frame with one row per test user (index ``user_id``, sorted)
    and columns ``0 .. n_negatives - 1`` holding item ids. Refuses a user
    with fewer than ``n_negatives`` items left to draw.

    >>> from recsys_course.data import load_toy
    >>> from recsys_course.split import leave_last_out
    >>> train, test, _ = leave_last_out(load_toy().ratings)
    >>> negatives = sample_negatives(train, test, n_negatives=3)
    >>> negatives.loc[1].tolist()   # Alice (user 1) rated 1, 2, 4 and 7: hers come from 3, 5, 6, 8
    [6, 8, 5]
    """
    n_negatives = check_int("n_negatives", n_negatives, 1)
    check_choice("sampling", sampling, SAMPLINGS)
    train, test = _sampled_frames(train, test)
    catalogue = pd.Index(np.union1d(train["item_id"].unique(), test["item_id"].unique()))
    counts = train.groupby("item_id").size().reindex(catalogue, fill_value=0).to_numpy(dtype=np.float64)
    both = pd.concat([train[["user_id", "item_id"]], test[["user_id", "item_id"]]])
    own = both.groupby("user_id")["item_id"].agg(lambda items: catalogue.get_indexer(items))
    rng = np.random.default_rng(random_state)
    users = np.sort(test["user_id"].unique())
    ids, drawn = catalogue.to_numpy(), []
    for user in users:
        allowed = np.ones(len(catalogue), dtype=bool)
        allowed[own[user]] = False
        if sampling == "popularity":
            allowed &= counts > 0
        pool = np.flatnonzero(allowed)
        if len(pool) < n_negatives:
            which = "with a training interaction " if sampling == "popularity" else ""
            raise ValueError(f"user {show_id(user)} has only {len(pool)} items {which}they never interacted with, "
                             f"fewer than n_negatives={n_negatives}: lower n_negatives")
        p = counts[pool] / counts[pool].sum() if sampling == "popularity" else None
        drawn.append(ids[rng.choice(pool, n_negatives, replace=False, p=p)])
    return pd.DataFrame(np.vstack(drawn), index=pd.Index(users, name="user_id"))


def sampled_evaluate(recommender, train: pd.DataFrame, test: pd.DataFrame, n_negatives: int = 100, k: int = 10,
                     sampling: str = "uniform", random_state: int | None = 0) -> pd.DataFrame:
    r"""The sampled protocol: each test user's test item ranked among ``n_negatives`` sampled items.

    Many papers rank the held-out item not against the whole catalogue but
    against 100 items the user never interacted with: the SASRec paper
    (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018,
    Sec. IV-B: "for each user u, we randomly sample 100 negative items, and
    rank these items with the ground-truth item"), after NCF (He et al.,
    WWW 2017); RecBole calls it ``eval_args: {mode: uni100}`` (``pop100``
    for draws by popularity). This function draws the negatives with
    :func:`sample_negatives` (same arguments, same draws), scores the test
    item and its negatives with ``recommender.score(user_ids, item_ids)``,
    and for each user computes, with :math:`s^+` the test item's score and
    :math:`s^-_1 \dots s^-_N` the negatives',

    .. math::

        \mathrm{rank} = 1 + \bigl|\{\, l : s^-_l \ge s^+ \,\}\bigr|, \qquad
        \mathrm{HR@}k = [\mathrm{rank} \le k], \qquad
        \mathrm{NDCG@}k = \frac{[\mathrm{rank} \le k]}{\log_2(\mathrm{rank} + 1)}

    Ties count against the test item (pessimistic): a model that gives every
    item the same score gets rank :math:`N + 1`, not 1. A ``NaN`` score (a
    user or item the model does not know) counts as :math:`-\infty`, the
    worst, and there is no popularity fallback here.

    Differences from the originals, kept on purpose: negatives are distinct
    (SASRec's code and RecBole's sampler draw with replacement, so one item
    may be drawn twice); they exclude every item of the user in train *and*
    test (SASRec's code excludes only the training items, so the validation
    item can be a test negative; RecBole excludes the items of all phases so
    far); ``"popularity"`` weighs items by their *training* interactions
    (RecBole counts every phase's); and ties are pessimistic (SASRec's
    ``argsort`` breaks them by position, arbitrarily).

    Sampled metrics are optimistic, and can even order models differently
    from the full ranking (Krichene & Rendle, "On Sampled Metrics for Item
    Recommendation", KDD 2020): report them only beside
    :func:`evaluate`'s, to compare with papers.

    Parameters
    ----------
    recommender : a fitted model with ``score(user_ids, item_ids)`` (a users x items frame)
    train, test : DataFrames with ``user_id`` and ``item_id``
        ``test`` holds one item per user (e.g. :func:`~recsys_course.split.leave_last_out` with ``n=1``).
    n_negatives : int, default 100
    k : int, default 10
    sampling : {"uniform", "popularity"}
    random_state : int or None, default 0

    Returns
    -------
    DataFrame
        One row per test user (sorted by ``user_id``): ``user_id``, ``rank``,
        ``hit_rate`` and ``ndcg`` (floats; their means are HR@k and NDCG@k).

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> from recsys_course.models.baselines import Popularity
    >>> from recsys_course.split import leave_last_out
    >>> train, test, _ = leave_last_out(load_toy().ratings)
    >>> sampled_evaluate(Popularity().fit(train), train, test, n_negatives=3, k=2)
       user_id  rank  hit_rate  ndcg
    0        1     3       0.0   0.0
    1        2     4       0.0   0.0
    2        3     3       0.0   0.0
    3        4     4       0.0   0.0
    4        5     4       0.0   0.0

    Alice's test movie, 7, has one training rating; her negatives are 6, 8
    and 5 (see :func:`sample_negatives`): 5 has two and beats it, 6 has one
    and ties with it, which counts against it, and 8 has no training rating
    (the model cannot score it: ``NaN``, the worst), so 7 ranks 3rd.
    """
    if not hasattr(recommender, "score"):
        raise TypeError(f"the sampled protocol needs recommender.score(user_ids, item_ids), which "
                        f"{type(recommender).__name__} does not have: pass a fitted model of the package")
    k = check_k(k)
    negatives = sample_negatives(train, test, n_negatives, sampling, random_state)
    positives = test.set_index("user_id")["item_id"].reindex(negatives.index)
    candidates = np.column_stack([positives.to_numpy(), negatives.to_numpy()])  # column 0: the test item
    users = negatives.index
    scores = np.empty(candidates.shape)
    block = max(1, 2**20 // max(1, len(np.unique(candidates))))  # about a million scores at a time
    for start in range(0, len(users), block):
        rows = slice(start, start + block)
        items = pd.Index(np.unique(candidates[rows]))
        frame = recommender.score(users[rows].tolist(), items)
        S = frame.to_numpy(dtype=np.float64)
        scores[rows] = np.take_along_axis(S, items.get_indexer(candidates[rows].ravel()).reshape(
            candidates[rows].shape), axis=1)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    rank = 1 + (scores[:, 1:] >= scores[:, [0]]).sum(axis=1)
    hit = rank <= k
    return pd.DataFrame({"user_id": users.to_numpy(), "rank": rank, "hit_rate": hit.astype(np.float64),
                         "ndcg": np.where(hit, 1.0 / np.log2(rank + 1), 0.0)})
