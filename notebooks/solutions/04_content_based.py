"""Reference solutions to the exercises of notebook 04 (content-based filtering).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np
import pandas as pd


def most_similar(vectors: pd.DataFrame, title: str, n: int) -> list:
    """Exercise 04.1: the n titles whose vectors have the largest cosine with `title`'s."""
    X = vectors.to_numpy(float)
    x = vectors.loc[title].to_numpy(float)
    sims = pd.Series(X @ x / (np.linalg.norm(X, axis=1) * np.linalg.norm(x)), index=vectors.index)
    return sims.drop(title).sort_values(ascending=False, kind="stable").index[:n].tolist()


def smooth_idf(documents: list, term: str) -> float:
    """Exercise 04.2: scikit-learn's smoothed IDF of `term` over whitespace-tokenised documents."""
    n = len(documents)
    df = sum(term in doc.split() for doc in documents)
    return float(np.log((1 + n) / (1 + df)) + 1)


def centred_profile(user_ratings: pd.Series, vectors: pd.DataFrame) -> pd.Series:
    """Exercise 04.3: mean-centred, rating-weighted average of the rated movies' vectors."""
    weights = user_ratings - user_ratings.mean()
    return vectors.loc[user_ratings.index].mul(weights, axis=0).sum() / len(user_ratings)


# Exercise 04.4 (find the bug): the function exactly as the notebook shows it, bug included ...
def cosine_ranking(profile, vectors):
    """Every movie's cosine with `profile`, best first (`vectors`: one row per movie)."""
    X = vectors.to_numpy(float)
    p = np.asarray(profile, float)
    cosines = X @ p / np.linalg.norm(p)
    return pd.Series(cosines, index=vectors.index).sort_values(ascending=False)


# ... and fixed: a cosine divides by the lengths of *both* vectors. Dividing by the profile's length
# alone favours movies with long vectors (many strong genres). On TF-IDF rows, all of length 1, the
# bug is invisible, which is how it survives until someone uses vectors of other lengths.
def fixed_cosine_ranking(profile, vectors):
    """Every movie's cosine with `profile`, best first (`vectors`: one row per movie)."""
    X = vectors.to_numpy(float)
    p = np.asarray(profile, float)
    cosines = X @ p / (np.linalg.norm(X, axis=1) * np.linalg.norm(p))
    return pd.Series(cosines, index=vectors.index).sort_values(ascending=False)


def add_popularity_token(documents: pd.Series, counts: pd.Series) -> pd.Series:
    """Exercise 04.5: each document plus ' popularity_b', b = floor(log2(1 + number of ratings))."""
    n = counts.reindex(documents.index, fill_value=0)
    return documents + " popularity_" + np.floor(np.log2(1 + n)).astype(int).astype(str)


SOLUTIONS = {"04.1": most_similar, "04.2": smooth_idf, "04.3": centred_profile,
             "04.4": fixed_cosine_ranking, "04.5": add_popularity_token}
PLANTED_BUGS = {"04.4": cosine_ranking}
