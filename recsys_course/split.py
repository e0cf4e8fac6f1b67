"""Train/test splits for rating data, the leaky classic and the honest ones.

Every function returns a :class:`Split` ``(train, test, summary)``. Rows keep
their original order inside ``train`` and ``test`` (nothing is shuffled behind
your back), and a given ``random_state`` always gives the same split.
A split never returns an empty train or test set, and refuses input it could
only split wrongly: a (user, item) pair twice (one copy could land on each
side), missing ids, ids mixing numbers and text, and, for the splits by time,
missing timestamps (``NaT``: no side of a cut-off).

==================  =====================================================
``random_split``    a random share of the ratings; the classic, but the
                    future leaks into training (for comparison only)
``temporal_split``  one global cut-off time: train strictly before, test
                    at or after; users/items first seen after the cut-off
                    are dropped from test or kept and flagged
``leave_last_out``  each user's last ``n`` ratings by time go to test
``per_user_temporal_split`` each user's last ``test_size`` share of
                    ratings by time goes to test
``cold_start_split`` a share of the items (or users) with *all* their
                    ratings go to test: they are unseen at training time
``stratified_split`` a random share of each item's (or user's) ratings:
                    recommenders-team's ``python_stratified_split``, for
                    comparing with the tables published on it
==================  =====================================================
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import pandas as pd

from .checks import check_choice, check_fraction, check_int, check_ratings, check_timestamps

__all__ = ["Split", "cold_start_split", "kfold", "leave_last_out", "per_user_temporal_split", "random_split",
           "stratified_split", "temporal_split"]


class Split(NamedTuple):
    """``train`` and ``test`` frames and a ``summary`` dict (sizes, users, items, cut-off)."""

    train: pd.DataFrame
    test: pd.DataFrame
    summary: dict


def _checked(ratings, *, by_time: bool = False) -> pd.DataFrame:
    """``ratings`` if a split can use it (see the module's docstring), else a ValueError saying why."""
    columns = ("user_id", "item_id", "timestamp") if by_time else ("user_id", "item_id")
    ratings = check_ratings(ratings, columns=columns, rating=False, allow_empty=True)
    if ratings.empty:
        raise ValueError("ratings is empty: there is nothing to split")
    if by_time:
        check_timestamps(ratings)
    return ratings


def _both_sides(kind: str, train: pd.DataFrame, test: pd.DataFrame, advice: str) -> None:
    if train.empty or test.empty:
        raise ValueError(f"this {kind} leaves an empty {'train' if train.empty else 'test'} set: {advice}")


def _summary(kind: str, train: pd.DataFrame, test: pd.DataFrame, **extra) -> dict:
    return {
        "split": kind,
        "train_ratings": len(train),
        "test_ratings": len(test),
        "train_users": int(train["user_id"].nunique()),
        "train_items": int(train["item_id"].nunique()),
        "test_users": int(test["user_id"].nunique()),
        "test_items": int(test["item_id"].nunique()),
        **extra,
    }


def random_split(ratings: pd.DataFrame, test_size: float = 0.2, random_state: int = 0) -> Split:
    """Put a random ``test_size`` share of the ratings in test.

    For comparison only: a rating from 1998 can land in train while one from
    1997 is in test, so a model trains on the future of what it is tested on.

    >>> from recsys_course.data import load_toy
    >>> train, test, summary = random_split(load_toy().ratings, test_size=0.25, random_state=1)
    >>> summary["train_ratings"], summary["test_ratings"]
    (17, 6)
    """
    check_fraction("test_size", test_size)
    ratings = _checked(ratings)
    rng = np.random.default_rng(random_state)
    n_test = int(round(test_size * len(ratings)))
    if not 0 < n_test < len(ratings):
        raise ValueError(f"test_size={test_size!r} of {len(ratings)} ratings rounds to {n_test} test ratings: "
                         f"choose test_size between {0.5 / len(ratings):.3g} and {1 - 0.5 / len(ratings):.3g}, "
                         "so that both sides get at least one rating")
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[rng.choice(len(ratings), n_test, replace=False)] = True
    train, test = ratings[~in_test], ratings[in_test]
    return Split(train, test, _summary("random", train, test, test_size=test_size, random_state=random_state))


def temporal_split(
    ratings: pd.DataFrame,
    cutoff=None,
    *,
    test_size: float | None = None,
    cold_start: str = "drop",
) -> Split:
    """Split at one global time: train strictly before ``cutoff``, test at or after it.

    Parameters
    ----------
    cutoff : timestamp-like, optional
        The cut-off: a time such as ``"1998-01-01"`` or a ``pd.Timestamp``
        (a number only if the timestamps are numbers).
    test_size : float, optional
        Without ``cutoff``: put about this share of the ratings in test (the
        cut-off is the ``1 - test_size`` quantile of the timestamps); 0.2 if
        neither is given. Give one or the other, not both.
    cold_start : {"drop", "keep"}
        What to do with test ratings whose user or item has no rating before
        the cut-off. ``"drop"`` removes them (and counts them in the summary);
        ``"keep"`` keeps them and adds boolean columns ``cold_user`` and
        ``cold_item`` to test, for cold-start evaluation.
    """
    check_choice("cold_start", cold_start, ("drop", "keep"))
    ratings = _checked(ratings, by_time=True)
    timestamps = ratings["timestamp"]
    if cutoff is None:
        test_size = check_fraction("test_size", 0.2 if test_size is None else test_size)
        cutoff = timestamps.quantile(1 - test_size, interpolation="higher")
    elif test_size is not None:
        raise ValueError(f"give cutoff or test_size, not both (got cutoff={cutoff!r}, test_size={test_size!r}): "
                         "the cut-off decides the size of the test set")
    else:
        cutoff = _as_cutoff(cutoff, timestamps)
    in_train = (timestamps < cutoff).to_numpy()
    train, test = ratings[in_train], ratings[~in_train]
    _both_sides("cut-off", train, test, f"{cutoff} is {'before' if train.empty else 'after'} every rating "
                f"(they run from {timestamps.min()} to {timestamps.max()}); choose a time in between")
    cold_user = ~test["user_id"].isin(train["user_id"])
    cold_item = ~test["item_id"].isin(train["item_id"])
    extra = {
        "cutoff": cutoff,
        "cold_start_ratings": int((cold_user | cold_item).sum()),
        "cold_start_users": int(test.loc[cold_user, "user_id"].nunique()),
        "cold_start_items": int(test.loc[cold_item, "item_id"].nunique()),
        "cold_start": cold_start,
    }
    if cold_start == "drop":
        test = test[~(cold_user | cold_item)]
    else:
        test = test.assign(cold_user=cold_user.to_numpy(), cold_item=cold_item.to_numpy())
    return Split(train, test, _summary("temporal", train, test, **extra))


def _as_cutoff(cutoff, timestamps: pd.Series):
    """``cutoff`` as something the timestamps compare with, or a TypeError that says what to pass."""
    if pd.api.types.is_datetime64_any_dtype(timestamps):
        if isinstance(cutoff, (numbers.Number, np.number)) and not isinstance(cutoff, bool):
            raise TypeError(f"cutoff={cutoff!r} is a number, but the timestamps are dates: pass a time, e.g. "
                            "'1998-01-01' or pd.Timestamp('1998-01-01'), or pd.Timestamp(seconds, unit='s')")
        try:
            cutoff = pd.Timestamp(cutoff)
        except (TypeError, ValueError):
            raise TypeError(f"cutoff={cutoff!r} is not a time: pass e.g. '1998-01-01' or a pd.Timestamp") from None
        if (cutoff.tz is None) != (getattr(timestamps.dt, "tz", None) is None):
            raise TypeError(f"cutoff={cutoff} and the timestamps ({timestamps.dtype}) disagree about the time "
                            "zone: give both a time zone or neither")
        return cutoff
    if not pd.api.types.is_numeric_dtype(timestamps):
        raise TypeError(f"the timestamp column holds {timestamps.dtype} values; a split by time needs dates "
                        "(pd.to_datetime(ratings['timestamp'])) or numbers")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (numbers.Real, np.number)):
        raise TypeError(f"cutoff={cutoff!r} cannot be compared with the timestamps, which are numbers: "
                        "pass a number in the same unit")
    return cutoff


