"""Reference solutions to the exercises of notebook 02 (neighbourhood collaborative filtering).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np
import pandas as pd


def cosine_corated(a: pd.Series, b: pd.Series) -> float:
    """Exercise 02.1: cosine of two users' ratings over the items both rated."""
    both = a.notna() & b.notna()
    x, y = a[both].to_numpy(float), b[both].to_numpy(float)
    den = np.sqrt((x**2).sum() * (y**2).sum())
    return float(x @ y / den) if den > 0 else 0.0


def pearson_corated(a: pd.Series, b: pd.Series) -> float:
    """Exercise 02.2: Pearson correlation over co-rated items, centred on their co-rated means."""
    both = a.notna() & b.notna()
    x, y = a[both].to_numpy(float), b[both].to_numpy(float)
    if len(x) == 0:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x**2).sum() * (y**2).sum())
    return float(x @ y / den) if den > 0 else 0.0


def predict_knn(R: pd.DataFrame, sim: pd.DataFrame, user, item, k: int) -> float:
    """Exercise 02.3: mean-centred user-based prediction of R[user, item] from k neighbours."""
    raters = R.index[R[item].notna()]
    top = sim.loc[user, raters].sort_values(ascending=False, kind="stable").iloc[:k]
    top = top[top > 0]
    mean_u = R.loc[user].mean()
    if top.empty:
        return float(mean_u)
    deviations = R.loc[top.index, item] - R.loc[top.index].mean(axis=1)
    return float(mean_u + (top * deviations).sum() / top.sum())


SOLUTIONS = {"02.1": cosine_corated, "02.2": pearson_corated, "02.3": predict_knn}
