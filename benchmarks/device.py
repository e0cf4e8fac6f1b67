"""When does a GPU pay for the course's torch models? Seconds per training epoch on every device available.

Each model is a *workload*: a function that builds the model for a device and
returns ``run(n_epochs, on_epoch)``, which trains it ``n_epochs`` epochs and
calls ``on_epoch()`` after each (``epoch_callback``, which every iterative
model of the package takes). The clock reads the time at each call, so an
epoch is timed exactly as ``fit`` runs it, without the set-up before the first.
A workload runs on every device this machine has:

* ``cpu, 1 thread``: ``torch.set_num_threads(1)``, the reference of the speed-ups;
* ``cpu, N threads``: every core this process may use;
* ``cuda``: the first GPU, when ``torch.cuda.is_available()``.

For each device: one warm-up epoch (not counted: the set-up, first-call
allocations, the move to the device, and on a GPU the kernels' first
launches), then the median of ``REPEATS`` timed epochs, or of 1 when the
warm-up epoch took longer than ``SLOW_EPOCH_S`` (the slow CPU rows; each row
says how many were timed). The speed-up of a device is the 1-thread CPU time
over its time.

**NeuMF** (:class:`recsys_course.models.ncf.NeuMF`, MLP layers (64, 32, 16))
trained by :func:`recsys_course.models.ncf.train` (the loop ``NCF.fit``
runs, fused Adam, lr 1e-3) on the 80,000 training ratings of ml-100k's random
80/20 split (``random_split(random_state=0)``), each with 4 uniform negatives:
400,000 examples an epoch, negatives drawn anew each epoch on the CPU. The
settings vary one at a time from a base (batch 1024, 32 factors per tower, the
1,682 movies): batch size 256 / 1024 / 8192, width ``n_factors`` 32 / 256, and
a catalogue of 50,000 *synthetic* items (each user's training items re-drawn
uniformly among 50,000, as many as the user has), plus the corner 256 factors x
50,000 items. Not the full grid: on the 2-core machine the results were first
measured on, its CPU rows alone would take over 10 minutes (estimated from
single epochs: 256 factors x 50,000 items at batch 256 took about 2 minutes
an epoch on one thread). On that shared virtual machine, runs differed more
from each other than epochs within a run: in three quiet runs in a row, the
2-thread speed-up was 0.98-1.21x for the first row, 0.79-1.60x for 32
factors x 50,000 items, 1.26-1.53x for 256 factors x 1,682 items, and only
the corner held (1.37-1.44x). Read its CPU speed-ups as a range, not a digit.

Adding a model: write ``def mymodel(device, **settings) -> (run, n_examples)``
(see :func:`neumf`; for an estimator, ``run`` can be
``lambda n, on_epoch: MyModel(n_epochs=n, device=device).fit(ratings,
epoch_callback=lambda model, epoch: on_epoch())``) and add
``"MyModel": (mymodel, [settings, ...])`` to :data:`WORKLOADS`.

Run: ``python benchmarks/device.py`` (``make bench`` runs it with the
others); on a machine with a CUDA build of PyTorch, the same command adds the
GPU's rows. Writes ``benchmarks/results/device.{md,json}``.
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import time

import _report
import numpy as np
import torch

from recsys_course.data import load_movielens_100k
from recsys_course.models.ncf import NeuMF, train
from recsys_course.split import random_split

REPEATS = 3  # timed epochs per row (the median is reported) ...
SLOW_EPOCH_S = 10.0  # ... or 1, when the warm-up epoch took longer than this
SYNTHETIC_ITEMS = 50_000
N_NEGATIVES = 4


# ------------------------------------------------------------------ the data


@functools.cache
def _ml100k_training_pairs() -> tuple[np.ndarray, np.ndarray, int, int]:
    """The 80,000 training (user, item) pairs of the random 80/20 split, as rows of ml-100k's 943 x 1,682."""
    ratings = load_movielens_100k().ratings
    train_part, _, _ = random_split(ratings, test_size=0.2, random_state=0)
    # ml-100k's ids are 1..943 and 1..1682: the network's rows are the ids minus one
    users = train_part["user_id"].to_numpy(dtype=np.int64) - 1
    items = train_part["item_id"].to_numpy(dtype=np.int64) - 1
    return users, items, int(ratings["user_id"].max()), int(ratings["item_id"].max())


