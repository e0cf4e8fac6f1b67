"""Metrics for rating prediction, top-K ranking and beyond-accuracy quality.

Conventions (each is tested in ``tests/test_metrics.py``; where it differs from
``trec_eval``, the test checks the documented relation):

* A *recommendation list* is a sequence of item ids, best first. Duplicates are
  an error: a list that shows the same movie twice is a bug upstream.
* *Relevant* items are a set of ids (binary relevance) or a mapping
  ``item -> grade`` (graded relevance; grades <= 0 count as not relevant).
* A user with no relevant items has no defined ranking metric: the per-user
  functions return ``NaN`` and averages skip those users (``evaluate`` counts
  them in ``users_without_relevant``).
* A list shorter than ``k`` is scored as if padded with non-relevant items:
  precision@k still divides by ``k`` (as trec_eval's ``P_k``).
* ``k`` must be an integer >= 1.

Rating metrics (:func:`rmse`, :func:`mae`) and beyond-accuracy metrics
(:func:`catalog_coverage`, :func:`novelty`, :func:`intra_list_diversity`,
:func:`personalization`, :func:`popularity_bias`) are plain functions too.
:func:`evaluate` puts them together into one tidy row per model,
:func:`bootstrap_ci` and :func:`paired_test` say how sure we can be, and
:func:`leaderboard` does all of it for several models under one protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse, stats

__all__ = [
    "auc", "average_precision_at_k", "bootstrap_ci", "catalog_coverage", "evaluate", "hit_rate_at_k",
    "intra_list_diversity", "Leaderboard", "leaderboard", "mae", "map_at_k", "mrr", "ndcg_at_k", "novelty", "paired_test",
    "personalization", "popularity_bias", "precision_at_k", "rank_by_score", "ranking_metrics", "recall_at_k",
    "reciprocal_rank", "rmse",
]

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")

# ------------------------------------------------------------------ rating accuracy


def _paired_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("y_true is empty: there is nothing to score")
    if np.isnan(y_pred).any():
        raise ValueError(f"y_pred has {int(np.isnan(y_pred).sum())} NaN predictions; fill them with a fallback first")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    r"""Root mean squared error, :math:`\sqrt{\frac{1}{|T|}\sum (r_{ui} - \hat r_{ui})^2}`.

    >>> rmse([4, 3, 5], [3.5, 3, 4])
    0.6454972243679028
    """
    y_true, y_pred = _paired_arrays(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    r"""Mean absolute error, :math:`\frac{1}{|T|}\sum |r_{ui} - \hat r_{ui}|`.

    >>> mae([4, 3, 5], [3.5, 3, 4])
    0.5
    """
    y_true, y_pred = _paired_arrays(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


# ------------------------------------------------------------------ ranking: checks


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


def _check_list(recommended) -> list:
    items = list(recommended)
    if len(set(items)) != len(items):
        seen, dups = set(), []
        for item in items:
            if item in seen and item not in dups:
                dups.append(item)
            seen.add(item)
        raise ValueError(f"recommended list has duplicate items {dups[:5]}; each item may appear once")
    return items


def _gains(relevant) -> dict:
    """Relevance as ``item -> gain > 0``: a set means gain 1 for each of its items."""
    if isinstance(relevant, Mapping):
        return {item: float(g) for item, g in relevant.items() if g > 0}
    return {item: 1.0 for item in relevant}


# ------------------------------------------------------------- ranking: the maths


def _gain_matrix(lists: Sequence[list], gains: Sequence[dict], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gains of the top-k positions (0 where not relevant or past the list's end).

    Returns ``G`` (users x k), the number of relevant items per user, and the
    ideal gains (users x k: each user's largest gains, sorted descending).
    """
    n = len(lists)
    G = np.zeros((n, k))
    ideal = np.zeros((n, k))
    n_rel = np.zeros(n)
    for row, (items, g) in enumerate(zip(lists, gains)):
        top = items[:k]
        G[row, : len(top)] = [g.get(item, 0.0) for item in top]
        best = sorted(g.values(), reverse=True)[:k]
        ideal[row, : len(best)] = best
        n_rel[row] = len(g)
    return G, n_rel, ideal


