"""Checks of what a user passes in, written once: each names the bad value and says what to do.

The public entry points call these (``Recommender.fit``, the splits, the
metrics, the training loop of the neural models), so a mistake is reported
where it was made, in a sentence, not from deep inside numpy, torch or
LightFM. Nothing here fixes input silently.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .ids import _kind, show_id

__all__ = ["check_choice", "check_fraction", "check_int", "check_number", "check_ratings", "check_timestamps"]


def check_int(name: str, value, minimum: int = 0) -> int:
    """An integer ``>= minimum`` (not a bool, not a float), else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {show_id(value)}")
    return int(value)


def check_number(name: str, value, *, above: float | None = None, at_least: float | None = None,
                 hint: str = "") -> float:
    """A finite real number ``> above`` or ``>= at_least``, else ValueError naming it (and ``hint``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (above is None or value > above) and (at_least is None or value >= at_least)
    if not ok:
        bound = f" > {above}" if above is not None else f" >= {at_least}" if at_least is not None else ""
        raise ValueError(f"{name} must be a finite number{bound}, got {show_id(value)}{': ' + hint if hint else ''}")
    return float(value)


def check_fraction(name: str, value) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {show_id(value)}")
    return float(value)


def check_choice(name: str, value, choices) -> object:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {show_id(value)}")
    return value


def check_ratings(ratings, *, columns=("user_id", "item_id"), rating: bool = True, name: str = "ratings",
                  allow_empty: bool = False) -> pd.DataFrame:
    """A ratings frame a model or a split can use, or a ValueError that says what is wrong with it.

    * a DataFrame with ``columns`` (and ``rating`` when ``rating``);
    * not empty (unless ``allow_empty``); no missing ``user_id`` or ``item_id``,
      and each of them of one kind (numbers or text, not both: ``'1'`` is not ``1``);
    * ``rating`` numbers or booleans (read as 0/1), all finite;
    * each (user, item) pair once: a pair twice would be counted twice, and
      a split could put one copy in train and the other in test.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame with columns {list(columns)}, got {type(ratings).__name__}")
    needed = list(columns) + (["rating"] if rating else [])
    missing = [c for c in needed if c not in ratings.columns]
    if missing:
        raise ValueError(f"{name} needs columns {needed}; missing {missing} (it has {list(ratings.columns)})")
    if ratings.empty and not allow_empty:
        raise ValueError(f"{name} is empty: there is nothing to learn from")
    for column in ("user_id", "item_id"):
        if column in ratings.columns and ratings[column].isna().any():
            row = ratings.index[ratings[column].isna()][0]
            raise ValueError(f"{name} has {int(ratings[column].isna().sum())} missing {column}(s), e.g. in row "
                             f"{show_id(row)}: drop those rows or fill in the ids")
        if column in ratings.columns and len(ratings) and _kind(pd.Index(ratings[column])) == "mixed":
            values = ratings[column]
            text = values[values.map(lambda v: isinstance(v, str))]
            other = values[~values.index.isin(text.index)]
            raise TypeError(f"{name}['{column}'] mixes text and numbers (e.g. {show_id(text.iloc[0])} and "
                            f"{show_id(other.iloc[0])}), so one id could be counted as two: convert the column to one "
                            f"type first, e.g. {name}['{column}'].astype(int) or .astype(str)")
    if rating and len(ratings):
        values = ratings["rating"]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            numeric = pd.to_numeric(values, errors="coerce")
            bad = values[numeric.isna() & values.notna()]
            if len(bad):
                raise ValueError(f"{name}['rating'] must hold numbers; got {show_id(bad.iloc[0])} in row {show_id(bad.index[0])}")
        values = pd.to_numeric(values.astype("float64") if pd.api.types.is_bool_dtype(values) else values,
                               errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            first = ratings[bad].iloc[0]
            raise ValueError(f"{name} has {int(bad.sum())} missing or infinite rating(s), e.g. user "
                             f"{show_id(first['user_id'])}, item {show_id(first['item_id'])}: a model cannot learn "
                             "from them; drop those rows (ratings.dropna(subset=['rating'])) or fill them in")
    if {"user_id", "item_id"} <= set(ratings.columns):
        twice = ratings.duplicated(["user_id", "item_id"], keep=False)
        if twice.any():
            first = ratings[twice].iloc[0]
            raise ValueError(f"{name} has {int(ratings.duplicated(['user_id', 'item_id']).sum())} repeated "
                             f"(user_id, item_id) pair(s), e.g. ({show_id(first['user_id'])}, "
                             f"{show_id(first['item_id'])}): keep one rating per pair, e.g. the latest with "
                             "ratings.sort_values('timestamp').drop_duplicates(['user_id', 'item_id'], keep='last')")
    return ratings


def check_timestamps(ratings: pd.DataFrame, name: str = "ratings") -> pd.Series:
    """The ``timestamp`` column, refusing missing times (a split by time cannot place them)."""
    times = ratings["timestamp"]
    if times.isna().any():
        row = ratings.index[times.isna()][0]
        raise ValueError(f"{name} has {int(times.isna().sum())} missing timestamp(s) (NaT), e.g. in row "
                         f"{show_id(row)}: a split by time cannot place them; drop those rows first")
    return times
