"""Metrics for rating prediction, top-K ranking and beyond-accuracy quality.

Conventions (each is tested in ``tests/test_metrics.py``; where it differs from
``trec_eval``, the test checks the documented relation):

* A *recommendation list* is a sequence of item ids, best first. Duplicates are
  an error: a list that shows the same movie twice is a bug upstream.
* *Relevant* items are a set of ids (binary relevance) or a mapping
  ``item -> grade`` (graded relevance; grades <= 0 count as not relevant).
* A user with no relevant items has no defined ranking metric: the per-user
  functions return ``NaN`` and averages skip those users (``evaluate`` counts
  them in ``users_without_relevant``). A user *with* relevant items but no
  list (the recommender returned nothing, or was not asked) scores 0, and
  counts in every average: leaving them out would reward a model for
  staying silent.
* A list shorter than ``k`` is scored as if padded with non-relevant items:
  precision@k still divides by ``k`` (as trec_eval's ``P_k``).
* ``k`` must be an integer >= 1.

Rating metrics (:func:`rmse`, :func:`mae`) and beyond-accuracy metrics
(:func:`catalog_coverage`, :func:`novelty`, :func:`intra_list_diversity`,
:func:`personalization`, :func:`popularity_bias`) are plain functions too.
:mod:`recsys_course.evaluation` puts them together for fitted models
(``evaluate``, ``leaderboard``), and :mod:`recsys_course.stats` says how sure
we can be (``bootstrap_ci``, ``paired_test``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .ranking import check_k, check_list

__all__ = [
    "RANKING_METRICS", "auc", "average_precision_at_k", "catalog_coverage", "hit_rate_at_k", "intra_list_diversity",
    "mae", "map_at_k", "mrr", "ndcg_at_k", "novelty", "personalization", "popularity_bias", "precision_at_k",
    "ranking_metrics", "recall_at_k", "reciprocal_rank", "rmse",
]

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")

# ------------------------------------------------------------------ rating accuracy


def _paired_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(y_true, pd.Series) and isinstance(y_pred, pd.Series):
        # two labelled series are paired by label, never by position
        if y_true.index.has_duplicates or y_pred.index.has_duplicates:
            raise ValueError("y_true and y_pred are Series with duplicate index labels: they cannot be paired by "
                             "label; pass arrays in the same order, or give each rating a unique label")
        if not y_true.index.sort_values().equals(y_pred.index.sort_values()):
            missing = y_true.index.symmetric_difference(y_pred.index)
            raise ValueError(f"y_true and y_pred are Series with different labels (e.g. {missing[:3].tolist()}): "
                             "each rating needs a prediction with the same label")
        y_pred = y_pred.reindex(y_true.index)
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("y_true is empty: there is nothing to score")
    if not np.isfinite(y_true).all():
        raise ValueError(f"y_true has {int((~np.isfinite(y_true)).sum())} missing or infinite rating(s): drop those "
                         "rows before scoring")
    if not np.isfinite(y_pred).all():
        raise ValueError(f"y_pred has {int((~np.isfinite(y_pred)).sum())} NaN or infinite prediction(s); fill the "
                         "missing ones with a fallback first (a model of the package does: RatingModel.predict)")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    r"""Root mean squared error, :math:`\sqrt{\frac{1}{|T|}\sum (r_{ui} - \hat r_{ui})^2}`.

    Arrays and lists are paired by position; two pandas Series by index label.

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


def _gains(relevant) -> dict:
    """Relevance as ``item -> gain > 0``: a set means gain 1 for each of its items."""
    if isinstance(relevant, Mapping):
        return {item: float(g) for item, g in relevant.items() if g > 0}
    return {item: 1.0 for item in relevant}


# ------------------------------------------------------------- ranking: the maths


def _gain_matrix(lists: Sequence[list], gains: Sequence[dict], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gains of the top-k positions (0 where not relevant or past the list's end).

    Returns ``G`` (users x w), the number of relevant items per user, and the
    ideal gains (users x w: each user's largest gains, sorted descending), where
    ``w = min(k, longest list or relevant set)``: positions past every list and
    every ideal list add nothing, so a huge ``k`` costs no memory.
    """
    n = len(lists)
    k = min(k, max([len(items) for items in lists] + [len(g) for g in gains] + [1]))
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
    ranks = np.arange(1, G.shape[1] + 1)  # the first w <= k positions; precision still divides by k
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
    k = check_k(k)
    G, n_rel, ideal = _gain_matrix([check_list(recommended)], [_gains(relevant)], k)
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
    items = check_list(recommended)
    k = check_k(k) if k is not None else max(len(items), 1)
    return _one_user("mrr", items, relevant, k)


def ranking_metrics(
    recommendations: Mapping, relevant: Mapping, k: int, metrics: Iterable[str] = RANKING_METRICS,
    gain: str = "linear",
) -> pd.DataFrame:
    """Per-user ranking metrics for many users at once, one row per user.

    ``recommendations`` maps user -> list, ``relevant`` maps user -> set (or
    mapping of grades). Users missing from ``relevant`` have no relevant items
    (``NaN`` rows); users in ``relevant`` missing from ``recommendations`` got
    an empty list (zeros). Take ``.mean()`` of a column for the average over
    users (NaN skipped). Column names are ``"precision@10"`` and so on.

    >>> relevant = {"ann": {"b"}, "bob": {"a"}}      # bob got no list: zeros, not left out
    >>> ranking_metrics({"ann": ["a", "b"]}, relevant, 2, ["precision", "mrr"])  # doctest: +NORMALIZE_WHITESPACE
             precision@2  mrr@2
    user_id
    ann              0.5    0.5
    bob              0.0    0.0
    """
    k = check_k(k)
    metrics = list(metrics)
    unknown = set(metrics) - set(RANKING_METRICS)
    if unknown:
        raise ValueError(f"unknown ranking metric(s) {sorted(unknown)}; choose from {RANKING_METRICS}")
    users = list(recommendations) + [u for u in relevant if u not in recommendations]
    lists = [check_list(recommendations.get(u, ())) for u in users]
    gains = [_gains(relevant.get(u, ())) for u in users]
    values = _ranking_from_gains(*_gain_matrix(lists, gains, k), k, gain)
    frame = pd.DataFrame({f"{m}@{k}": values[m] for m in metrics}, index=pd.Index(users, name="user_id"))
    return frame


def map_at_k(recommendations: Mapping, relevant: Mapping, k: int) -> float:
    """Mean of :func:`average_precision_at_k` over users with relevant items (no list counts as 0)."""
    return float(ranking_metrics(recommendations, relevant, k, ["map"]).iloc[:, 0].mean())


def mrr(recommendations: Mapping, relevant: Mapping, k: int | None = None) -> float:
    """Mean reciprocal rank over users with relevant items (whole lists if ``k`` is None; no list counts as 0)."""
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
    the most novel an observed item can be, instead of infinitely novel. A
    count above :math:`|U|` (ratings counted instead of users, say) would make
    novelty negative, and is an error.
    """
    counts = _popularity(item_counts)
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    if (counts > n_users).any():
        item = counts.index[int(np.argmax(counts.to_numpy() > n_users))]
        raise ValueError(f"item {item!r} has a count of {counts[item]:g}, more than n_users={n_users}: "
                         "item_counts must count the distinct users who rated each item")
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
    lists = {u: check_list(v) for u, v in recommendations.items() if len(v)}
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
        items = check_list(items)
        if len(items) < 2:
            continue
        V = unit.loc[items].to_numpy()
        sim = V @ V.T
        n = len(items)
        values.append(1 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))
    return float(np.mean(values)) if values else float("nan")


