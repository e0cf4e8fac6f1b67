"""Next-item baselines on MovieLens-100k: settings chosen on validation, then measured once on test.

The task of notebook 11: each user's last rating by time is the test item
(``leave_last_out(ratings, 1)``); of the rest, each user's last is the
validation item (``leave_last_out(train, 1)``). Every rating is an
interaction; the whole catalogue is ranked, the user's training items
excluded; HR@10 and NDCG@10 (``relevance_threshold=None``).

1. **Validation.** Each model is fitted on the training part without the
   validation items and scored on them, over a small grid:
   ``RecentPopularity(window_days)`` in {7, 14, 30, 90, None},
   ``MarkovChain(smoothing)`` in {0.01, 1, 10, 100, 1000},
   ``RecentItemKNN(n_recent, decay)`` in {1, 3, 5, 10} x {0.5, 0.8, 1.0}
   (``n_neighbors=None``). The setting with the best validation NDCG@10 is
   kept. Two reference rows are scored but never chosen from: all-time
   ``Popularity``, and ``RecentItemKNN`` over the whole history with equal
   weights (no order: item-kNN).
2. **Test.** The chosen settings, refitted on the whole training part,
   are scored once on the test items with ``leaderboard`` (bootstrap
   intervals over users), and with the sampled protocol
   (``sampled_evaluate``: the test item among 100 negatives, uniform and by
   popularity, ``random_state=0``).
3. **Fit time**: best of ``REPEAT`` fits on the training part, one thread.

Writes ``benchmarks/results/next_item.{md,json}``. Run with ``make bench``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one thread for every library
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time

import _report

from recsys_course.data import load_movielens_100k
from recsys_course.evaluation import evaluate, leaderboard, sampled_evaluate
from recsys_course.models.baselines import Popularity
from recsys_course.models.next_item import MarkovChain, RecentItemKNN, RecentPopularity
from recsys_course.split import leave_last_out

REPEAT = 3
K = 10
METRICS = ["hit_rate", "ndcg"]
GRID = {
    "RecentPopularity": [RecentPopularity(window_days=w) for w in (7, 14, 30, 90, None)],
    "MarkovChain": [MarkovChain(smoothing=a) for a in (0.01, 1.0, 10.0, 100.0, 1000.0)],
    "RecentItemKNN": [RecentItemKNN(n_recent=n, decay=d) for n in (1, 3, 5, 10) for d in (0.5, 0.8, 1.0)],
}
WHOLE_HISTORY = 10_000  # longer than any user's history: n_recent = everything


def _setting(model) -> str:
    params = model.get_params()
    if isinstance(model, RecentItemKNN) and params["n_recent"] >= WHOLE_HISTORY:
        params["n_recent"] = "all"
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "n_neighbors" or v is not None)


def _scores(model, train, test) -> dict:
    row = evaluate(model, train, test, K, METRICS, relevance_threshold=None).iloc[0]
    return {"hr@10": float(row[f"hit_rate@{K}"]), "ndcg@10": float(row[f"ndcg@{K}"])}


def main() -> None:
    ratings = load_movielens_100k().ratings
    train, test, _ = leave_last_out(ratings, 1)
    fit_part, validation, _ = leave_last_out(train, 1)

    validation_rows, chosen = [], {}
    start = time.perf_counter()
    for family, candidates in GRID.items():
        best = None
        for model in candidates:
            scores = _scores(model.fit(fit_part), fit_part, validation)
            validation_rows.append({"model": family, "setting": _setting(model), **scores})
            if best is None or scores["ndcg@10"] > best[0]:
                best = (scores["ndcg@10"], model)
        chosen[family] = best[1]
    references = {"Popularity": Popularity(),
                  "RecentItemKNN": RecentItemKNN(n_recent=WHOLE_HISTORY, decay=1.0)}
    for family, model in references.items():
        scores = _scores(model.fit(fit_part), fit_part, validation)
        validation_rows.append({"model": family, "setting": _setting(model) or "-", "reference": True, **scores})
    validation_seconds = time.perf_counter() - start

    final = {f"{family} ({_setting(model)})": model for family, model in chosen.items()}
    final["Popularity (all time)"] = references["Popularity"]
    final["RecentItemKNN (n_recent=all, decay=1.0)"] = references["RecentItemKNN"]
    fit_seconds = {}
    for name, model in final.items():
        fit_seconds[name], _ = _report.best_time(lambda m=model: m.fit(train), REPEAT)
    board = leaderboard(final, train, test, k=K, metrics=METRICS, relevance_threshold=None)
    test_rows = []
    for name, model in final.items():
        row = board.table.loc[name]
        sampled = {s: sampled_evaluate(model, train, test, n_negatives=100, k=K, sampling=s, random_state=0)
                   for s in ("uniform", "popularity")}
        test_rows.append({
            "model": name, "fit_s": fit_seconds[name],
            **{f"{m}@{K}{suffix}": float(row[f"{m}@{K}{suffix}"]) for m in METRICS for suffix in ("", " low", " high")},
            **{f"sampled_{s}_{m}@{K}": float(frame[m].mean()) for s, frame in sampled.items()
               for m in ("hit_rate", "ndcg")},
        })
    meta = _report.machine(("numpy", "scipy", "pandas"), threads=1, validation_seconds=round(validation_seconds, 1),
                           test_users=int(test.user_id.nunique()), validation_users=int(validation.user_id.nunique()))

    table = ["## Validation (fit without each user's last two ratings, score the second-to-last)", "",
             "| model | setting | HR@10 | NDCG@10 |", "|---|---|---:|---:|"]
    for r in validation_rows:
        if r.get("reference"):
            mark = " (reference)"
        else:
            mark = " **chosen**" if r["setting"] == _setting(chosen[r["model"]]) else ""
        table.append(f"| {r['model']}{mark} | {r['setting']} | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} |")
    table += ["", "## Test (chosen settings refitted on train; the last rating of each of the 943 users)", "",
              ("| model | HR@10 [95% CI] | NDCG@10 [95% CI] | sampled-100 HR@10 | sampled-100 NDCG@10 | "
               "pop-sampled-100 HR@10 | pop-sampled-100 NDCG@10 | fit (s) |"),
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(test_rows, key=lambda r: -r[f"ndcg@{K}"]):
        interval = {m: f"{r[f'{m}@{K}']:.4f} [{r[f'{m}@{K} low']:.3f}, {r[f'{m}@{K} high']:.3f}]" for m in METRICS}
        table.append(f"| {r['model']} | {interval['hit_rate']} | {interval['ndcg']} | "
                     f"{r[f'sampled_uniform_hit_rate@{K}']:.4f} | {r[f'sampled_uniform_ndcg@{K}']:.4f} | "
                     f"{r[f'sampled_popularity_hit_rate@{K}']:.4f} | {r[f'sampled_popularity_ndcg@{K}']:.4f} | "
                     f"{r['fit_s']:.3f} |")
    orders = {column: [r["model"].split(" (")[0] + (" (all)" if "n_recent=all" in r["model"] else "")
                       for r in sorted(test_rows, key=lambda r: -r[column])]
              for column in (f"hit_rate@{K}", f"ndcg@{K}", f"sampled_uniform_hit_rate@{K}",
                             f"sampled_uniform_ndcg@{K}", f"sampled_popularity_hit_rate@{K}")}
    notes = [("Full ranking: the whole catalogue, each user's training items excluded. Sampled: the test item among "
              "100 items the user never interacted with, uniform or by training popularity (`sampled_evaluate`, "
              "random_state=0; ties pessimistic). Settings were chosen on validation NDCG@10 only (the first of "
              "equal ones in grid order); the test was scored once. Fit time: best of 3, one thread."), "",
             "The models in the order of each test column, best first:", "",
             *[f"- {column}: {' > '.join(order)}" for column, order in orders.items()], ""]
    _report.write("next_item", "Next-item baselines on MovieLens-100k (leave-last-out by time)", meta,
                  {"validation": validation_rows, "test": test_rows}, table, notes)
    print("\n".join(table))


if __name__ == "__main__":
    main()
