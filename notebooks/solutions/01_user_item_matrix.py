"""Reference solutions to the exercises of notebook 01 (the user-item matrix).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np
import pandas as pd


def sparsity(ratings: pd.DataFrame) -> float:
    """Exercise 01.1: fraction of the user x item cells that hold no rating."""
    n_cells = ratings["user_id"].nunique() * ratings["item_id"].nunique()
    n_known = len(ratings[["user_id", "item_id"]].drop_duplicates())
    return 1 - n_known / n_cells


def top_share(ratings: pd.DataFrame, fraction: float) -> float:
    """Exercise 01.2: share of all ratings that go to the top ``fraction`` of movies."""
    counts = ratings["item_id"].value_counts()  # sorted, most rated first
    n_top = int(np.ceil(fraction * len(counts)))
    return counts.iloc[:n_top].sum() / counts.sum()


def to_implicit(ratings: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Exercise 01.3: the (user, item) pairs rated ``threshold`` stars or more."""
    return ratings.loc[ratings["rating"] >= threshold, ["user_id", "item_id"]].reset_index(drop=True)


# Exercise 01.4 shows this function, with its bug, exactly as the notebook does:
def user_means(R):
    """Mean rating of each user (row) of a CSR rating matrix, over the movies that user rated."""
    sums = np.asarray(R.sum(axis=1)).ravel()
    counts = R.shape[1]
    return sums / counts


def fixed_user_means(R):
    """Exercise 01.4, fixed: divide each row's sum by its number of stored (known) cells.

    The bug divided by ``R.shape[1]``, the number of columns, as if every unknown cell were a 0-star
    rating: a user who rated 4 of 8 movies got half their true mean.
    """
    sums = np.asarray(R.sum(axis=1)).ravel()
    counts = np.diff(R.indptr)  # stored cells per row, i.e. ratings per user
    return sums / counts


def popular_recently(ratings: pd.DataFrame, days: int) -> list:
    """Exercise 01.5: item ids by number of ratings in the last ``days`` days, most first, ties by item id."""
    since = ratings["timestamp"].max() - pd.Timedelta(days=days)
    recent = ratings[ratings["timestamp"] > since]
    counts = recent.groupby("item_id").size()  # sorted by item id, so a stable sort keeps ties that way
    return counts.sort_values(ascending=False, kind="stable").index.tolist()


SOLUTIONS = {"01.1": sparsity, "01.2": top_share, "01.3": to_implicit, "01.4": fixed_user_means,
             "01.5": popular_recently}
PLANTED_BUGS = {"01.4": user_means}
