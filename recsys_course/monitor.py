r"""Watching a recommender in production: has the data drifted, and what is it serving?

Two questions a team asks every week, answered from logs.

**Drift.** Compare the distribution of a feature in a *reference* window
(the data the model was trained on, last month) with the *current* window,
category by category. With reference shares :math:`e_b` and current shares
:math:`a_b` over the same categories :math:`b`:

.. math:: \mathrm{KL}(a \,\|\, e) = \sum_b a_b \ln\frac{a_b}{e_b}, \qquad
          \mathrm{PSI}(e, a) = \sum_b (a_b - e_b) \ln\frac{a_b}{e_b}
          = \mathrm{KL}(a \,\|\, e) + \mathrm{KL}(e \,\|\, a).

The population stability index (PSI) is the symmetrised KL divergence, in
nats. A numeric feature is first cut into bins fixed on the reference
window (:func:`binned_shares`); :func:`read_psi` gives the usual reading;
:func:`drift_report` does all of it for the features a team would watch on
MovieLens, between two months (:func:`months`) or for every month in turn
(:func:`drift_timeline`).

**Exposure.** :func:`served_popularity` reads an impression log: how the
served slots spread over the catalogue's popularity deciles, compared with
the catalogue itself, and how concentrated they are (:func:`gini`, the share
of slots taken by the top 10 % most popular items). Coverage and the mean
popularity percentile come from :mod:`recsys_course.metrics`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .checks import check_int, check_number, check_ratings, check_timestamps
from .data import GENRES
from .metrics import catalog_coverage, popularity_bias

__all__ = [
    "PSI_THRESHOLDS", "ServedPopularity", "binned_shares", "drift_report", "drift_timeline", "gini",
    "kl_divergence", "months", "psi", "psi_noise", "read_psi", "served_popularity", "top_share",
]

#: The rule of thumb for reading a PSI: below 0.1 stable, 0.1 to 0.25 moderate shift, above 0.25 significant.
PSI_THRESHOLDS = (0.1, 0.25)

# ------------------------------------------------------------------ divergences


def _shares(p, q, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Two distributions over the same categories as arrays of shares, an empty category raised to ``eps``."""
    check_number("eps", eps, above=0)
    if isinstance(p, pd.Series) and isinstance(q, pd.Series):
        if p.index.has_duplicates or q.index.has_duplicates:
            raise ValueError("the two distributions are Series with a repeated category label: give each "
                             "category one count")
        categories = p.index.union(q.index, sort=False)
        p, q = p.reindex(categories, fill_value=0), q.reindex(categories, fill_value=0)
    out = []
    for name, x in (("p", p), ("q", q)):
        x = np.asarray(x, dtype=float)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-d array of counts or shares, got shape {x.shape}")
        if not np.isfinite(x).all() or (x < 0).any():
            raise ValueError(f"{name} must hold finite counts or shares >= 0, got {x[~(np.isfinite(x) & (x >= 0))][0]}")
        if x.sum() == 0:
            raise ValueError(f"{name} sums to 0: an empty window has no distribution")
        out.append(x)
    p, q = out
    if p.shape != q.shape:
        raise ValueError(f"p and q must cover the same categories, got {p.size} and {q.size}: pass pandas "
                         "Series to align them by label")
    p, q = p / p.sum(), q / q.sum()
    # an empty category would make a log infinite: raise it to eps and renormalise
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    return p / p.sum(), q / q.sum()


def kl_divergence(p, q, eps: float = 1e-4) -> float:
    r"""Kullback-Leibler divergence of ``q`` from ``p``, in nats.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_b p_b \ln\frac{p_b}{q_b}

    ``p`` and ``q`` are counts or shares over the same categories: arrays in
    the same order, or pandas Series aligned by label (a label missing from
    one side counts 0 there). Each is normalised to sum to 1. KL is not
    symmetric: :math:`\mathrm{KL}(p\|q)` is large where ``p`` has mass that
    ``q`` lacks.

    A category empty on one side would make the divergence infinite, so every
    share below ``eps`` is raised to ``eps`` (then both are renormalised). The
    choice sets the value: a category with share :math:`p_b` on one side and
    nothing on the other adds about :math:`p_b \ln(p_b/\varepsilon)`, which
    grows without bound as ``eps`` shrinks (1e-4 turns a 5 % category into
    about 0.32 nats, 1e-6 into 0.55). Compare values computed with the same
    ``eps``; when a category is new (items released this month, say), report
    its share on its own instead of letting ``eps`` price it.

    Equals ``scipy.stats.entropy(p, q)`` when no share is below ``eps``.

    >>> round(kl_divergence([0.5, 0.5], [0.9, 0.1]), 4)
    0.5108
    """
    p, q = _shares(p, q, eps)
    return float(np.sum(p * np.log(p / q)))