def _synthetic_items(users: np.ndarray, n_items: int, random_state: int = 0) -> np.ndarray:
    """For each pair, an item drawn uniformly among ``n_items``, distinct within each user (redrawn until so)."""
    rng = np.random.default_rng(random_state)
    items = rng.integers(0, n_items, len(users))
    while True:
        _, first = np.unique(users * n_items + items, return_index=True)
        repeated = np.ones(len(items), dtype=bool)
        repeated[first] = False
        if not repeated.any():
            return items
        items[repeated] = rng.integers(0, n_items, int(repeated.sum()))


@functools.cache
def _pairs(n_items: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The training pairs' user and item rows and the number of users: ml-100k's movies, or ``n_items`` synthetic."""
    users, items, n_users, n_movies = _ml100k_training_pairs()
    return users, (items if n_items == n_movies else _synthetic_items(users, n_items)), n_users


# ------------------------------------------------------------------ the workloads


def neumf(device: torch.device, *, batch_size: int, n_factors: int, n_items: int):
    """NeuMF at ml-100k size, trained on ``device`` by ``ncf.train`` (4 negatives per positive, as ``NCF.fit``)."""
    users, items, n_users = _pairs(n_items)
    model = NeuMF(n_users, n_items, dim=n_factors, layers=(64, 32, 16), random_state=0)  # drawn on the CPU

    def run(n_epochs, on_epoch):
        train(model, users, items, n_items, epochs=n_epochs, n_negatives=N_NEGATIVES, batch_size=batch_size,
              random_state=0, device=device, epoch_callback=lambda module, epoch: on_epoch())

    return run, len(users) * (1 + N_NEGATIVES)


#: model name -> (workload, the settings it runs with); the first settings are the base the others vary from
WORKLOADS = {
    "NeuMF": (neumf, [
        {"batch_size": 1024, "n_factors": 32, "n_items": 1682},
        {"batch_size": 256, "n_factors": 32, "n_items": 1682},
        {"batch_size": 8192, "n_factors": 32, "n_items": 1682},
        {"batch_size": 1024, "n_factors": 256, "n_items": 1682},
        {"batch_size": 1024, "n_factors": 32, "n_items": SYNTHETIC_ITEMS},
        {"batch_size": 1024, "n_factors": 256, "n_items": SYNTHETIC_ITEMS},
    ]),
}


# ------------------------------------------------------------------ timing


def devices() -> list[tuple[str, torch.device, int]]:
    """(label, device, torch threads) for every device here: the CPU on 1 thread and on all cores, the first GPU."""
    cores = len(os.sched_getaffinity(0))
    found = [("cpu, 1 thread", torch.device("cpu"), 1)]
    if cores > 1:
        found.append((f"cpu, {cores} threads", torch.device("cpu"), cores))
    if torch.cuda.is_available():
        found.append(("cuda", torch.device("cuda"), cores))
    return found


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Enough(Exception):
    """Raised from ``on_epoch`` to end a run once its timed epochs are done."""


def time_epochs(run, device: torch.device) -> dict:
    """Seconds of each epoch of ``run``: a warm-up, then REPEATS timed ones (1 if the warm-up took over SLOW_EPOCH_S)."""
    stamps = []

    def on_epoch():
        _sync(device)
        stamps.append(time.perf_counter())
        wanted = 1 if stamps[0] - start > SLOW_EPOCH_S else REPEATS
        if len(stamps) == 1 + wanted:
            raise _Enough

    _sync(device)
    start = time.perf_counter()
    try:
        run(1 + REPEATS, on_epoch)
    except _Enough:
        pass
    warmup, *timed = np.diff([start, *stamps]).tolist()
    return {"warmup_s": warmup, "epoch_s": statistics.median(timed), "timed_s": timed}


def _settings_label(settings: dict) -> str:
    items = settings.get("n_items")
    parts = [f"batch {settings['batch_size']}" if "batch_size" in settings else None,
             f"{settings['n_factors']} factors" if "n_factors" in settings else None,
             (f"{items:,} items" + (" (synthetic)" if items == SYNTHETIC_ITEMS else "")) if items else None]
    return ", ".join(p for p in parts if p)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main():
    began = time.perf_counter()
    threads_before = torch.get_num_threads()
    found = devices()
    rows = []
    for model_name, (workload, all_settings) in WORKLOADS.items():
        for settings in all_settings:
            row = {"model": model_name, "settings": settings, "label": _settings_label(settings), "devices": {}}
            for label, device, threads in found:
                torch.set_num_threads(threads)
                run, n_examples = workload(device, **settings)
                row["examples_per_epoch"] = n_examples
                row["devices"][label] = time_epochs(run, device)
                print(f"{model_name}, {row['label']}, {label}: {row['devices'][label]['epoch_s']:.2f} s/epoch",
                      flush=True)
            rows.append(row)
    torch.set_num_threads(threads_before)

    labels = [label for label, _, _ in found]
    reference = labels[0]
    header = "| model | settings | examples / epoch | " + " | ".join(
        f"{label} (s) | speed-up" if label != reference else f"{label} (s)" for label in labels) + " |"
    table = [header, "|---|---|---:|" + "---:|" * (2 * len(labels) - 1)]
    for row in rows:
        cells = []
        for label in labels:
            timing = row["devices"][label]
            mark = "" if len(timing["timed_s"]) == REPEATS else f" ({len(timing['timed_s'])} epoch)"
            cells.append(f"{timing['epoch_s']:.2f}{mark}")
            if label != reference:
                cells.append(f"{row['devices'][reference]['epoch_s'] / timing['epoch_s']:.2f}x")
        table.append(f"| {row['model']} | {row['label']} | {row['examples_per_epoch']:,} | " + " | ".join(cells) + " |")

    if torch.cuda.is_available():
        gpu = f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    else:
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}, no GPU seen"
        gpu = f"none (torch.cuda.is_available() is False: torch {torch.__version__}, {build})"
    meta = _report.machine(("numpy", "torch"), cpu=_cpu_name(), gpu=gpu,
                           data="MovieLens-100k, random 80/20 split: the 80,000 training ratings as positives, "
                                f"{N_NEGATIVES} negatives each; 50,000 items: synthetic")
    notes = [
        f"CPU: {meta['cpu']}. GPU: {gpu}.",
        "",
        (f"Seconds per training epoch: one warm-up epoch, then the median of {REPEATS} timed epochs (of 1 where a row "
         f"says so: the warm-up took over {SLOW_EPOCH_S:.0f} s, and the repetitions were cut to keep the CPU part "
         "short; the sizes were not). Speed-up: the 1-thread CPU time over the device's. An epoch is one of "
         "`ncf.train`'s (the loop `NCF.fit` runs), timed from one epoch callback to the next: the negatives drawn on "
         "the CPU, the epoch's examples copied to the device once, one fused Adam step per batch. NeuMF's embeddings "
         "get dense gradients, so every step updates every row of the embedding tables: that part of a step grows "
         "with items x factors, whatever the batch size. The settings vary one at a time from the first row (not the "
         "full grid), plus 256 factors x 50,000 items."),
        "",
    ]
    if not torch.cuda.is_available():
        notes += [("**No GPU was available when these rows were measured**, so there are no GPU rows: "
                   f"{build}, torch {torch.__version__}. To measure one, run `python benchmarks/device.py` on a machine "
                   "with a CUDA build of PyTorch: the same script adds a `cuda` column and its speed-ups, and rewrites "
                   "these files."), ""]
    spreads = {(row["label"], label): max(t["timed_s"]) / min(t["timed_s"]) - 1
               for row in rows for label, t in row["devices"].items() if len(t["timed_s"]) > 1}
    if spreads:
        worst = max(spreads, key=spreads.get)
        notes += [(f"Noise: of the timed epochs of one row and device, the slowest took "
                   f"{100 * np.median(list(spreads.values())):.0f}% longer than the fastest at the median over rows, "
                   f"{100 * spreads[worst]:.0f}% at most ({worst[0]}, {worst[1]}; every epoch's time is in "
                   "`device.json`)."), ""]
    elapsed = time.perf_counter() - began
    notes += [f"The whole run took {elapsed:.0f} s here, loading the data included.", ""]
    results = {"repeats": REPEATS, "slow_epoch_s": SLOW_EPOCH_S, "devices": labels, "rows": rows,
               "elapsed_s": elapsed}
    print(_report.write("device", "Seconds per training epoch on each device: when a GPU pays", meta, results, table,
                        notes))


if __name__ == "__main__":
    main()
