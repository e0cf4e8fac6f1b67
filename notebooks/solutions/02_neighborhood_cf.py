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


def predict_signed(R, sim, user, item, k):
    """Mean-centred k-NN prediction that also learns from users who disagree (negative similarity)."""
    raters = R.index[R[item].notna()]
    top = sim.loc[user, raters].abs().sort_values(ascending=False, kind="stable").index[:k]
    s = sim.loc[user, top]
    s = s[s != 0]
    mean_u = R.loc[user].mean()
    if s.empty:
        return float(mean_u)
    deviations = R.loc[s.index, item] - R.loc[s.index].mean(axis=1)
    return float(mean_u + (s * deviations).sum() / s.sum())


def predict_signed_fixed(R: pd.DataFrame, sim: pd.DataFrame, user, item, k: int) -> float:
    """Exercise 02.4, fixed: divide by the sum of |s|, so a neighbour who disagrees pulls the other way.

    The planted bug (``predict_signed`` above, exactly as the notebook shows it) divides by the plain
    sum of the similarities: with one neighbour of similarity -1 the two minus signs cancel and the
    disagreeing neighbour pulls the prediction up instead of down.
    """
    raters = R.index[R[item].notna()]
    top = sim.loc[user, raters].abs().sort_values(ascending=False, kind="stable").index[:k]
    s = sim.loc[user, top]
    s = s[s != 0]
    mean_u = R.loc[user].mean()
    if s.empty:
        return float(mean_u)
    deviations = R.loc[s.index, item] - R.loc[s.index].mean(axis=1)
    return float(mean_u + (s * deviations).sum() / s.abs().sum())


def significance_weighting(R: pd.DataFrame, sim: pd.DataFrame, cutoff: int = 50) -> pd.DataFrame:
    """Exercise 02.5: similarities multiplied by min(n_common, cutoff) / cutoff (Herlocker et al., 1999)."""
    known = R.notna().astype(float)
    n_common = known @ known.T                      # users x users: movies both rated
    return sim * (np.minimum(n_common, cutoff) / cutoff).to_numpy()


SOLUTIONS = {"02.1": cosine_corated, "02.2": pearson_corated, "02.3": predict_knn,
             "02.4": predict_signed_fixed, "02.5": significance_weighting}

# The bug the notebook plants in exercise 02.4, exactly as its cell shows it.
PLANTED_BUGS = {"02.4": predict_signed}