def psi(expected, actual, eps: float = 1e-4) -> float:
    r"""Population stability index of ``actual`` against ``expected``, in nats.

    .. math:: \mathrm{PSI} = \sum_b (a_b - e_b) \ln\frac{a_b}{e_b}
              = \mathrm{KL}(a \,\|\, e) + \mathrm{KL}(e \,\|\, a)

    ``expected`` is the reference window, ``actual`` the current one: counts
    or shares over the same categories (arrays in the same order, or Series
    aligned by label), each normalised to sum to 1. Every term is >= 0 (the
    difference and the log have the same sign), so PSI is 0 only for equal
    distributions, and it is symmetric in its two arguments. Read it with
    :func:`read_psi`. An empty category is raised to ``eps`` as in
    :func:`kl_divergence`; here it adds about
    :math:`s \ln(s/\varepsilon)` for a share ``s`` present on one side only, so
    with many empty bins a smaller ``eps`` can turn "moderate" into
    "significant" by itself.

    >>> round(psi([0.25, 0.25, 0.5], [0.2, 0.3, 0.5]), 4)
    0.0203
    """
    e, a = _shares(expected, actual, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_noise(n_expected: int, n_actual: int, n_bins: int) -> float:
    r"""The PSI to expect with **no** drift at all, from sampling noise alone.

    Two samples of sizes :math:`n` and :math:`m` from the same distribution
    over :math:`B` bins give, to first order, a PSI whose scaled value
    :math:`\mathrm{PSI}/(1/n + 1/m)` follows a :math:`\chi^2_{B-1}`
    (Yurdakul & Naranjo, "Statistical properties of the population stability
    index", *Journal of Risk Model Validation* 14(4), 2020), so its mean is

    .. math:: \mathbb{E}[\mathrm{PSI}] \approx (B - 1)\left(\frac{1}{n} + \frac{1}{m}\right)

    Windows of a few hundred users cut into 10 bins reach the 0.1 of the
    rule of thumb from noise alone: compare a PSI with this floor before
    reading it as drift.

    >>> round(psi_noise(300, 300, 10), 3)
    0.06
    """
    n, m, b = check_int("n_expected", n_expected, 1), check_int("n_actual", n_actual, 1), check_int("n_bins", n_bins, 1)
    return (b - 1) * (1 / n + 1 / m)


def read_psi(value: float, thresholds: tuple[float, float] = PSI_THRESHOLDS) -> str:
    """The usual reading of a PSI: ``"stable"``, ``"moderate"`` or ``"significant"``.

    Below ``thresholds[0]`` (0.1) stable, up to ``thresholds[1]`` (0.25)
    moderate, above it significant. These cut-offs are a convention from
    credit scoring (Siddiqi, *Credit Risk Scorecards*, 2006), not a law: they
    ignore sample size (see :func:`psi_noise`) and the number of bins, and a
    team should set its own from the PSI its stable weeks produce.

    >>> read_psi(0.05), read_psi(0.1), read_psi(0.3)
    ('stable', 'moderate', 'significant')
    """
    value = check_number("value", value, at_least=0)
    low, high = (check_number("thresholds", t, at_least=0) for t in thresholds)
    if not low < high:
        raise ValueError(f"thresholds must be (moderate, significant) with moderate < significant, got {thresholds}")
    return "stable" if value < low else "moderate" if value <= high else "significant"


def binned_shares(expected, actual, n_bins: int = 10) -> pd.DataFrame:
    """Shares of two numeric samples over bins fixed by the ``expected`` (reference) sample.

    The inner edges are the ``expected`` sample's quantiles at ``1/n_bins,
    ..., (n_bins-1)/n_bins`` (deciles by default); the outer bins are open
    (``-inf`` and ``+inf``), so a current value beyond anything seen in the
    reference still lands in a bin. Bins are closed on the right, and equal
    quantiles (a discrete feature with many ties) merge into one edge, so
    there can be fewer than ``n_bins`` bins. Fixing the bins on the
    reference, never on the current window, is what makes two windows'
    shares comparable, and how PSI is used in practice.

    Returns one row per bin (the index holds the intervals), with columns
    ``expected`` and ``actual``, each summing to 1.

    >>> binned_shares([1, 2, 3, 4], [4, 4, 5, 9], n_bins=2)  # doctest: +NORMALIZE_WHITESPACE
                  expected  actual
    bin
    (-inf, 2.5]        0.5     0.0
    (2.5, inf]         0.5     1.0
    """
    n_bins = check_int("n_bins", n_bins, 2)
    samples = []
    for name, x in (("expected", expected), ("actual", actual)):
        x = np.asarray(x, dtype=float).ravel()
        if x.size == 0:
            raise ValueError(f"{name} is empty: there is no sample to bin")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} holds {int((~np.isfinite(x)).sum())} NaN or infinite value(s): drop them first")
        samples.append(x)
    edges = np.unique(np.quantile(samples[0], np.arange(1, n_bins) / n_bins))
    edges = np.concatenate([[-np.inf], edges, [np.inf]])
    bins = pd.IntervalIndex.from_breaks(edges, closed="right", name="bin")
    counts = [np.bincount(np.searchsorted(edges[1:-1], x, side="left"), minlength=len(bins)) for x in samples]
    return pd.DataFrame({"expected": counts[0] / counts[0].sum(), "actual": counts[1] / counts[1].sum()},
                        index=bins)


