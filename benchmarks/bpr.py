"""BPR: the course's numba SGD against the `implicit` library's, same data, same settings, one thread.

MovieLens-100k, random 80/20 split (``random_split(random_state=0)``), every
training rating an interaction. At ``implicit``'s default settings (100
factors, learning rate 0.01, regularisation 0.01, 100 epochs) and its
sampling (negatives in proportion to popularity, a draw that hits one of the
user's positives skipped):

* ours: ``recsys_course.models.bpr.BPR(negative_sampling="popularity")``
  (float64);
* ``implicit`` 0.7.3's ``BayesianPersonalizedRanking``, ``num_threads=1``,
  in its default float32 and in float64 (ours computes in float64).

Plus ours at the package's defaults (uniform negatives, 64 factors, lr 0.05,
reg 0.02, 100 epochs), for reference. For each: the fit time and the time of
the top-10 lists of all 943 training users (ours: ``recommend_batch(n=10)``;
``implicit``: ``recommend(userids, user_items, N=10,
filter_already_liked_items=True)``), the best of ``SEEDS`` runs (one per
seed); and NDCG@10 / precision@10 on the test split (relevant: test rating
>= 4, training items excluded), the mean and spread over the seeds. The
numba kernels are compiled (or loaded from their cache) before any timing.
Writes ``benchmarks/results/bpr.{md,json}``. Run with ``make bench``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one thread for every library
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import time

import _report
import numpy as np
import pandas as pd
from implicit.cpu.bpr import BayesianPersonalizedRanking
from scipy import sparse

from recsys_course.data import load_movielens_100k, load_toy
from recsys_course.metrics import ranking_metrics
from recsys_course.models.bpr import BPR
from recsys_course.split import random_split

SEEDS = (0, 1, 2)
TOPN_REPEAT = 5
IMPLICIT_DEFAULTS = {"factors": 100, "lr": 0.01, "reg": 0.01, "epochs": 100}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    ratings = load_movielens_100k().ratings
    train, test, _ = random_split(ratings, test_size=0.2, random_state=0)
    relevant = test[test.rating >= 4].groupby("user_id")["item_id"].agg(set).to_dict()
    test_users = np.sort(test.user_id.unique())
    user_ids, item_ids = pd.Index(np.sort(train.user_id.unique())), pd.Index(np.sort(train.item_id.unique()))
    X = sparse.csr_matrix((np.ones(len(train), dtype=np.float32),
                           (user_ids.get_indexer(train.user_id), item_ids.get_indexer(train.item_id))),
                          shape=(len(user_ids), len(item_ids)))
    BPR(n_factors=2, n_epochs=2).fit(load_toy().ratings)  # compile the numba kernels (or load their cache) first

    def quality(lists: dict) -> tuple[float, float]:
        table = ranking_metrics({u: lists[u] for u in test_users}, relevant, 10, ["ndcg", "precision"])
        return float(table["ndcg@10"].mean()), float(table["precision@10"].mean())

    def ours(seed, **params):
        fit_s, model = timed(lambda: BPR(random_state=seed, **params).fit(train))
        topn_s, lists = _report.best_time(lambda: model.recommend_batch(n=10), TOPN_REPEAT)
        return fit_s, topn_s, quality({u: g.tolist() for u, g in lists.groupby("user_id")["item_id"]})

    def theirs(seed, dtype):
        s = IMPLICIT_DEFAULTS
        model = BayesianPersonalizedRanking(factors=s["factors"], learning_rate=s["lr"], regularization=s["reg"],
                                            iterations=s["epochs"], num_threads=1, random_state=seed, dtype=dtype)
        fit_s, _ = timed(lambda: model.fit(X, show_progress=False))
        every = np.arange(len(user_ids))
        topn_s, (ids, _) = _report.best_time(lambda: model.recommend(every, X, N=10, filter_already_liked_items=True),
                                             TOPN_REPEAT)
        return fit_s, topn_s, quality({u: item_ids[row].tolist() for u, row in zip(user_ids, ids)})

    s = IMPLICIT_DEFAULTS
    same = {"n_factors": s["factors"], "lr": s["lr"], "reg": s["reg"], "n_epochs": s["epochs"]}
    configs = [
        ("ours, popularity negatives (implicit's algorithm), float64",
         lambda seed: ours(seed, negative_sampling="popularity", **same)),
        ("implicit BPR, float32 (its default)", lambda seed: theirs(seed, np.float32)),
        ("implicit BPR, float64", lambda seed: theirs(seed, np.float64)),
        ("ours, package defaults (uniform negatives, 64 factors, lr 0.05, reg 0.02)", lambda seed: ours(seed)),
    ]
    runs_by_config = {name: [] for name, _ in configs}
    for seed in SEEDS:  # interleaved, so that a busy spell of the machine slows every model alike
        for name, run in configs:
            runs_by_config[name].append(run(seed))
    rows = []
    for name, runs in runs_by_config.items():
        fit_s, topn_s = min(r[0] for r in runs), min(r[1] for r in runs)
        ndcg, precision = np.array([r[2][0] for r in runs]), np.array([r[2][1] for r in runs])
        rows.append({"model": name, "fit_s": fit_s, "top10_s": topn_s, "ndcg@10": ndcg.tolist(),
                     "precision@10": precision.tolist()})
    base = rows[0]
    table = ["| model | fit (s) | ours / this | top-10, all users (ms) | ours / this | NDCG@10 | precision@10 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        ndcg, precision = np.array(row["ndcg@10"]), np.array(row["precision@10"])
        table.append(f"| {row['model']} | {row['fit_s']:.3f} | {base['fit_s'] / row['fit_s']:.2f}x "
                     f"| {row['top10_s'] * 1e3:.1f} | {base['top10_s'] / row['top10_s']:.2f}x "
                     f"| {ndcg.mean():.4f} ± {ndcg.std(ddof=1):.4f} | {precision.mean():.4f} ± {precision.std(ddof=1):.4f} |")
    meta = _report.machine(("numpy", "scipy", "numba", "implicit"),
                           data=f"MovieLens-100k, random 80/20 split: {len(user_ids)} users, {len(item_ids)} items, "
                                f"{X.nnz} interactions; {len(test_users)} test users")
    notes = [(f"Settings of the first three rows: implicit's defaults ({s['factors']} factors, learning rate {s['lr']}, "
              f"regularisation {s['reg']}, {s['epochs']} epochs), one thread. Times: best of {len(SEEDS)} fits "
              f"(seeds {', '.join(map(str, SEEDS))}) and of {TOPN_REPEAT} top-10 runs; \"ours / this\" is the first "
              "row's time over the row's (below 1: ours is faster). NDCG@10 and precision@10: mean ± standard "
              "deviation over the seeds, relevant = test rating >= 4, training items excluded. The last row is for "
              "reference: its settings were chosen on a validation split cut from the training part, not on this "
              "test split."), ""]
    print(_report.write("bpr", "BPR: our fit against implicit's", meta, {"rows": rows, "seeds": list(SEEDS)},
                        table, notes))


if __name__ == "__main__":
    main()
