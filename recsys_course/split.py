"""Train/test splits for rating data, the leaky classic and the honest ones.

Every function returns a :class:`Split` ``(train, test, summary)``. Rows keep
their original order inside ``train`` and ``test`` (nothing is shuffled behind
your back), and a given ``random_state`` always gives the same split.

==================  =====================================================
``random_split``    a random share of the ratings; the classic, but the
                    future leaks into training (for comparison only)
``temporal_split``  one global cut-off time: train strictly before, test
                    at or after; users/items first seen after the cut-off
                    are dropped from test or kept and flagged
``leave_last_out``  each user's last ``n`` ratings by time go to test
``cold_start_split`` a share of the items (or users) with *all* their
                    ratings go to test: they are unseen at training time
==================  =====================================================
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Split", "cold_start_split", "kfold", "leave_last_out", "random_split", "temporal_split"]


class Split(NamedTuple):
    """``train`` and ``test`` frames and a ``summary`` dict (sizes, users, items, cut-off)."""

    train: pd.DataFrame
    test: pd.DataFrame
    summary: dict


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def _check_columns(ratings: pd.DataFrame, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings has no column(s) {missing}; it has {list(ratings.columns)}")


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
    _check_fraction("test_size", test_size)
    _check_columns(ratings, ("user_id", "item_id"))
    rng = np.random.default_rng(random_state)
    n_test = int(round(test_size * len(ratings)))
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[rng.choice(len(ratings), n_test, replace=False)] = True
    train, test = ratings[~in_test], ratings[in_test]
    return Split(train, test, _summary("random", train, test, test_size=test_size, random_state=random_state))


def temporal_split(
    ratings: pd.DataFrame,
    cutoff=None,
    *,
    test_size: float = 0.2,
    cold_start: str = "drop",
) -> Split:
    """Split at one global time: train strictly before ``cutoff``, test at or after it.

    Parameters
    ----------
    cutoff : timestamp-like, optional
        The cut-off. By default the ``1 - test_size`` quantile of the
        timestamps, so that about ``test_size`` of the ratings are in test.
    cold_start : {"drop", "keep"}
        What to do with test ratings whose user or item has no rating before
        the cut-off. ``"drop"`` removes them (and counts them in the summary);
        ``"keep"`` keeps them and adds boolean columns ``cold_user`` and
        ``cold_item`` to test, for cold-start evaluation.
    """
    _check_columns(ratings, ("user_id", "item_id", "timestamp"))
    if cold_start not in ("drop", "keep"):
        raise ValueError(f"cold_start must be 'drop' or 'keep', got {cold_start!r}")
    timestamps = ratings["timestamp"]
    if cutoff is None:
        _check_fraction("test_size", test_size)
        cutoff = timestamps.quantile(1 - test_size, interpolation="higher")
    elif isinstance(cutoff, str):
        cutoff = pd.Timestamp(cutoff)
    in_train = (timestamps < cutoff).to_numpy()
    train, test = ratings[in_train], ratings[~in_train]
    if train.empty or test.empty:
        raise ValueError(f"cut-off {cutoff} leaves an empty {'train' if train.empty else 'test'} set")
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


def leave_last_out(ratings: pd.DataFrame, n: int = 1) -> Split:
    """Each user's last ``n`` ratings by time go to test, the rest to train.

    Ties in time are broken by the order of the rows, so the split is
    deterministic. Users with ``n`` or fewer ratings stay entirely in train
    (there would be nothing left to learn them from); the summary counts them.
    Note that different users' test ratings come from different times, so
    train still contains ratings made after some test ratings.
    """
    _check_columns(ratings, ("user_id", "item_id", "timestamp"))
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    order = np.lexsort((np.arange(len(ratings)), ratings["timestamp"].to_numpy(), ratings["user_id"].to_numpy()))
    by_user = ratings["user_id"].to_numpy()[order]
    counts = pd.Series(by_user).groupby(by_user).transform("size").to_numpy()
    rank_from_end = pd.Series(by_user).groupby(by_user).cumcount(ascending=False).to_numpy()
    to_test_sorted = (rank_from_end < n) & (counts > n)
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = to_test_sorted
    train, test = ratings[~in_test], ratings[in_test]
    too_short = int((ratings.groupby("user_id").size() <= n).sum())
    return Split(train, test, _summary("leave_last_out", train, test, n=n, users_kept_in_train=too_short))


def cold_start_split(
    ratings: pd.DataFrame, by: str = "item", fraction: float = 0.1, random_state: int = 0
) -> Split:
    """Hold out a random ``fraction`` of the items (or users) with all their ratings.

    The held-out items (``by="item"``) or users (``by="user"``) have no rating in
    train at all, which is the cold-start situation content and hybrid models
    are built for. The summary lists the held-out ids.
    """
    if by not in ("item", "user"):
        raise ValueError(f"by must be 'item' or 'user', got {by!r}")
    _check_fraction("fraction", fraction)
    column = f"{by}_id"
    _check_columns(ratings, ("user_id", "item_id"))
    ids = np.sort(ratings[column].unique())
    rng = np.random.default_rng(random_state)
    held_out = np.sort(rng.choice(ids, max(1, int(round(fraction * len(ids)))), replace=False))
    in_test = ratings[column].isin(held_out).to_numpy()
    train, test = ratings[~in_test], ratings[in_test]
    return Split(train, test, _summary(f"cold_start_{by}", train, test, fraction=fraction,
                                       random_state=random_state, held_out=held_out.tolist()))


def kfold(ratings: pd.DataFrame, n_splits: int = 5, random_state: int = 0) -> list[Split]:
    """``n_splits`` random folds: every rating is in exactly one test set (for cross-validation).

    The same folds can be handed to Surprise (see notebook 03), so both
    libraries are scored on identical data.
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if len(ratings) < n_splits:
        raise ValueError(f"cannot make {n_splits} folds from {len(ratings)} ratings")
    fold = np.random.default_rng(random_state).permutation(len(ratings)) % n_splits
    out = []
    for k in range(n_splits):
        train, test = ratings[fold != k], ratings[fold == k]
        out.append(Split(train, test, _summary("kfold", train, test, fold=k, n_splits=n_splits,
                                               random_state=random_state)))
    return out