# ------------------------------------------------------------------ drift between time windows


def months(ratings: pd.DataFrame) -> list[pd.Period]:
    """The calendar months the ratings span, first to last (MovieLens-100k: 1997-09 to 1998-04).

    The first and last are usually partial (ml-100k starts on 20 September
    and ends on 22 April): features that count per user or per item scale
    with a window's length.
    """
    ratings = check_ratings(ratings, rating=False)
    times = pd.to_datetime(check_timestamps(ratings))
    return list(pd.period_range(times.min().to_period("M"), times.max().to_period("M"), freq="M"))


def _window(ratings: pd.DataFrame, times: pd.Series, window, name: str) -> pd.DataFrame:
    """The ratings of ``window``: a month (``"1997-09"``, a ``pd.Period``) or ``(start, end)``, end excluded."""
    if isinstance(window, tuple):
        if len(window) != 2:
            raise ValueError(f"{name} must be a month like '1997-09' or a (start, end) pair, got {window!r}")
        start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    else:
        try:
            period = pd.Period(window, freq="M")
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a month like '1997-09' or a (start, end) pair, got {window!r}") from None
        start, end = period.start_time, (period + 1).start_time
    if not start < end:
        raise ValueError(f"{name} starts at {start} but ends at {end}: the start must come first")
    inside = ratings[(times >= start) & (times < end)]
    if inside.empty:
        raise ValueError(f"{name}={window!r} holds no rating (the ratings run from {times.min()} to "
                         f"{times.max()}): choose a window inside that span, e.g. from months(ratings)")
    return inside


def _genre_counts(window: pd.DataFrame, genres: pd.DataFrame) -> pd.Series:
    return genres.reindex(window["item_id"]).sum(axis=0)


