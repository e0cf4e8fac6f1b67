"""Turning scores into ranked lists, with one tie rule, for every model, metric and re-ranker.

Ties go to the **smaller item id**. Scores that are ``-inf`` or ``NaN`` mark
items that must not be listed (already seen, not a candidate, not scorable)
and are never returned. Models number their items in sorted id order
(:mod:`recsys_course.ids`), so "smaller id" is "smaller column" in a score
matrix, and :func:`top_n` can rank a whole block of users at once:
``argpartition`` to find each row's best ``n``, a fix-up only for the rows
where a tie straddles the cut, then a sort of the ``n`` survivors.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .checks import check_int

__all__ = ["check_k", "check_list", "check_n", "rank_by_score", "top_n"]


def check_n(n) -> int:
    """Validate the length of a recommendation list: an integer >= 1."""
    return check_int("n", n, 1)


def check_k(k) -> int:
    """Validate the cut-off ``k`` of a ranking metric: an integer >= 1."""
    return check_int("k", k, 1)


def check_list(recommended) -> list:
    """A recommendation list as a list, refusing duplicates: a list that shows one item twice is a bug upstream."""
    items = list(recommended)
    if len(set(items)) != len(items):
        seen, dups = set(), []
        for item in items:
            if item in seen and item not in dups:
                dups.append(item)
            seen.add(item)
        raise ValueError(f"recommended list has duplicate items {dups[:5]}; each item may appear once")
    return items


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
    return ranked if k is None else ranked[: check_k(k)]


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``n`` columns of every row of ``scores``, best first, ties to the smaller column.

    Returns ``(columns, values)``, both ``rows x min(n, columns)``; where a row
    has fewer than ``n`` listable entries (finite scores, or ``+inf``) the
    remaining places hold column ``-1`` and value ``-inf``.

    >>> cols, vals = top_n(np.array([[0.5, 0.9, 0.5, -np.inf], [1.0, np.nan, 2.0, 2.0]]), 3)
    >>> cols.tolist(), vals.tolist()
    ([[1, 0, 2], [2, 3, 0]], [[0.9, 0.5, 0.5], [2.0, 2.0, 1.0]])
    """
    n = check_n(n)
    S = np.asarray(scores)
    if S.dtype.kind != "f":  # float32 stays float32: a copy of a large block costs as much as ranking it
        S = S.astype(np.float64)
    if np.isnan(S).any():
        S = np.where(np.isnan(S), -np.inf, S)
    rows, width = S.shape
    n = min(n, width)
    if rows == 0 or n == 0:
        return np.empty((rows, n), dtype=np.intp), np.empty((rows, n))
    if n == width:
        cols = np.broadcast_to(np.arange(width), (rows, width)).copy()
    else:
        cols = np.argpartition(S, width - n, axis=1)[:, width - n:]
        cut = np.take_along_axis(S, cols, axis=1).min(axis=1, keepdims=True)
        # argpartition breaks a tie at the cut arbitrarily: where more columns than it kept share the
        # cut value, keep all above the cut and, of those at it, the leftmost that still fit.
        tied = np.flatnonzero(np.count_nonzero(S >= cut, axis=1) > n)
        if len(tied):
            block, t = S[tied], cut[tied]
            above, at = block > t, block == t
            room = n - above.sum(axis=1, keepdims=True)
            keep = above | (at & (np.cumsum(at, axis=1) <= room))
            cols[tied] = np.nonzero(keep)[1].reshape(len(tied), n)
    values = np.take_along_axis(S, cols, axis=1)
    order = np.lexsort((cols, -values), axis=1)
    cols, values = np.take_along_axis(cols, order, axis=1), np.take_along_axis(values, order, axis=1)
    unlisted = values == -np.inf
    cols[unlisted] = -1
    return cols, values
