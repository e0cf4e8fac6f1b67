"""FunkSVD against Surprise's SVD: 5-fold RMSE and fit time, same folds, same run.

Both with Surprise's default hyperparameters (100 factors, 20 epochs, lr 0.005,
reg 0.02, init N(0, 0.1)), on the 5 folds of ``recsys_course.split.kfold``
(random_state=0) that notebook 03 uses. FunkSVD's first fit includes numba's
compilation unless the cache already holds it; the median over folds hides that.

Writes ``benchmarks/results/mf.{md,json}``. Run with ``make bench``.
"""

from __future__ import annotations

import statistics
import time

import _report
import numpy as np
from surprise import SVD, Dataset, Reader

from recsys_course.data import load_movielens_100k
from recsys_course.metrics import rmse
from recsys_course.models.mf import FunkSVD
from recsys_course.split import kfold


def main():
    ratings = load_movielens_100k().ratings[["user_id", "item_id", "rating"]]
    reader = Reader(rating_scale=(1, 5))
    rows = []
    for k, (train, test, _) in enumerate(kfold(ratings, n_splits=5, random_state=0)):
        trainset = Dataset.load_from_df(train, reader).build_full_trainset()
        start = time.perf_counter()
        algo = SVD(random_state=0).fit(trainset)
        s_fit = time.perf_counter() - start
        s_est = np.array([algo.predict(u, i).est for u, i in zip(test.user_id, test.item_id)])
        start = time.perf_counter()
        ours = FunkSVD(random_state=0).fit(train)
        o_fit = time.perf_counter() - start
        o_est = ours.predict(test.user_id.to_numpy(), test.item_id.to_numpy())
        rows.append({"fold": k, "surprise_fit_s": s_fit, "ours_fit_s": o_fit,
                     "rmse_surprise": rmse(test.rating, s_est), "rmse_ours": rmse(test.rating, o_est),
                     "max_abs_diff": float(np.max(np.abs(s_est - o_est)))})
    med = {key: statistics.median(r[key] for r in rows) for key in ("surprise_fit_s", "ours_fit_s")}
    mean = {key: float(np.mean([r[key] for r in rows])) for key in ("rmse_surprise", "rmse_ours")}
    meta = _report.machine(("numpy", "numba", "scikit-surprise"),
                           data="MovieLens-100k, kfold(n_splits=5, random_state=0)")
    table = [
        "| fold | Surprise SVD fit (s) | FunkSVD fit (s) | RMSE Surprise | RMSE FunkSVD | max abs diff |",
        "|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['fold']} | {r['surprise_fit_s']:.2f} | {r['ours_fit_s']:.3f} | {r['rmse_surprise']:.6f} "
          f"| {r['rmse_ours']:.6f} | {r['max_abs_diff']:.1e} |" for r in rows],
        f"| **mean / median** | {med['surprise_fit_s']:.2f} | {med['ours_fit_s']:.3f} | {mean['rmse_surprise']:.6f} "
        f"| {mean['rmse_ours']:.6f} | |",
    ]
    notes = [f"Fit-time ratio (median Surprise / median FunkSVD): {med['surprise_fit_s'] / med['ours_fit_s']:.1f}x. "
             "Default hyperparameters for both (100 factors, 20 epochs)."]
    print(_report.write("mf", "Biased MF: recsys_course FunkSVD vs Surprise SVD", meta, rows, table, notes))


if __name__ == "__main__":
    main()