def drift_report(ratings: pd.DataFrame, movies: pd.DataFrame, reference, current, n_bins: int = 10,
                 alert_at: float = PSI_THRESHOLDS[1], eps: float = 1e-4) -> pd.DataFrame:
    r"""How much the ratings of ``current`` differ from those of ``reference``, feature by feature.

    ``reference`` and ``current`` are windows of ``ratings`` (the whole log,
    with ``timestamp``): a month such as ``"1997-09"`` or a ``(start, end)``
    pair, end excluded. ``movies`` is the loader's frame (one 0/1 column per
    genre). The features, one row each:

    ``rating``
        shares of the star values 1-5 among the window's ratings;
    ``genre``
        shares of the genres among the rated movies (a movie with three
        genres counts once in each);
    ``item_popularity``
        each rating's item, by how many ratings it had *in the reference
        window*, binned at the reference's deciles (:func:`binned_shares`):
        a current window that rates the reference's hits more (or less) moves
        mass to the top (bottom) bins. Items with no reference rating are
        left out here; the next rows count them;
    ``user_activity``
        ratings per active user in the window, binned at the reference's
        deciles (depends on the window's length: compare windows of similar
        length);
    ``new_items``, ``new_users``
        share of the window's ratings whose item (user) had no rating
        anywhere in ``ratings`` before the window started, against the rest
        (two categories). The first window of a log is all "new".

    Returns a tidy frame with columns ``feature``, ``reference_value`` and
    ``current_value`` (a one-number summary of each side, to read the
    direction: the mean star; the most rated genre; the mean reference
    popularity of a rated item; the mean ratings per active user; the share
    of ratings that are new), ``psi``, ``kl`` (of the
    reference from the current, :math:`\mathrm{KL}(a\|e)`), ``reading``
    (:func:`read_psi`), ``alert`` (``psi > alert_at``), ``noise`` (the PSI
    expected with no drift, :func:`psi_noise`, from the number of ratings or
    users each side was counted over), ``n_reference`` and ``n_current``.

    >>> from recsys_course.data import load_toy
    >>> toy = load_toy()
    >>> early, late = ("2024-01-01", "2024-01-10"), ("2024-01-10", "2024-03-01")
    >>> drift_report(toy.ratings, toy.movies, early, late, n_bins=2)[["feature", "psi", "reading"]].round(2)
               feature   psi      reading
    0           rating  1.35  significant
    1            genre  1.48  significant
    2  item_popularity  0.00       stable
    3    user_activity  5.77  significant
    4        new_items  3.52  significant
    5        new_users  6.60  significant

    (Eight ratings against fifteen: the ``noise`` column says how little
    that proves.)
    """
    ratings = check_ratings(ratings)
    times = pd.to_datetime(check_timestamps(ratings))
    check_number("alert_at", alert_at, at_least=0)
    genres = _genre_table(movies)
    ref = _window(ratings, times, reference, "reference")
    cur = _window(ratings, times, current, "current")
    rows = []

    def add(feature, e, a, n_e, n_a, n_bins_used, values):
        value = psi(e, a, eps)
        rows.append({"feature": feature, "reference_value": values[0], "current_value": values[1], "psi": value, "kl": kl_divergence(a, e, eps), "reading": read_psi(value),
                     "alert": bool(value > alert_at), "noise": psi_noise(n_e, n_a, max(n_bins_used, 1)),
                     "n_reference": n_e, "n_current": n_a})

    e, a = ref["rating"].value_counts(), cur["rating"].value_counts()
    add("rating", e, a, len(ref), len(cur), len(e.index.union(a.index)), (ref["rating"].mean(), cur["rating"].mean()))
    e, a = _genre_counts(ref, genres), _genre_counts(cur, genres)
    add("genre", e, a, len(ref), len(cur), int(((e > 0) | (a > 0)).sum()), (e.idxmax(), a.idxmax()))

    popularity = ref["item_id"].value_counts()
    known = cur[cur["item_id"].isin(popularity.index)]
    if known.empty:
        raise ValueError("no item rated in the current window was rated in the reference window: "
                         "item popularity cannot be compared")
    x_ref, x_cur = popularity.reindex(ref["item_id"]).to_numpy(), popularity.reindex(known["item_id"]).to_numpy()
    bins = binned_shares(x_ref, x_cur, n_bins)
    add("item_popularity", bins["expected"], bins["actual"], len(ref), len(known), len(bins),
        (x_ref.mean(), x_cur.mean()))

    activity_ref, activity_cur = ref.groupby("user_id").size(), cur.groupby("user_id").size()
    bins = binned_shares(activity_ref.to_numpy(), activity_cur.to_numpy(), n_bins)
    add("user_activity", bins["expected"], bins["actual"], len(activity_ref), len(activity_cur), len(bins),
        (activity_ref.mean(), activity_cur.mean()))

    for feature, column in (("new_items", "item_id"), ("new_users", "user_id")):
        first_seen = times.groupby(ratings[column].to_numpy()).min()
        known_new = []
        for window in (ref, cur):
            # new: no rating anywhere in the log before the window's first rating (so before the window began)
            is_new = first_seen.reindex(window[column]).to_numpy() >= times[window.index].min()
            known_new.append(np.array([(~is_new).sum(), is_new.sum()], dtype=float))
        add(feature, known_new[0], known_new[1], len(ref), len(cur), 2,
            tuple(k[1] / k.sum() for k in known_new))
    return pd.DataFrame(rows)


