"""Notebook 11's settings for SASRec and GRU4Rec, chosen on the validation item only.

MovieLens-100k, ``leave_last_out`` twice: each user's last rating is the test
item (never used here), the one before it the validation item. Each network
trains on everything before the validation item, and after every
``EVERY`` epochs its validation HR@10 and NDCG@10 (full catalogue, seen items
excluded) are recorded. The notebook then trains each network once on the
whole training set, for the epoch count with the best validation NDCG@10
among those its time budget allows (at most ``NOTEBOOK_EPOCHS``: the
notebook must run in under 4 minutes on two cores, and one SASRec epoch
takes about 4 s on one thread). The best over all 30 epochs is reported too,
so the cost of the cap is on record.

Searched (one thread, ``random_state=0``): the number of epochs (5 to 30)
for SASRec with each loss (softmax, gBCE with 128 negatives and t = 0.75,
BCE with one negative) and for GRU4Rec with the softmax. Fixed, not
searched here: ``dim=64``, ``max_len=50``, two blocks (SASRec) or one GRU
layer, one head, dropout 0.2, batches of 128 windows, learning rate 0.005
(0.001 was tried by hand for the softmax: 0.102 after 40 epochs, still
rising, against 0.110 after 20 at 0.005). Writes ``benchmarks/results/sequential_tuning.{md,json}``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402

import _report  # noqa: E402
import torch  # noqa: E402

from recsys_course.data import load_movielens_100k  # noqa: E402
from recsys_course.evaluation import evaluate  # noqa: E402
from recsys_course.models.sequential import GRU4Rec, SASRec  # noqa: E402
from recsys_course.split import leave_last_out  # noqa: E402

EVERY, MAX_EPOCHS, NOTEBOOK_EPOCHS = 5, 30, 15
RUNS = {
    "SASRec, softmax": (SASRec, {"loss": "softmax", "lr": 5e-3}),
    "SASRec, gBCE (128 negatives, t = 0.75)": (SASRec, {"loss": "gbce", "lr": 5e-3}),
    "SASRec, BCE (1 negative)": (SASRec, {"loss": "bce", "lr": 5e-3}),
    "GRU4Rec, softmax": (GRU4Rec, {"loss": "softmax", "lr": 5e-3}),
}


def main() -> None:
    torch.set_num_threads(1)
    ratings = load_movielens_100k().ratings
    train, _test, _ = leave_last_out(ratings, 1)
    fit_part, validation, _ = leave_last_out(train, 1)
    results = {}
    for name, (cls, params) in RUNS.items():
        curve = []

        def record(model, epoch, curve=curve):
            if epoch % EVERY == 0:
                row = evaluate(model, fit_part, validation, k=10, metrics=["hit_rate", "ndcg"],
                               relevance_threshold=None)
                curve.append({"epoch": epoch, "hit_rate": float(row["hit_rate@10"].iloc[0]),
                              "ndcg": float(row["ndcg@10"].iloc[0])})

        start = time.perf_counter()
        cls(n_epochs=MAX_EPOCHS, random_state=0, **params).fit(fit_part, epoch_callback=record)
        best = max(curve, key=lambda point: point["ndcg"])
        chosen = max((p for p in curve if p["epoch"] <= NOTEBOOK_EPOCHS), key=lambda point: point["ndcg"])
        results[name] = {"params": params, "curve": curve, "best": best, "notebook": chosen,
                         "seconds": time.perf_counter() - start}
        print(f"{name}: best NDCG@10 {best['ndcg']:.4f} at epoch {best['epoch']}; "
              f"within {NOTEBOOK_EPOCHS} epochs {chosen['ndcg']:.4f} at epoch {chosen['epoch']}", flush=True)

    epochs = [point["epoch"] for point in next(iter(results.values()))["curve"]]
    table = ["Validation NDCG@10 after each number of epochs (best of each row in bold, the notebook's choice "
             f"within its {NOTEBOOK_EPOCHS} epochs marked with *):", "",
             "| run | " + " | ".join(str(e) for e in epochs) + " | notebook's epochs | seconds |",
             "|---|" + "---|" * (len(epochs) + 2)]
    for name, result in results.items():
        cells = [(f"**{p['ndcg']:.4f}**" if p is result["best"] else f"{p['ndcg']:.4f}")
                 + ("*" if p is result["notebook"] else "") for p in result["curve"]]
        table.append(f"| {name} | " + " | ".join(cells)
                     + f" | {result['notebook']['epoch']} | {result['seconds']:.0f} |")
    notes = ["Each user's second-to-last rating is the validation item; the test item is never used. "
             f"The notebook trains each network, on the whole training set, for the epoch count with the best "
             f"validation NDCG@10 among 5, 10 and {NOTEBOOK_EPOCHS}: its time budget (under 4 minutes on two "
             "cores, and one SASRec epoch takes about 4 s on one thread) allows no more. What the cap costs on "
             "validation is the difference between the starred and the bold figure of each row.", ""]
    print(_report.write("sequential_tuning", "SASRec and GRU4Rec on the validation item (notebook 11)",
                        _report.machine(("torch", "numpy")), results, table, notes))


if __name__ == "__main__":
    main()
