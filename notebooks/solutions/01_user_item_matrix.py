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


SOLUTIONS = {"01.1": sparsity, "01.2": top_share, "01.3": to_implicit}
