"""Reference solutions to the exercises of notebook 10 (serving and operating a recommender).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

from collections import OrderedDict

import numpy as np


def lru_hit_rate(requests, capacity):
    """Exercise 10.1: the share of ``requests`` answered from an LRU cache of ``capacity`` keys."""
    cache, hits = OrderedDict(), 0
    for key in requests:
        if key in cache:
            hits += 1
            cache.move_to_end(key)
        else:
            cache[key] = True
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / len(requests)


# Exercise 10.2 (find the bug): the function exactly as the notebook shows it, then the fix.
def p99_latency_ms(due, sent, done):
    # due: when each request should have left; sent: when it did; done: when its answer arrived (seconds)
    waits = np.asarray(done) - np.asarray(sent)
    return float(np.percentile(waits, 99) * 1000)


def p99_latency_ms_fixed(due, sent, done):
    """The wait a user sees starts when the request was due: a late send is part of it (coordinated omission)."""
    waits = np.asarray(done) - np.asarray(due)
    return float(np.percentile(waits, 99) * 1000)


SOLUTIONS = {"10.1": lru_hit_rate, "10.2": p99_latency_ms_fixed}
PLANTED_BUGS = {"10.2": p99_latency_ms}