def leave_last_out(ratings: pd.DataFrame, n: int = 1) -> Split:
    """Each user's last ``n`` ratings by time go to test, the rest to train.

    Ties in time are broken by the order of the rows, so the split is
    deterministic. Users with ``n`` or fewer ratings stay entirely in train
    (there would be nothing left to learn them from); the summary counts them.
    Note that different users' test ratings come from different times, so
    train still contains ratings made after some test ratings.
    """
    n = check_int("n", n, 1)
    ratings = _checked(ratings, by_time=True)
    order = np.lexsort((np.arange(len(ratings)), ratings["timestamp"].to_numpy(), ratings["user_id"].to_numpy()))
    by_user = ratings["user_id"].to_numpy()[order]
    counts = pd.Series(by_user).groupby(by_user).transform("size").to_numpy()
    rank_from_end = pd.Series(by_user).groupby(by_user).cumcount(ascending=False).to_numpy()
    to_test_sorted = (rank_from_end < n) & (counts > n)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = to_test_sorted
    train, test = ratings[~in_test], ratings[in_test]
    per_user = ratings.groupby("user_id").size()
    _both_sides("leave_last_out", train, test, f"no user has more than n={n} ratings (the most is "
                f"{per_user.max()}), and a user needs one left to train on: choose n < {per_user.max()}")
    too_short = int((per_user <= n).sum())
    return Split(train, test, _summary("leave_last_out", train, test, n=n, users_kept_in_train=too_short))