def _ranking_from_gains(G: np.ndarray, n_rel: np.ndarray, ideal: np.ndarray, k: int,
                        gain: str = "linear") -> dict[str, np.ndarray]:
    hits = G > 0
    cum_hits = np.cumsum(hits, axis=1)
    ranks = np.arange(1, k + 1)
    discount = 1.0 / np.log2(ranks + 1)
    transform = (lambda g: np.expm1(g * np.log(2))) if gain == "exponential" else (lambda g: g)
    with np.errstate(invalid="ignore", divide="ignore"):
        undefined = n_rel == 0
        first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
        out = {
            "precision": hits.sum(axis=1) / k,
            "recall": hits.sum(axis=1) / n_rel,
            "ndcg": (transform(G) @ discount) / (transform(ideal) @ discount),
            "map": (hits * cum_hits / ranks).sum(axis=1) / np.minimum(n_rel, k),
            "hit_rate": hits.any(axis=1).astype(float),
            "mrr": 1.0 / first,
        }
    for values in out.values():
        values[undefined] = np.nan
    return out


def _one_user(metric: str, recommended, relevant, k, gain: str = "linear") -> float:
    k = _check_k(k)
    G, n_rel, ideal = _gain_matrix([_check_list(recommended)], [_gains(relevant)], k)
    return float(_ranking_from_gains(G, n_rel, ideal, k, gain)[metric][0])


def precision_at_k(recommended, relevant, k: int) -> float:
    r"""Share of the top ``k`` that is relevant, :math:`|L_k \cap R| / k`.

    Divides by ``k`` even when the list is shorter (trec_eval ``P_k``).
    ``NaN`` when the user has no relevant item.

    >>> precision_at_k(["m1", "m5", "m3", "m7", "m2"], {"m1", "m2", "m6", "m3"}, k=3)
    0.6666666666666666
    """
    return _one_user("precision", recommended, relevant, k)


def recall_at_k(recommended, relevant, k: int) -> float:
    r"""Share of the relevant items found in the top ``k``, :math:`|L_k \cap R| / |R|`.

    The denominator is all of :math:`|R|` (trec_eval ``recall_k``), so a user
    with more than ``k`` relevant items cannot reach 1. Some recommender
    libraries divide by :math:`\min(|R|, k)` instead; multiply by
    :math:`|R| / \min(|R|, k)` to convert.

    >>> recall_at_k(["m1", "m5", "m3", "m7", "m2"], {"m1", "m2", "m6", "m3"}, k=3)
    0.5
    """
    return _one_user("recall", recommended, relevant, k)


def ndcg_at_k(recommended, relevant, k: int, gain: str = "linear") -> float:
    r"""Normalised discounted cumulative gain of the top ``k``.

    .. math:: \mathrm{DCG@k} = \sum_{j=1}^{k} \frac{g(\mathrm{rel}_j)}{\log_2(j+1)},
              \qquad \mathrm{nDCG@k} = \mathrm{DCG@k} / \mathrm{IDCG@k}

    ``relevant`` is a set (every relevant item has gain 1) or a mapping
    ``item -> grade``. ``gain="linear"`` uses :math:`g(r) = r` (trec_eval
    ``ndcg_cut`` and ``sklearn.metrics.ndcg_score``); ``gain="exponential"``
    uses :math:`2^r - 1` (Burges et al. 2005). IDCG is the DCG of the best
    possible top-``k`` list, built from *all* the user's relevant items; with
    fewer than ``k`` relevant items the ideal list is shorter, not padded.

    >>> round(ndcg_at_k(["m1", "m5", "m3", "m7", "m2"], {"m1", "m2", "m6", "m3"}, k=5), 4)
    0.7366
    """
    if gain not in ("linear", "exponential"):
        raise ValueError(f"gain must be 'linear' or 'exponential', got {gain!r}")
    return _one_user("ndcg", recommended, relevant, k, gain)


def average_precision_at_k(recommended, relevant, k: int) -> float:
    r"""Average of precision@j over the ranks j <= k that hold a relevant item.

    .. math:: \mathrm{AP@k} = \frac{1}{\min(|R|, k)} \sum_{j=1}^{k} P@j \cdot \mathrm{rel}_j

    The denominator is :math:`\min(|R|, k)`, so a perfect top-``k`` list scores
    1 even when the user has more than ``k`` relevant items. trec_eval's
    ``map_cut_k`` divides by :math:`|R|`; the two agree whenever
    :math:`|R| \le k`.

    >>> round(average_precision_at_k(["m1", "m5", "m3", "m7", "m2"], {"m1", "m2", "m6", "m3"}, k=5), 4)
    0.5667
    """
    return _one_user("map", recommended, relevant, k)


def hit_rate_at_k(recommended, relevant, k: int) -> float:
    """1.0 if any of the top ``k`` is relevant, else 0.0 (trec_eval ``success_k``)."""
    return _one_user("hit_rate", recommended, relevant, k)


