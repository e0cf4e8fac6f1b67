"""Reference solutions to the exercises of notebook 09 (the production architecture).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import numpy as np


def ann_recall(found, exact):
    """Exercise 09.1: per query, the share of the exact top-k among the found ids (-1 is no item); the mean."""
    found, exact = np.asarray(found), np.asarray(exact)
    shares = [np.isin(truth, got[got >= 0]).mean() for got, truth in zip(found, exact)]
    return float(np.mean(shares))


# Exercise 09.2 (find the bug): the function exactly as the notebook shows it, then the fix.
def genre_cap(items, genres_of, cap, n):
    # items: ranked ids; genres_of: id -> set of genres
    counts, kept, waiting = {}, [], []
    for item in items:
        for genre in genres_of[item]:
            counts[genre] = counts.get(genre, 0) + 1
        if len(kept) < n and all(counts[genre] <= cap for genre in genres_of[item]):
            kept.append(item)
        else:
            waiting.append(item)
    return kept + waiting


def genre_cap_fixed(items, genres_of, cap, n):
    """Exercise 09.2: count a movie's genres only once it is in the list; a waiting movie takes no room."""
    counts, kept, waiting = {}, [], []
    for item in items:
        if len(kept) < n and all(counts.get(genre, 0) < cap for genre in genres_of[item]):
            kept.append(item)
            for genre in genres_of[item]:
                counts[genre] = counts.get(genre, 0) + 1
        else:
            waiting.append(item)
    return kept + waiting


# Exercise 09.3 (find the bug): the function exactly as the notebook shows it, then the fix.
def history_before(movies_in_time_order, j, length):
    start = max(0, j - length)
    return list(movies_in_time_order[start + 1:j + 1])


def history_before_fixed(movies_in_time_order, j, length):
    """Exercise 09.3: the `length` movies strictly before position j; the slice stops before j, the target."""
    start = max(0, j - length)
    return list(movies_in_time_order[start:j])


SOLUTIONS = {"09.1": ann_recall, "09.2": genre_cap_fixed, "09.3": history_before_fixed}
PLANTED_BUGS = {"09.2": genre_cap, "09.3": history_before}