def stratified_split(ratings: pd.DataFrame, test_size: float = 0.25, by: str = "item", random_state: int = 42) -> Split:
    """A random ``test_size`` share of each item's (``by="item"``) or user's ratings goes to test.

    The split of recommenders-team/recommenders' ``python_stratified_split``
    (``ratio=1 - test_size``, ``filter_by=by``, ``seed=random_state``),
    reproduced draw for draw so that a model can be placed on the tables that
    project publishes: every rating gets a number from numpy's legacy
    generator seeded with ``random_state`` (in row order), the ratings of each
    item (user) are ordered by that number, and the first
    ``round((1 - test_size) * n)`` of its ``n`` ratings go to train (numpy's
    rounding: halves to the even number). Like the random split, it lets the
    future leak into training.

    >>> from recsys_course.data import load_toy
    >>> train, test, summary = stratified_split(load_toy().ratings, by="user")
    >>> summary["train_ratings"], summary["test_ratings"], summary["test_users"]
    (18, 5, 5)
    """
    check_fraction("test_size", test_size)
    check_choice("by", by, ("item", "user"))
    ratings = _checked(ratings)
    draws = np.random.RandomState(random_state).rand(len(ratings))
    groups = ratings[f"{by}_id"].to_numpy()
    order = np.lexsort((draws, groups))
    by_group = pd.Series(groups[order])
    counts = by_group.groupby(by_group).transform("size").to_numpy()
    rank = by_group.groupby(by_group).cumcount().to_numpy() + 1
    in_train = np.zeros(len(ratings), dtype=bool)
    in_train[order] = rank <= np.round((1 - test_size) * counts)
    train, test = ratings[in_train], ratings[~in_train]
    _both_sides("stratified_split", train, test, f"test_size={test_size!r} rounds to "
                f"{'no' if test.empty else 'every'} rating of every {by}; choose a share nearer 0.5")
    return Split(train, test, _summary("stratified", train, test, test_size=test_size, by=by,
                                       random_state=random_state))