def reciprocal_rank(recommended, relevant, k: int | None = None) -> float:
    """1 / rank of the first relevant item (0 if none in the top ``k``; whole list if ``k`` is None)."""
    items = _check_list(recommended)
    k = _check_k(k) if k is not None else max(len(items), 1)
    return _one_user("mrr", items, relevant, k)


def ranking_metrics(
    recommendations: Mapping, relevant: Mapping, k: int, metrics: Iterable[str] = RANKING_METRICS,
    gain: str = "linear",
) -> pd.DataFrame:
    """Per-user ranking metrics for many users at once, one row per user.

    ``recommendations`` maps user -> list, ``relevant`` maps user -> set (or
    mapping of grades). Users missing from ``relevant`` have no relevant items
    (``NaN`` rows). Take ``.mean()`` of a column for the average over users
    (NaN skipped). Column names are ``"precision@10"`` and so on.
    """
    k = _check_k(k)
    metrics = list(metrics)
    unknown = set(metrics) - set(RANKING_METRICS)
    if unknown:
        raise ValueError(f"unknown ranking metric(s) {sorted(unknown)}; choose from {RANKING_METRICS}")
    users = list(recommendations)
    lists = [_check_list(recommendations[u]) for u in users]
    gains = [_gains(relevant.get(u, ())) for u in users]
    values = _ranking_from_gains(*_gain_matrix(lists, gains, k), k, gain)
    frame = pd.DataFrame({f"{m}@{k}": values[m] for m in metrics}, index=pd.Index(users, name="user_id"))
    return frame


def map_at_k(recommendations: Mapping, relevant: Mapping, k: int) -> float:
    """Mean of :func:`average_precision_at_k` over users with relevant items."""
    return float(ranking_metrics(recommendations, relevant, k, ["map"]).iloc[:, 0].mean())


def mrr(recommendations: Mapping, relevant: Mapping, k: int | None = None) -> float:
    """Mean reciprocal rank over users with relevant items (whole lists if ``k`` is None)."""
    if k is None:
        k = max((len(v) for v in recommendations.values()), default=1) or 1
    return float(ranking_metrics(recommendations, relevant, k, ["mrr"]).iloc[:, 0].mean())


def auc(scores: Mapping | pd.Series, relevant) -> float:
    """Area under the ROC curve for one user: P(relevant item scored above a non-relevant one).

    ``scores`` maps every candidate item to its score (higher is better); ties
    count one half. ``NaN`` when the candidates are all relevant or all not.
    Equals ``sklearn.metrics.roc_auc_score`` on the same scores.
    """
    scores = pd.Series(scores, dtype=float)
    if scores.index.has_duplicates:
        raise ValueError("scores has duplicate items")
    positive = scores.index.isin(list(_gains(relevant)))
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(scores.to_numpy())  # average ranks: ties count one half
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ------------------------------------------------------------ beyond accuracy


def catalog_coverage(recommendations: Mapping, catalog: Iterable) -> float:
    """Share of the catalogue that appears in at least one user's list."""
    catalog = set(catalog)
    if not catalog:
        raise ValueError("catalog is empty")
    shown = set().union(*map(set, recommendations.values())) if recommendations else set()
    return len(shown & catalog) / len(catalog)


def _popularity(item_counts: pd.Series | Mapping) -> pd.Series:
    counts = pd.Series(item_counts, dtype=float)
    if (counts < 0).any():
        raise ValueError("item counts must be >= 0")
    return counts


def novelty(recommendations: Mapping, item_counts: pd.Series | Mapping, n_users: int) -> float:
    r"""Mean self-information of the recommended items, in bits.

    .. math:: \mathrm{novelty} = \frac{1}{\sum_u |L_u|}\sum_u \sum_{i \in L_u} -\log_2 \frac{n_i}{|U|}

    where :math:`n_i` is the number of training users who rated item ``i``
    (``item_counts``) and :math:`|U|` the number of users. An item nobody
    rated (:math:`n_i = 0`, e.g. a cold-start item) is counted as rated once,
    the most novel an observed item can be, instead of infinitely novel.
    """
    counts = _popularity(item_counts)
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    items = [item for items in recommendations.values() for item in items]
    if not items:
        return float("nan")
    n_i = counts.reindex(items).fillna(0).clip(lower=1).to_numpy()
    return float(np.mean(-np.log2(n_i / n_users)))