def _genre_table(movies: pd.DataFrame) -> pd.DataFrame:
    """The movies' 0/1 genre columns, indexed by item_id."""
    if not isinstance(movies, pd.DataFrame) or "item_id" not in movies.columns:
        raise ValueError("movies must be the loader's movies frame, with an item_id column and one column per genre")
    columns = [g for g in GENRES if g in movies.columns]
    if not columns:
        raise ValueError(f"movies has no genre column (expected some of {list(GENRES)[:3]}...): load it with "
                         "recsys_course.data.load_movielens_100k or load_toy")
    return movies.set_index("item_id")[columns].astype(float)


def drift_timeline(ratings: pd.DataFrame, movies: pd.DataFrame, against: str = "previous", n_bins: int = 10,
                   alert_at: float = PSI_THRESHOLDS[1], eps: float = 1e-4) -> pd.DataFrame:
    """:func:`drift_report` for every month after the first: when would an alert have fired?

    ``against="previous"`` compares each month with the one before it;
    ``against="first"`` compares each with the first month. One row per
    (month, feature): the columns of :func:`drift_report` plus ``reference``
    and ``current`` (the months, as text).
    """
    if against not in ("previous", "first"):
        raise ValueError(f"against must be 'previous' or 'first', got {against!r}")
    spans = months(ratings)
    if len(spans) < 2:
        raise ValueError(f"the ratings span {len(spans)} month(s): a timeline needs at least two")
    frames = []
    for j in range(1, len(spans)):
        reference = spans[j - 1] if against == "previous" else spans[0]
        report = drift_report(ratings, movies, reference, spans[j], n_bins, alert_at, eps)
        frames.append(report.assign(reference=str(reference), current=str(spans[j])))
    out = pd.concat(frames, ignore_index=True)
    return out[["reference", "current"] + [c for c in out.columns if c not in ("reference", "current")]]


# ------------------------------------------------------------------ what was served


def gini(counts) -> float:
    r"""Gini index of non-negative counts (exposure of each catalogue item): 0 equal, near 1 all on one.

    With the :math:`n` counts sorted ascending, :math:`c_1 \le \dots \le c_n`,

    .. math:: G = \frac{\sum_{i=1}^{n} (2i - n - 1)\, c_i}{n \sum_i c_i}
              = \frac{\sum_{i,j} |c_i - c_j|}{2 n^2 \bar c}

    Items never served count 0: pass the whole catalogue, or the index is
    flattered. The largest value, every count on one item, is :math:`1 - 1/n`.

    >>> gini([1, 1, 1, 1]), gini([0, 0, 0, 4])
    (0.0, 0.75)
    """
    c = np.sort(np.asarray(counts, dtype=float).ravel())
    if c.size == 0:
        raise ValueError("counts is empty: pass one count per catalogue item")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"counts must be finite and >= 0, got {c[~(np.isfinite(c) & (c >= 0))][0]}")
    if c.sum() == 0:
        return float("nan")
    n = c.size
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * c) / (n * c.sum()))


def _popularity_rank(item_counts: pd.Series) -> pd.Series:
    """Each item's rank by count, most popular first (1), ties to the smaller item id."""
    order = np.lexsort((item_counts.index.to_numpy(), -item_counts.to_numpy()))
    return pd.Series(np.arange(1, len(order) + 1), index=item_counts.index[order]).reindex(item_counts.index)


def top_share(served_counts: pd.Series, item_counts: pd.Series, top: float = 0.1) -> float:
    """Share of served slots that went to the ``top`` share (10 %) of the catalogue by popularity.

    ``served_counts`` and ``item_counts`` are indexed by item id; the
    catalogue is ``item_counts.index``, ranked by count (ties to the smaller
    id, the package's rule), and its first ``ceil(top * n)`` items are "the
    top". A catalogue whose exposure followed a uniform draw would give about
    ``top``.
    """
    if not 0 < top <= 1:
        raise ValueError(f"top must be a share in (0, 1], got {top}")
    rank = _popularity_rank(pd.Series(item_counts, dtype=float))
    head = rank.index[rank <= int(np.ceil(top * len(rank)))]
    served = pd.Series(served_counts, dtype=float)
    total = served.sum()
    return float(served.reindex(head, fill_value=0).sum() / total) if total > 0 else float("nan")


