"""The benchmark convention: every script writes results/NAME.json and results/NAME.md with the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def best_time(fn, repeat: int):
    """The shortest of ``repeat`` wall-clock runs of ``fn()`` in seconds, and the last run's result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def machine(packages: tuple[str, ...], **extra) -> dict:
    """Date, machine, Python and package versions, plus anything in ``extra``."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, {platform.system()}",
        "python": platform.python_version(),
        "versions": {p: version(p) for p in packages},
        **extra,
    }


def write(name: str, title: str, meta: dict, results, table: list[str], notes: list[str]) -> str:
    """Write ``results/{name}.json`` and ``results/{name}.md`` (title, machine line, table, notes)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    header = (f"{meta['date']} · {meta['machine']} · Python {meta['python']} · "
              + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    text = "\n".join([f"# {title}", "", header, "", *table, "", *notes,
                      f"Produced by `benchmarks/{name}.py` (`make bench`)."]) + "\n"
    (RESULTS / f"{name}.md").write_text(text)
    return text