def popularity_bias(recommendations: Mapping, item_counts: pd.Series | Mapping) -> float:
    """Mean popularity percentile of the recommended items (1.0 = the most popular item).

    The percentile of an item is the share of catalogue items (the index of
    ``item_counts``) with a count at most its own; ties share a percentile.
    Unknown items count as 0 ratings.
    """
    counts = _popularity(item_counts)
    percentile = counts.rank(method="max", pct=True)
    items = [item for items in recommendations.values() for item in items]
    if not items:
        return float("nan")
    zero_pct = (counts <= 0).mean()
    return float(percentile.reindex(items).fillna(zero_pct).mean())


def _binary_user_item(recommendations: Mapping) -> sparse.csr_matrix:
    users = list(recommendations)
    items = pd.Index(sorted({i for lst in recommendations.values() for i in lst}, key=str))
    rows = np.repeat(np.arange(len(users)), [len(recommendations[u]) for u in users])
    cols = items.get_indexer([i for u in users for i in recommendations[u]])
    return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(users), len(items)))


def personalization(recommendations: Mapping) -> float:
    r"""1 minus the mean cosine overlap between every pair of users' lists.

    The overlap of lists :math:`A` and :math:`B` is
    :math:`|A \cap B| / \sqrt{|A|\,|B|}` (the share of shared items when
    both have length k). 0 means everyone gets the same list, 1 that no two
    lists share an item. Needs at least two non-empty lists.
    """
    lists = {u: _check_list(v) for u, v in recommendations.items() if len(v)}
    if len(lists) < 2:
        raise ValueError("personalization needs at least two non-empty recommendation lists")
    X = _binary_user_item(lists)
    norms = np.sqrt(np.asarray(X.sum(axis=1)).ravel())
    overlap = (X @ X.T).toarray() / np.outer(norms, norms)
    n = len(lists)
    mean_pair = (overlap.sum() - np.trace(overlap)) / (n * (n - 1))
    return float(1 - mean_pair)


def intra_list_diversity(recommendations: Mapping, item_features: pd.DataFrame) -> float:
    r"""Mean pairwise cosine distance between the items of each list, averaged over lists.

    .. math:: \mathrm{ILD}(L) = \frac{2}{|L|(|L|-1)} \sum_{i<j \in L} \big(1 - \cos(x_i, x_j)\big)

    ``item_features`` is indexed by item id, one numeric column per feature
    (e.g. the 19 genre columns of the movies). Lists with fewer than two items
    are skipped; an item with an all-zero feature vector is at distance 1 from
    everything.
    """
    features = item_features.astype(float)
    missing = {i for lst in recommendations.values() for i in lst} - set(features.index)
    if missing:
        raise ValueError(f"item_features has no row for item(s) {sorted(missing, key=str)[:5]}")
    norms = np.linalg.norm(features.to_numpy(), axis=1)
    unit = pd.DataFrame(features.to_numpy() / np.where(norms > 0, norms, 1)[:, None], index=features.index)
    values = []
    for items in recommendations.values():
        items = _check_list(items)
        if len(items) < 2:
            continue
        V = unit.loc[items].to_numpy()
        sim = V @ V.T
        n = len(items)
        values.append(1 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))
    return float(np.mean(values)) if values else float("nan")


# ----------------------------------------------------------- uncertainty, tests


