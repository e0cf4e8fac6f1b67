"""How long does it take to get MovieLens-100k, from the cache and from each source?

Writes ``benchmarks/results/load_movielens.{md,json}``. Every source is timed in
a temporary data home, so the course's own cache is only read, never replaced.
For reference it also times Surprise reading the same ratings from a ``u.data``
file (``Dataset.load_from_file`` with its ``ml-100k`` reader) in the same run.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/load_movielens.py``).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import _report
from recsys_course import data as D
from recsys_course import testing



def timed(fn, repeat):
    """Median and min wall time of ``repeat`` calls, and the last outcome (or error)."""
    times, outcome = [], "ok"
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            fn()
        except D.DataError as exc:
            reasons = [line[2:] for line in str(exc).splitlines() if line.startswith("- ")]
            outcome = "failed: " + (reasons or str(exc).splitlines())[0][:140]
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "repeat": repeat, "outcome": outcome}


def surprise_reader(path):
    from surprise import Dataset, Reader

    return lambda: Dataset.load_from_file(str(path), reader=Reader("ml-100k"))


def main():
    cached = D.load_movielens_100k()  # the course cache, fetched by `make data`
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows["cache (validated CSV + SHA-256 check)"] = timed(lambda: D.load_movielens_100k(D.data_home(),
                                                                                            download=False), 7)
        rows["GroupLens ml-100k.zip over https (2 retries)"] = timed(
            lambda: D.fetch_movielens_100k(tmp / "grouplens", sources=("grouplens",), verbose=False), 1)
        rows["recbole 1.2.1 wheel via pip download"] = timed(
            lambda: D.fetch_movielens_100k(tmp / "recbole", sources=("recbole",), verbose=False), 3)
        plain = D.MovieLens(cached.ratings, cached.movies[["item_id", "title", "year", "genres"]], cached.users)
        archive = testing.write_official_zip(plain, tmp / "ml-100k.zip")
        rows["official-format zip placed by hand (rebuilt from the cache)"] = timed(
            lambda: D.import_zip(archive, tmp / "zip", verify_sha1=False), 3)
        u_data = tmp / "u.data"
        ratings = cached.ratings.assign(timestamp=testing.unix_seconds(cached.ratings["timestamp"]))
        ratings.to_csv(u_data, sep="\t", header=False, index=False)
        rows["reference: Surprise Dataset.load_from_file(u.data), ratings only"] = timed(surprise_reader(u_data), 7)

    base = rows["cache (validated CSV + SHA-256 check)"]["median_s"]
    for row in rows.values():
        row["x_cache"] = row["median_s"] / base
    meta = _report.machine(("numpy", "pandas", "scikit-surprise"))
    table = ["| how | median (s) | min (s) | runs | × cache | outcome |", "|---|---:|---:|---:|---:|---|"]
    for name, row in rows.items():
        table.append(f"| {name} | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['repeat']} "
                     f"| {row['x_cache']:.1f} | {row['outcome']} |")
    print(_report.write("load_movielens", "Loading MovieLens-100k", meta, rows, table, []))


if __name__ == "__main__":
    sys.exit(main())
