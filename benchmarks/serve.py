"""Latency of the recommender service (notebook 10) under fixed request rates, against the framework's floor.

The real server (``python -m recsys_course.serve``: FastAPI, uvicorn, one
worker) serving notebook 09's two-stage model, trained afresh into a temporary
folder, in its own process on 127.0.0.1. ``recsys_course.loadgen`` offers an
open-loop load at each rate for ``DURATION`` s (latency from each request's due
time, so a queue shows), ``REPEAT`` times; the table gives the median of the
repeats and, for p99, their range. Three servers:

* **cold**: the per-user cache off, every request runs the whole model;
* **warm**: the cache on and every user asked once before the runs;
* **floor**: the same uvicorn and FastAPI answering ``GET /health`` (no model),
  what no endpoint of this service can beat: the reference the others are a
  multiple of.

The goal (issue 19): p99 under 10 ms for a top-10 at 200 requests/s on one
worker. Also the split of one cold request by stage (in-process). Writes
``benchmarks/results/serve.{md,json}``. Run with ``make bench``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one thread for every library
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import _report  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from recsys_course import serve  # noqa: E402
from recsys_course.loadgen import run_load  # noqa: E402

RATES = (50, 100, 200, 300, 400)
DURATION = 5
REPEAT = 3
GOAL_RATE, GOAL_P99_MS = 200, 10.0
torch.set_num_threads(1)


def _path(i: int) -> str:
    return f"/users/{1 + i % 943}/recommendations?n=10"


def _runs(url: str, paths, warm_up=None) -> dict:
    out = {}
    for rate in RATES:
        runs = []
        for _ in range(REPEAT):
            if warm_up:
                warm_up()
            runs.append(run_load(url, paths, rate=rate, duration=DURATION, warmup=20, timeout=10).summary())
            time.sleep(0.5)
        out[rate] = runs
    return out


def _row(name: str, rate: int, runs: list, floor: dict | None) -> tuple[str, dict]:
    p = {q: [r[f"latency_{q}_ms"] for r in runs] for q in ("p50", "p95", "p99")}
    errors = int(sum(r["errors"] for r in runs))
    throughput = float(np.median([r["throughput_rps"] for r in runs]))
    p99 = float(np.median(p["p99"]))
    ratio = p99 / float(np.median([r["latency_p99_ms"] for r in floor[rate]])) if floor else None
    cells = (f"| {name} | {rate} | {throughput:.0f} | {np.median(p['p50']):.2f} | {np.median(p['p95']):.2f} | "
             f"{p99:.2f} ({min(p['p99']):.2f}-{max(p['p99']):.2f}) | {'-' if ratio is None else f'{ratio:.1f}x'} | "
             f"{errors} |")
    return cells, {"server": name, "rate": rate, "throughput_rps": throughput, "p50_ms": float(np.median(p["p50"])),
                   "p95_ms": float(np.median(p["p95"])), "p99_ms": p99, "p99_runs_ms": p["p99"], "errors": errors,
                   "p99_over_floor": ratio}


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="bench-serve-")
    try:
        artifact = f"{workdir}/recommender.pkl"
        start = time.perf_counter()
        serve.train_artifact(artifact, verbose=False)
        train_s = time.perf_counter() - start
        service = serve.Service(serve.load_artifact(artifact), cache_size=0)
        model = service.artifact.arms["ranker"]
        stages = dict.fromkeys(("candidates", "features", "ranker", "rerank"), 0.0)
        start = time.perf_counter()
        for user in range(1, 201):
            model.recommend(user, n=10)
            for k in stages:
                stages[k] += model.stage_seconds_[k] / 200 * 1000
        model_ms = (time.perf_counter() - start) / 200 * 1000
        start = time.perf_counter()
        for user in range(1, 201):
            service.recommend(user, n=10)
        service_ms = (time.perf_counter() - start) / 200 * 1000

        with serve.ServerProcess(artifact, log=f"{workdir}/floor.jsonl") as server:
            floor = _runs(server.url, ["/health"])
        with serve.ServerProcess(artifact, log=f"{workdir}/cold.jsonl", cache_size=0) as server:
            cold = _runs(server.url, _path)
        with serve.ServerProcess(artifact, log=f"{workdir}/warm.jsonl") as server:
            warm = _runs(server.url, _path, warm_up=lambda: run_load(server.url, _path, rate=300, n_requests=943))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    table = ["| server | offered req/s | served req/s | p50 ms | p95 ms | p99 ms (range of repeats) | p99 / floor's "
             "| errors |", "|---|---|---|---|---|---|---|---|"]
    results = []
    for name, runs in (("floor (GET /health)", floor), ("cold (no cache)", cold), ("warm (cached)", warm)):
        for rate in RATES:
            line, row = _row(name, rate, runs[rate], None if runs is floor else floor)
            table.append(line)
            results.append(row)
    goal = {r["server"]: r["p99_ms"] for r in results if r["rate"] == GOAL_RATE}
    verdict = "; ".join(f"{k}: p99 {v:.2f} ms ({'met' if v < GOAL_P99_MS else 'missed'})" for k, v in goal.items())
    notes = [
        f"Goal: p99 under {GOAL_P99_MS:.0f} ms for a top-10 at {GOAL_RATE} requests/s on one worker. At {GOAL_RATE}/s: "
        f"{verdict}.",
        "",
        f"One uncached request in-process (mean of 200 users, arm `ranker`): model {model_ms:.2f} ms, of which "
        + ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
        + f"; the whole `Service.recommend` (explanations, the answer) {service_ms:.2f} ms. Training the artifact took "
        f"{train_s:.0f} s.",
        "",
        f"{DURATION} s per run after 20 warm-up requests, {REPEAT} runs per rate, the load generator in this process and "
        "the server in its own, both on this machine's cores. Past the cold path's capacity the queue grows for as "
        "long as the run lasts, so those rows depend on the run's length.",
        "",
    ]
    meta = _report.machine(("fastapi", "uvicorn", "lightgbm", "torch", "numpy"), rates=RATES, duration_s=DURATION,
                           repeat=REPEAT)
    print(_report.write("serve", "The recommender service under load (notebook 10)", meta, results, table, notes))


if __name__ == "__main__":
    main()