def bootstrap_ci(per_user_values, n_resamples: int = 2000, confidence: float = 0.95,
                 random_state: int = 0) -> dict:
    """Percentile-bootstrap confidence interval of the mean of per-user values.

    NaN values (users without a defined metric) are dropped first. Returns
    ``{"mean", "low", "high", "n"}``.
    """
    values = np.asarray(per_user_values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size < 2:
        raise ValueError(f"need at least 2 non-NaN values for a bootstrap, got {values.size}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    rng = np.random.default_rng(random_state)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 500):  # in blocks: bounded memory for large n
        stop = min(start + 500, n_resamples)
        means[start:stop] = values[rng.integers(0, values.size, (stop - start, values.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": int(values.size)}


def paired_test(a: pd.Series, b: pd.Series, method: str = "t", random_state: int = 0,
                n_resamples: int = 10_000) -> dict:
    """Is model A's per-user metric different from model B's on the same users?

    ``a`` and ``b`` are per-user values indexed by user; only users with a
    value for both are compared. ``method``: ``"t"`` (paired t-test),
    ``"wilcoxon"`` (signed-rank test) or ``"permutation"`` (random sign flips
    of the differences; no distributional assumption).
    """
    joined = pd.concat({"a": pd.Series(a, dtype=float), "b": pd.Series(b, dtype=float)}, axis=1).dropna()
    if len(joined) < 2:
        raise ValueError(f"need at least 2 users with values for both models, got {len(joined)}")
    diff = (joined["a"] - joined["b"]).to_numpy()
    if method == "t":
        result = stats.ttest_rel(joined["a"], joined["b"])
        statistic, p_value = result.statistic, result.pvalue
    elif method == "wilcoxon":
        result = stats.wilcoxon(diff)
        statistic, p_value = result.statistic, result.pvalue
    elif method == "permutation":
        rng = np.random.default_rng(random_state)
        observed = abs(diff.mean())
        signs = rng.choice([-1.0, 1.0], size=(n_resamples, diff.size))
        flipped = np.abs((signs * diff).mean(axis=1))
        statistic = diff.mean()
        p_value = (1 + (flipped >= observed - 1e-15).sum()) / (n_resamples + 1)
    else:
        raise ValueError(f"method must be 't', 'wilcoxon' or 'permutation', got {method!r}")
    return {"method": method, "n": len(joined), "mean_a": float(joined["a"].mean()),
            "mean_b": float(joined["b"].mean()), "mean_diff": float(diff.mean()),
            "statistic": float(statistic), "p_value": float(p_value)}


# ------------------------------------------------------------------- evaluate

DEFAULT_METRICS = (*RANKING_METRICS, "coverage", "novelty", "personalization", "popularity_bias")


def _recommend_fn(recommender) -> Callable:
    if hasattr(recommender, "recommend"):
        return lambda user, n: recommender.recommend(user, n=n)
    if callable(recommender):
        return recommender
    raise TypeError("recommender needs a .recommend(user_id, n=...) method or must be a function (user_id, n)")


def _as_item_list(result) -> list:
    if isinstance(result, pd.DataFrame):
        return result["item_id"].tolist()
    return list(result)


def rank_by_score(scores: pd.Series | Mapping, k: int | None = None) -> list:
    """Item ids sorted by score, best first; ties go to the smaller item id.

    The fixed tie rule makes every ranking (and so every metric) reproducible:
    a popularity list, say, does not depend on the order rows arrived in.

    >>> rank_by_score({"b": 2.0, "a": 2.0, "c": 3.0})
    ['c', 'a', 'b']
    """
    scores = pd.Series(scores, dtype=float)
    order = np.lexsort((scores.index.to_numpy(), -scores.to_numpy()))
    ranked = scores.index[order].tolist()
    return ranked if k is None else ranked[: _check_k(k)]


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
    recommender : object with ``recommend(user_id, n=...)``, or a function ``(user_id, n)``
        Returns item ids best first (a list, or a frame with ``item_id``).
        If it also has ``predict(user_ids, item_ids)``, ``rmse`` and ``mae`` on
        the test ratings are added.
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
    k = _check_k(k)
    metrics = list(metrics)
    known = set(DEFAULT_METRICS) | {"diversity", "auc"}
    unknown = set(metrics) - known
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; choose from {sorted(known)}")
    if "diversity" in metrics and item_features is None:
        raise ValueError("the 'diversity' metric needs item_features (one row per item)")
    if test.empty:
        raise ValueError("test is empty: there is nothing to evaluate")
    recommend = _recommend_fn(recommender)
    seen = train.groupby("user_id")["item_id"].agg(set)
    relevant_rows = test if relevance_threshold is None else test[test["rating"] >= relevance_threshold]
    relevant = relevant_rows.groupby("user_id")["item_id"].agg(set).to_dict()
    catalog = pd.Index(np.union1d(train["item_id"].unique(), test["item_id"].unique()))

    users = np.sort(test["user_id"].unique())
    recommendations, full_rankings = {}, {}
    for user in users:
        user_seen = seen.get(user, set())
        n = len(catalog) if "auc" in metrics else k + len(user_seen)
        ranked = [i for i in _as_item_list(recommend(user, n)) if i not in user_seen]
        recommendations[user] = _check_list(ranked[:k])
        if "auc" in metrics:
            full_rankings[user] = ranked

    rank_names = [m for m in metrics if m in RANKING_METRICS]
    per_user = ranking_metrics(recommendations, relevant, k, rank_names or ["precision"])
    if "auc" in metrics:
        per_user["auc"] = [
            _auc_from_ranking(full_rankings[u], catalog.difference(list(seen.get(u, set()))), relevant.get(u, set()))
            for u in users
        ]
    row = {"model": name or type(recommender).__name__, "k": k}
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