def per_user_temporal_split(ratings: pd.DataFrame, test_size: float = 0.2, cold_start: str = "drop") -> Split:
    """Each user's last ``test_size`` share of ratings by time goes to test, the rest to train.

    A user with ``n_u`` ratings gives their last ``round(test_size * n_u)``
    ratings to test (halves rounded up; ties in time broken by the order of
    the rows); a user for whom that rounds to 0 stays entirely in train.
    Every user is tested on their own future, and almost every user is
    tested, which gives a leaderboard many more test users than one global
    cut-off. The price: different users' test ratings come
    from different times, so train still holds other users' ratings made
    after some test ratings.

    cold_start : {"drop", "keep"}
        Test ratings of an item with no rating in train: ``"drop"`` removes
        them (counted in the summary as ``cold_start_ratings``); ``"keep"``
        keeps them with a boolean column ``cold_item``.

    >>> from recsys_course.data import load_toy
    >>> train, test, summary = per_user_temporal_split(load_toy().ratings, test_size=0.25, cold_start="keep")
    >>> summary["train_ratings"], summary["test_ratings"], summary["test_users"], summary["cold_start_ratings"]
    (18, 5, 5, 3)
    """
    check_fraction("test_size", test_size)
    check_choice("cold_start", cold_start, ("drop", "keep"))
    ratings = _checked(ratings, by_time=True)
    order = np.lexsort((np.arange(len(ratings)), ratings["timestamp"].to_numpy(), ratings["user_id"].to_numpy()))
    by_user = pd.Series(ratings["user_id"].to_numpy()[order])
    counts = by_user.groupby(by_user).transform("size").to_numpy()
    rank_from_end = by_user.groupby(by_user).cumcount(ascending=False).to_numpy()
    n_test = np.floor(test_size * counts + 0.5).astype(int)  # round half up, the same on every platform
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = rank_from_end < n_test
    train, test = ratings[~in_test], ratings[in_test]
    _both_sides("per_user_temporal_split", train, test, f"test_size={test_size!r} rounds to "
                f"{'no' if test.empty else 'every'} rating of every user; choose a share that leaves "
                "each user some ratings on both sides")
    cold_item = ~test["item_id"].isin(train["item_id"])
    kept_in_train = int(ratings["user_id"].nunique() - test["user_id"].nunique())
    extra = {"test_size": test_size, "users_kept_in_train": kept_in_train, "cold_start_ratings": int(cold_item.sum()),
             "cold_start": cold_start}
    test = test[~cold_item] if cold_start == "drop" else test.assign(cold_item=cold_item.to_numpy())
    return Split(train, test, _summary("per_user_temporal", train, test, **extra))


def cold_start_split(
    ratings: pd.DataFrame, by: str = "item", fraction: float = 0.1, random_state: int = 0
) -> Split:
    """Hold out a random ``fraction`` of the items (or users) with all their ratings.

    The held-out items (``by="item"``) or users (``by="user"``) have no rating in
    train at all, which is the cold-start situation content and hybrid models
    are built for. The summary lists the held-out ids.
    """
    check_choice("by", by, ("item", "user"))
    check_fraction("fraction", fraction)
    column = f"{by}_id"
    ratings = _checked(ratings)
    ids = np.sort(ratings[column].unique())
    rng = np.random.default_rng(random_state)
    held_out = np.sort(rng.choice(ids, max(1, int(round(fraction * len(ids)))), replace=False))
    in_test = ratings[column].isin(held_out).to_numpy()
    train, test = ratings[~in_test], ratings[in_test]
    _both_sides("cold_start_split", train, test, f"fraction={fraction!r} of {len(ids)} {by}s holds them all "
                f"out; use a smaller fraction or more {by}s")
    return Split(train, test, _summary(f"cold_start_{by}", train, test, fraction=fraction,
                                       random_state=random_state, held_out=held_out.tolist()))


def kfold(ratings: pd.DataFrame, n_splits: int = 5, random_state: int = 0) -> list[Split]:
    """``n_splits`` random folds: every rating is in exactly one test set (for cross-validation).

    The same folds can be handed to Surprise (see notebook 03), so both
    libraries are scored on identical data.
    """
    n_splits = check_int("n_splits", n_splits, 2)
    ratings = _checked(ratings)
    if len(ratings) < n_splits:
        raise ValueError(f"cannot make n_splits={n_splits} folds from {len(ratings)} ratings: each fold needs "
                         "one; use fewer folds")
    fold = np.random.default_rng(random_state).permutation(len(ratings)) % n_splits
    out = []
    for k in range(n_splits):
        train, test = ratings[fold != k], ratings[fold == k]
        out.append(Split(train, test, _summary("kfold", train, test, fold=k, n_splits=n_splits,
                                               random_state=random_state)))
    return out
