"""UserKNN / ItemKNN against Surprise's KNNWithMeans: speed and RMSE on the same split, same run.

Full MovieLens-100k, a fixed random 80/20 split (``random_split(random_state=0)``),
k=40, min_support=1, for Pearson and cosine similarity. Each configuration is
fitted and used to predict the 20,000 test ratings ``REPEAT`` times; the table
gives the median fit and predict times, the speed-up (Surprise time / ours) and
both RMSEs with their largest per-rating difference.

Writes ``benchmarks/results/knn.{md,json}``. Run with ``make bench``.
"""

from __future__ import annotations

import statistics
import time

import _report
import numpy as np
from surprise import Dataset, KNNWithMeans, Reader

from recsys_course.data import load_movielens_100k
from recsys_course.metrics import rmse
from recsys_course.models.knn import ItemKNN, UserKNN
from recsys_course.split import random_split

REPEAT = 3


def median_time(fn):
    times, out = [], None
    for _ in range(REPEAT):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def run_surprise(train, test, sim, user_based):
    trainset = Dataset.load_from_df(train[["user_id", "item_id", "rating"]],
                                    Reader(rating_scale=(1, 5))).build_full_trainset()

    def fit():
        algo = KNNWithMeans(k=40, min_k=1, verbose=False,
                            sim_options={"name": sim, "user_based": user_based, "min_support": 1})
        return algo.fit(trainset)

    fit_s, algo = median_time(fit)
    pairs = list(zip(test.user_id, test.item_id))
    predict_s, est = median_time(lambda: np.array([algo.predict(u, i).est for u, i in pairs]))
    return fit_s, predict_s, est


def run_ours(train, test, sim, model_cls):
    fit_s, model = median_time(lambda: model_cls(n_neighbors=40, sim=sim, min_support=1).fit(train))
    predict_s, est = median_time(lambda: model.predict(test.user_id.to_numpy(), test.item_id.to_numpy()))
    return fit_s, predict_s, est


def main():
    ratings = load_movielens_100k().ratings
    train, test, _ = random_split(ratings, test_size=0.2, random_state=0)
    rows = []
    for model_cls in (UserKNN, ItemKNN):
        for sim in ("pearson", "cosine"):
            s_fit, s_pred, s_est = run_surprise(train, test, sim, model_cls is UserKNN)
            o_fit, o_pred, o_est = run_ours(train, test, sim, model_cls)
            rows.append({
                "model": model_cls.__name__, "sim": sim, "k": 40,
                "surprise_fit_s": s_fit, "surprise_predict_s": s_pred,
                "ours_fit_s": o_fit, "ours_predict_s": o_pred,
                "speedup": (s_fit + s_pred) / (o_fit + o_pred),
                "rmse_surprise": rmse(test.rating, s_est), "rmse_ours": rmse(test.rating, o_est),
                "max_abs_diff": float(np.max(np.abs(s_est - o_est))),
            })
    meta = _report.machine(("numpy", "scipy", "scikit-surprise"), repeat=REPEAT,
                           data=f"MovieLens-100k, random 80/20 split (random_state=0): "
                                f"{len(train):,} train, {len(test):,} test")
    table = [
        f"{meta['data']}; k=40, min_support=1; median of {REPEAT} runs.",
        "",
        "| model | sim | Surprise fit (s) | Surprise predict (s) | ours fit (s) | ours predict (s) "
        "| speed-up | RMSE Surprise | RMSE ours | max abs diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(f"| {r['model']} | {r['sim']} | {r['surprise_fit_s']:.2f} | {r['surprise_predict_s']:.2f} "
                     f"| {r['ours_fit_s']:.3f} | {r['ours_predict_s']:.3f} | {r['speedup']:.1f}x "
                     f"| {r['rmse_surprise']:.6f} | {r['rmse_ours']:.6f} | {r['max_abs_diff']:.1e} |")
    print(_report.write("knn", "k-NN collaborative filtering: recsys_course vs Surprise KNNWithMeans", meta, rows,
                        table, ["Speed-up = Surprise (fit + predict) / ours (fit + predict)."]))


if __name__ == "__main__":
    main()