class ServedPopularity(NamedTuple):
    """What :func:`served_popularity` returns: shares per popularity decile, and one-number summaries."""

    deciles: pd.DataFrame
    summary: dict


def _served_items(impressions: pd.DataFrame) -> pd.DataFrame:
    """A long frame ``user_id, item_id`` from a log with a list of items per impression, or already long."""
    if not isinstance(impressions, pd.DataFrame):
        raise TypeError(f"impressions must be a DataFrame, got {type(impressions).__name__}")
    if "item_id" in impressions.columns:
        return impressions[["user_id", "item_id"]] if "user_id" in impressions.columns else impressions[["item_id"]]
    if "items" in impressions.columns:
        return impressions.explode("items").dropna(subset=["items"]).rename(columns={"items": "item_id"})
    raise ValueError(f"impressions needs an item_id column (one row per served item) or an items column (a list "
                     f"per impression); it has {list(impressions.columns)}")


def served_popularity(impressions: pd.DataFrame, train_ratings: pd.DataFrame, n_bins: int = 10,
                      top: float = 0.1) -> ServedPopularity:
    """How what was served spreads over the catalogue's popularity, compared with the catalogue.

    ``impressions`` is an impression log: one row per impression with a list
    of item ids in ``items``, or one row per served item with ``item_id``
    (a ``user_id`` column is optional). ``train_ratings`` defines the
    catalogue (every item rated in it) and each item's popularity (its number
    of ratings there). Items are ranked by popularity (ties to the smaller
    id) and cut into ``n_bins`` groups of equal size; group ``n_bins`` is the
    most popular.

    Returns a :class:`ServedPopularity`:

    ``deciles``
        one row per group: ``catalogue_share`` (share of catalogue items,
        about ``1/n_bins``), ``rating_share`` (share of the training ratings)
        and ``served_share`` (share of served slots);
    ``summary``
        ``slots`` (served items), ``coverage`` (share of the catalogue served
        at least once, :func:`recsys_course.metrics.catalog_coverage`),
        ``gini`` (:func:`gini` of the served counts over the whole
        catalogue), ``top_share`` (:func:`top_share`: slots taken by the top
        ``top`` of the catalogue), ``popularity_percentile`` (mean percentile
        of what was served, :func:`recsys_course.metrics.popularity_bias`),
        and ``outside_catalogue`` (slots for items not in ``train_ratings``,
        left out of the other figures).

    >>> from recsys_course.data import load_toy
    >>> log = pd.DataFrame({"user_id": [1, 2], "items": [[1, 2], [1, 3]]})
    >>> served = served_popularity(log, load_toy().ratings, n_bins=2)
    >>> served.deciles["served_share"].tolist(), served.summary["top_share"]  # the top 10 %: item 1
    ([0.0, 1.0], 0.5)
    """
    n_bins = check_int("n_bins", n_bins, 1)
    train_ratings = check_ratings(train_ratings, rating=False, name="train_ratings")
    served = _served_items(impressions)
    counts = train_ratings["item_id"].value_counts()
    catalogue = counts.index
    inside = served["item_id"].isin(catalogue)
    served_counts = served.loc[inside, "item_id"].value_counts().reindex(catalogue, fill_value=0)
    rank = _popularity_rank(counts.astype(float))
    group = (n_bins - (rank.to_numpy() - 1) * n_bins // len(rank)).astype(int)  # 1 = least popular
    by_group = pd.DataFrame({"group": group, "items": 1, "ratings": counts.to_numpy(),
                             "served": served_counts.to_numpy()}).groupby("group").sum()
    by_group = by_group.reindex(range(1, n_bins + 1), fill_value=0)
    slots = int(served_counts.sum())
    deciles = pd.DataFrame({
        "catalogue_share": by_group["items"] / by_group["items"].sum(),
        "rating_share": by_group["ratings"] / by_group["ratings"].sum(),
        "served_share": by_group["served"] / slots if slots else np.nan,
    })
    deciles.index.name = "popularity_group"
    shown = served.loc[inside, "item_id"]
    summary = {
        "slots": slots,
        "coverage": catalog_coverage({0: shown.unique().tolist()}, catalogue),
        "gini": gini(served_counts.to_numpy()),
        "top_share": top_share(served_counts, counts, top),
        "popularity_percentile": popularity_bias({0: shown.tolist()}, counts),
        "outside_catalogue": int((~inside).sum()),
    }
    return ServedPopularity(deciles, summary)
