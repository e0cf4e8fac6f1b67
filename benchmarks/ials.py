"""Implicit ALS: the course's from-scratch fit against the `implicit` library's, on the same data and start.

MovieLens-100k, random 80/20 split (``random_split(random_state=0)``), every
training rating an interaction with confidence ``1 + alpha`` (alpha = 10),
64 factors, lambda = 0.1, 15 sweeps, the same random starting factors for
both. Timed (best of ``REPEAT``, one thread everywhere):

* ours: ``recsys_course.models.implicit_mf.implicit_als`` (numpy, one exact
  solve per user and per item, ``Y^T Y`` shared per half-sweep);
* ``implicit`` 0.7.3's ``AlternatingLeastSquares`` with the exact solver
  (``use_cg=False``, float64: the computation ours is proven equal to) and
  with its default conjugate-gradient solver (float32, 3 CG steps per solve:
  a different, approximate computation, listed for what a team would run).

The largest absolute difference between our factors and the exact solver's
is reported too, and the time to list the top 10 for every user from the
fitted factors (seen items excluded): ours through the protocol's
``ImplicitALS.recommend_batch``, ``implicit``'s through its batch
``recommend``. Writes ``benchmarks/results/ials.{md,json}``. Run with
``make bench``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one thread for every library
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


import _report  # noqa: E402
import numpy as np  # noqa: E402
from implicit.cpu.als import AlternatingLeastSquares  # noqa: E402
from scipy import sparse  # noqa: E402

from recsys_course.data import load_movielens_100k  # noqa: E402
from recsys_course.models.implicit_mf import ImplicitALS, implicit_als  # noqa: E402
from recsys_course.split import random_split  # noqa: E402

REPEAT = 3
FACTORS, REG, ALPHA, SWEEPS = 64, 0.1, 10.0, 15


def best_time(fn, repeat=REPEAT):
    return _report.best_time(fn, repeat)


def main():
    ratings, _, _ = load_movielens_100k()
    train, _, _ = random_split(ratings, test_size=0.2, random_state=0)
    users, user_index = np.unique(train.user_id, return_inverse=True)
    items, item_index = np.unique(train.item_id, return_inverse=True)
    confidence = sparse.csr_matrix((1.0 + ALPHA * np.ones(len(train)), (user_index, item_index)),
                                   shape=(len(users), len(items)))
    rng = np.random.default_rng(0)
    start_users, start_items = rng.random((len(users), FACTORS)) * 0.01, rng.random((len(items), FACTORS)) * 0.01

    def theirs(use_cg, dtype):
        def fit():
            model = AlternatingLeastSquares(factors=FACTORS, regularization=REG, alpha=1.0, dtype=dtype,
                                            use_cg=use_cg, iterations=SWEEPS, num_threads=1, random_state=0)
            model.user_factors, model.item_factors = start_users.astype(dtype), start_items.astype(dtype)
            model.fit(confidence, show_progress=False)
            return model
        return fit

    ours_s, (X, Y) = best_time(lambda: implicit_als(confidence, start_users, start_items, REG, SWEEPS))
    exact_s, exact = best_time(theirs(False, np.float64))
    cg_s, _ = best_time(theirs(True, np.float32))
    gap = max(np.abs(X - exact.user_factors).max(), np.abs(Y - exact.item_factors).max())
    # top-10 for every user from the same factors: ours through the protocol, implicit's batch recommend
    model = ImplicitALS(n_factors=FACTORS, n_epochs=1).fit(train)
    model.user_factors_, model.item_factors_ = X, Y
    ours_top_s, _ = best_time(lambda: model.recommend_batch(n=10))
    every_user = np.arange(len(users))
    theirs_top_s, _ = best_time(lambda: exact.recommend(every_user, confidence, N=10, filter_already_liked_items=True))
    rows = [{"fit": "ours (numpy, exact)", "seconds": ours_s},
            {"fit": "implicit, exact (use_cg=False, float64)", "seconds": exact_s},
            {"fit": "implicit, conjugate gradient (default, float32)", "seconds": cg_s}]
    table = ["| fit | seconds | ours / this |", "|---|---:|---:|"]
    table += [f"| {row['fit']} | {row['seconds']:.3f} | {ours_s / row['seconds']:.1f}x |" for row in rows]
    meta = _report.machine(("numpy", "scipy", "implicit"),
                           data=f"MovieLens-100k, random 80/20 split: {len(users)} users, {len(items)} items, "
                                f"{confidence.nnz} interactions")
    table += ["", "| top-10 for all users | seconds | ours / this |", "|---|---:|---:|",
              f"| ours (`ImplicitALS.recommend_batch`) | {ours_top_s:.4f} | 1.0x |",
              f"| implicit (`recommend`, batch, float64 factors) | {theirs_top_s:.4f} | {ours_top_s / theirs_top_s:.1f}x |"]
    rows += [{"top10": "ours (recommend_batch)", "seconds": ours_top_s},
             {"top10": "implicit recommend (batch)", "seconds": theirs_top_s}]
    notes = [(f"{FACTORS} factors, lambda {REG}, confidence 1 + {ALPHA:g} per interaction, {SWEEPS} sweeps, the same "
             f"start for all. Best of {REPEAT}, one thread. Largest |ours - implicit exact| over all factors: "
             f"{gap:.1e}.")]
    print(_report.write("ials", "Implicit ALS: our fit against implicit's", meta,
                        {"rows": rows, "max_abs_difference_to_exact": float(gap)}, table, notes))


if __name__ == "__main__":
    main()
