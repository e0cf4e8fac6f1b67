r"""Serving a fitted recommender over HTTP: an artifact, a FastAPI app, A/B arms, a cache and an impression log.

What a team puts between a trained model and its users, kept small enough to
read in one sitting (notebook 10):

- **The artifact** (:func:`save_artifact`, :func:`load_artifact`): the fitted
  models of every arm, the movie titles and the training ratings (for
  histories, explanations and the cold-start list) in one pickle, beside a
  JSON manifest that holds its SHA-256 checksum, a format number and the
  versions of the libraries that pickled it. Loading checks the checksum
  *before* unpickling (a pickle runs code: load only artifacts you made) and
  refuses a corrupt, truncated or mismatched file with a message that says
  how to make a good one.
- **The service** (:class:`Service`): the logic without HTTP, so a notebook
  can call it directly. Each user is assigned an arm by a stable hash
  (:func:`recsys_course.abtest.assign_arm`); known users get that arm's
  top-n, unknown users the cold-start list with its reason, a new user who
  rated a few movies an item-to-item answer from those ratings. Every
  answer is cached per (arm, user, n) until the model is reloaded, and
  logged as an impression.
- **The impression log** (:class:`ImpressionLog`): one JSON line per
  response, appended by a background thread (the request only puts a record
  on a queue and never waits for the disk), each record written whole in a
  single ``write`` so that a killed server leaves no torn line; rotated by
  size.
- **The app** (:func:`create_app`): ``GET /users/{user_id}/recommendations``,
  ``POST /recommendations`` (a new user's ratings), ``GET
  /users/{user_id}/history``, ``GET /movies?q=``, ``GET /health``, ``GET
  /version``, ``GET /stats``, ``POST /admin/reload`` and a web page at ``/``.

Run ``python -m recsys_course.serve --train`` once, then ``python -m
recsys_course.serve`` (or ``make serve``) and open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import hashlib
import json
import os
import pickle
import platform
import queue
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel

from .abtest import assign_arm
from .ranking import check_n

__all__ = [
    "ARTIFACT_FORMAT",
    "Artifact",
    "ArtifactError",
    "ImpressionLog",
    "ServerProcess",
    "Service",
    "create_app",
    "default_artifact_path",
    "free_port",
    "load_artifact",
    "read_impressions",
    "save_artifact",
    "train_artifact",
]

#: Bumped whenever the artifact's layout changes; an artifact of another format is refused.
ARTIFACT_FORMAT = 1
#: Libraries whose pickles must be read by the version that wrote them.
_PICKLED_LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "torch")
MAX_N = 100


class ArtifactError(RuntimeError):
    """A model artifact that cannot be served: missing, corrupt, or written by other library versions."""


class Artifact(NamedTuple):
    """What :func:`load_artifact` returns: the payload's parts and the manifest."""

    arms: dict           # arm name -> fitted recommender
    weights: dict        # arm name -> share of users
    movies: pd.DataFrame
    ratings: pd.DataFrame
    similarity: np.ndarray | None   # items x items weights for explanations and new users (EASE's B)
    manifest: dict


def default_artifact_path() -> Path:
    """``<data home>/artifacts/recommender.pkl`` (see :func:`recsys_course.data.data_home`)."""
    from .data import data_home
    return data_home() / "artifacts" / "recommender.pkl"


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _library_versions(names=_PICKLED_LIBRARIES) -> dict:
    from importlib import metadata
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_artifact(path, arms: Mapping, movies: pd.DataFrame, ratings: pd.DataFrame, *,
                  weights: Mapping | None = None, similarity: np.ndarray | None = None,
                  label: str = "recommender", description: str = "") -> dict:
    """Write the fitted ``arms`` and what serving them needs to ``path``, with a manifest beside it.

    ``arms``: arm name -> fitted recommender of the package (one arm is a
    plain deployment; two are an A/B test). ``weights``: arm -> share of
    users (equal by default). ``similarity``: an items x items matrix in
    the order of ``movies``, used to explain a recommendation ("because you
    rated ...") and to answer a new user; ``None`` serves no explanations.
    Both files are written atomically (a crash leaves the old ones). Returns
    the manifest.
    """
    path = Path(path)
    if not isinstance(arms, Mapping) or not arms:
        raise ValueError(f"arms must be a non-empty mapping name -> fitted recommender, got {arms!r}")
    for name, model in arms.items():
        if not callable(getattr(model, "recommend", None)):
            raise TypeError(f"arm {name!r} is a {type(model).__name__}, not a recommender (no recommend())")
        if hasattr(model, "__sklearn_is_fitted__") and not model.__sklearn_is_fitted__():
            raise ValueError(f"arm {name!r} is not fitted: call fit() before saving it")
    weights = {name: 1.0 for name in arms} if weights is None else {k: float(v) for k, v in weights.items()}
    if set(weights) != set(arms):
        raise ValueError(f"weights name arms {sorted(weights)}, but the arms are {sorted(arms)}")
    assign_arm(0, weights)  # validates the weights
    movies = movies.reset_index(drop=True)
    if similarity is not None:
        similarity = np.asarray(similarity, dtype=np.float32)
        if similarity.shape != (len(movies), len(movies)):
            raise ValueError(f"similarity must be items x items in the order of movies ({len(movies)}), "
                             f"got shape {similarity.shape}")
    payload = {"arms": dict(arms), "weights": weights, "movies": movies,
               "ratings": ratings[["user_id", "item_id", "rating", "timestamp"]].reset_index(drop=True),
               "similarity": similarity}
    blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(blob).hexdigest()
    manifest = {
        "format": ARTIFACT_FORMAT,
        "model_version": f"{label}@{digest[:12]}",
        "sha256": digest,
        "bytes": len(blob),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arms": {name: repr(model) for name, model in arms.items()},
        "weights": weights,
        "trained_on": {"ratings": len(ratings), "users": int(ratings["user_id"].nunique()),
                       "items": int(ratings["item_id"].nunique())},
        "description": description,
        "recsys_course": _library_versions(("recsys-course",))["recsys-course"],
        "python": platform.python_version(),
        "libraries": _library_versions(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, blob)
    _atomic_write(_manifest_path(path), json.dumps(manifest, indent=2).encode())
    return manifest


def load_artifact(path=None, *, check_versions: bool = True) -> Artifact:
    """Read an artifact written by :func:`save_artifact`, refusing anything that is not what it says.

    Checked in this order, each with its own message: both files exist, the
    manifest parses and has this package's format, the pickle's SHA-256
    matches the manifest (a truncated or altered file does not), and, with
    ``check_versions``, the libraries that pickled it have the versions
    installed now (a pickle read by another numpy or LightGBM may load and
    still compute something else).
    """
    path = default_artifact_path() if path is None else Path(path)
    remedy = f"write a new one with `python -m recsys_course.serve --train --artifact {path}`"
    manifest_file = _manifest_path(path)
    for file in (path, manifest_file):
        if not file.is_file():
            raise ArtifactError(f"no model artifact at {file}: {remedy}")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"the manifest {manifest_file} is not valid JSON ({exc}): {remedy}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARTIFACT_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{path} has artifact format {found!r}, this package reads format {ARTIFACT_FORMAT}: "
                            f"{remedy}")
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != manifest.get("sha256"):
        raise ArtifactError(f"{path} is corrupt: its SHA-256 is {digest[:16]}..., the manifest expects "
                            f"{str(manifest.get('sha256'))[:16]}... ({len(blob):,} bytes, expected "
                            f"{manifest.get('bytes', '?'):,}); it was not loaded: {remedy}")
    if check_versions:
        now = _library_versions()
        differ = {name: (was, now.get(name)) for name, was in manifest.get("libraries", {}).items()
                  if was != now.get(name)}
        if differ:
            said = ", ".join(f"{name} {was} (now {is_})" for name, (was, is_) in differ.items())
            raise ArtifactError(f"{path} was written with {said}: {remedy} (or pass check_versions=False "
                                f"if you know the pickles are compatible)")
    payload = pickle.loads(blob)
    return Artifact(payload["arms"], payload["weights"], payload["movies"], payload["ratings"],
                    payload["similarity"], manifest)


# ----------------------------------------------------------------------------------- the log


class ImpressionLog:
    """Append-only JSON-lines log of what was served, written off the request path.

    :meth:`write` puts the record on an unbounded queue and returns at once;
    a daemon thread takes records off the queue and appends each batch with
    one ``os.write`` on a file opened with ``O_APPEND``, every record one
    whole line, so a process killed at any moment leaves only complete
    lines (records still on the queue at a ``kill -9`` are lost; a normal
    :meth:`close` writes them all). When the file passes ``max_bytes`` it is
    renamed ``<name>.1`` (older ones shift to ``.2`` ... ``.backups``) and a
    new file is started.
    """

    def __init__(self, path, max_bytes: int = 20_000_000, backups: int = 5):
        if max_bytes < 1 or backups < 0:
            raise ValueError(f"need max_bytes >= 1 and backups >= 0, got {max_bytes} and {backups}")
        self.path = Path(path)
        self.max_bytes, self.backups = int(max_bytes), int(backups)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.written = 0
        self._fd = self._open()
        self._thread = threading.Thread(target=self._run, name="impression-log", daemon=True)
        self._thread.start()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict) -> None:
        """Queue one record (a JSON-serialisable dict); never blocks."""
        self._queue.put(record)

    @property
    def pending(self) -> int:
        """Records queued and not yet on disk."""
        return self._queue.qsize()

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is None:
                batch.pop()
                done = True
            size, chunk = os.fstat(self._fd).st_size, []
            for record in batch:
                line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
                chunk.append(line)
                size += len(line)
                if size >= self.max_bytes:  # this file is full: write what it gets, then start the next
                    self._flush(chunk)
                    self._rotate()
                    size, chunk = 0, []
            self._flush(chunk)

    def _flush(self, lines: list) -> None:
        data = memoryview(b"".join(lines))
        while data:  # a regular file takes it in one write; the loop only guards a short write
            data = data[os.write(self._fd, data):]
        self.written += len(lines)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.backups:
            for k in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{k}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{k + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._fd = self._open()

    def close(self, timeout: float = 10.0) -> None:
        """Write every queued record, then close the file."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_impressions(path, *, rotated: bool = True) -> pd.DataFrame:
    """The impression log as a frame, one row per response (rotated files first, oldest first)."""
    path = Path(path)
    files = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit()
                   else 0) if rotated else []
    files = [f for f in files if f.suffix[1:].isdigit()] + ([path] if path.exists() else [])
    rows = []
    for file in files:
        with open(file, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise ValueError(f"{file}, line {number} is not a JSON record: {line[:80]!r}") from None
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601")
    return frame


# ------------------------------------------------------------------------------- the service


class _LRU:
    def __init__(self, size: int):
        self.size, self._data = size, OrderedDict()
        self.hits = self.misses = 0

    def get(self, key):
        value = self._data.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
            self._data.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self._data[key] = value
        if len(self._data) > self.size:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class Service:
    """Everything the HTTP layer calls, with no HTTP in it.

    Parameters
    ----------
    artifact : Artifact
        From :func:`load_artifact`.
    log : ImpressionLog or None
        Where each response is logged (``None``: not logged).
    salt : str
        The experiment's name, hashed with the user id to pick the arm.
    cache_size : int
        Per-user answers kept (least recently used dropped first); 0 turns
        the per-user cache off. The cold-start list is always cached.
    """

    def __init__(self, artifact: Artifact, log: ImpressionLog | None = None, salt: str = "notebook-10",
                 cache_size: int = 10_000):
        self.artifact, self.log, self.salt = artifact, log, salt
        self.manifest = artifact.manifest
        self.model_version = artifact.manifest["model_version"]
        self.cache = _LRU(max(int(cache_size), 1))
        self._use_cache = cache_size > 0
        movies = artifact.movies
        self.item_ids = movies["item_id"].to_numpy()
        self._row_of = {int(item): row for row, item in enumerate(self.item_ids)}
        years = movies["year"] if "year" in movies.columns else pd.Series([pd.NA] * len(movies))
        self.titles = {int(i): (f"{t} ({int(y)})" if pd.notna(y) else str(t))
                       for i, t, y in zip(self.item_ids, movies["title"], years)}
        ratings = artifact.ratings.sort_values(["user_id", "timestamp", "item_id"], ascending=[True, False, True])
        self._history = {int(u): (g["item_id"].to_numpy(), g["rating"].to_numpy())
                         for u, g in ratings.groupby("user_id", sort=False)}
        counts = artifact.ratings["item_id"].value_counts()
        self._popular = counts.sort_index().sort_values(ascending=False, kind="stable")
        self.requests = 0

    # -- helpers
    def arm(self, user_id) -> str:
        """The A/B arm of ``user_id`` (a stable hash, see :func:`recsys_course.abtest.assign_arm`)."""
        return assign_arm(user_id, self.artifact.weights, self.salt)

    def _item(self, item_id, score, rank, explanation=None) -> dict:
        return {"rank": rank, "item_id": int(item_id), "title": self.titles.get(int(item_id), "?"),
                "score": round(float(score), 6), "explanation": explanation}

    def _explain(self, history: np.ndarray, item_id) -> str | None:
        S = self.artifact.similarity
        if S is None or not len(history):
            return None
        rows = [self._row_of[int(i)] for i in history if int(i) in self._row_of]
        if not rows:
            return None
        weights = S[rows, self._row_of[int(item_id)]]
        best = int(np.argmax(weights))
        if weights[best] <= 0:
            return None
        return f"because you rated {self.titles[int(self.item_ids[rows[best]])]}"

    def history(self, user_id: int, n: int = 20) -> dict:
        """The user's most recent ``n`` ratings, newest first."""
        items, ratings = self._history.get(int(user_id), (np.array([], int), np.array([])))
        return {"user_id": int(user_id), "n_ratings": len(items),
                "items": [{"item_id": int(i), "title": self.titles.get(int(i), "?"), "rating": float(r)}
                          for i, r in zip(items[:n], ratings[:n])]}

    def search(self, query: str, n: int = 10) -> list:
        """Movies whose title contains ``query`` (case-insensitive), most rated first."""
        q = query.strip().lower()
        hits = [i for i in self._popular.index if q in self.titles.get(int(i), "").lower()] if q else []
        return [{"item_id": int(i), "title": self.titles[int(i)], "ratings": int(self._popular[i])} for i in hits[:n]]

    def _log(self, answer: dict, cache: str, started: float) -> dict:
        answer = dict(answer, cache=cache, latency_ms=round((time.perf_counter() - started) * 1e3, 3))
        if self.log is not None:
            self.log.write({"ts": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                            "user_id": answer["user_id"], "arm": answer["arm"],
                            "model_version": self.model_version, "cold_start": answer["cold_start"],
                            "cache": cache, "items": [it["item_id"] for it in answer["items"]],
                            "latency_ms": answer["latency_ms"]})
        return answer

    # -- the answers
    def cold_start(self, n: int, user_id, reason: str, exclude=()) -> dict:
        """The most-rated movies, with the reason they are shown."""
        exclude = {int(i) for i in exclude}
        ids = [int(i) for i in self._popular.index if int(i) not in exclude][:n]
        items = [self._item(i, self._popular[i], r) for r, i in enumerate(ids, 1)]
        return {"user_id": user_id, "arm": "cold-start", "model_version": self.model_version,
                "cold_start": True, "reason": reason, "items": items}

    def recommend(self, user_id: int, n: int = 10) -> dict:
        """Top-``n`` for a known user from their arm, or the cold-start list for an unknown one."""
        started = time.perf_counter()
        self.requests += 1
        n = _checked_n(n)
        user_id = int(user_id)
        arm = self.arm(user_id)
        key = (arm, user_id, n)
        if self._use_cache:
            cached = self.cache.get(key)
            if cached is not None:
                return self._log(cached, "hit", started)
        model = self.artifact.arms[arm]
        if user_id not in self._history:
            answer = self.cold_start(n, user_id, f"user {user_id} has no ratings in the model's training data "
                                                 "(a new or unknown user): showing the most-rated movies")
            answer["arm"] = arm
        else:
            top = model.recommend(user_id, n=n)
            history = self._history[user_id][0]
            items = [self._item(i, s, r, self._explain(history, i))
                     for r, (i, s) in enumerate(zip(top["item_id"].to_numpy(), top["score"].to_numpy()), 1)]
            answer = {"user_id": user_id, "arm": arm, "model_version": self.model_version,
                      "cold_start": False, "reason": None, "items": items}
        if self._use_cache:
            self.cache.put(key, answer)
        return self._log(answer, "miss", started)

    def recommend_new_user(self, ratings: Mapping, n: int = 10) -> dict:
        """Top-``n`` for someone the model has never seen, from a few ratings they just gave.

        The models of the arms know only the users they were trained on; a
        new user would need a refit. Until then the answer comes from the
        item-to-item ``similarity`` of the artifact (EASE's weights: the score
        of movie *i* is the sum of its weights from the movies rated 3 or
        more). Without a similarity, or without such a rating, it is the
        cold-start list.
        """
        started = time.perf_counter()
        self.requests += 1
        n = _checked_n(n)
        unknown = [i for i in ratings if int(i) not in self._row_of]
        if unknown:
            raise ValueError(f"unknown movie id(s) {unknown[:5]}: pick movies of the catalogue (GET /movies?q=...)")
        bad = {i: r for i, r in ratings.items() if not 1 <= float(r) <= 5}
        if bad:
            raise ValueError(f"ratings must be between 1 and 5, got {bad}")
        liked = [int(i) for i, r in ratings.items() if float(r) >= 3]
        S = self.artifact.similarity
        if S is None or not liked:
            why = "no item-to-item weights in this artifact" if S is None else "no movie rated 3 or more yet"
            return self._log(self.cold_start(n, None, f"new user, {why}: showing the most-rated movies",
                                             exclude=ratings), "none", started)
        rows = [self._row_of[i] for i in liked]
        scores = S[rows].sum(axis=0).astype(float)
        scores[[self._row_of[int(i)] for i in ratings]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:n]
        items = [self._item(self.item_ids[c], scores[c], r, self._explain(np.array(liked), self.item_ids[c]))
                 for r, c in enumerate(top, 1)]
        answer = {"user_id": None, "arm": "new-user", "model_version": self.model_version, "cold_start": True,
                  "reason": f"new user: ranked by item-to-item weights from the {len(liked)} movie(s) you rated "
                            "3 or more (the model itself learns you at its next training)", "items": items}
        return self._log(answer, "none", started)

    def stats(self) -> dict:
        return {"requests": self.requests, "cache_entries": len(self.cache), "cache_hits": self.cache.hits,
                "cache_misses": self.cache.misses,
                "log_written": None if self.log is None else self.log.written,
                "log_pending": None if self.log is None else self.log.pending}


def _checked_n(n) -> int:
    n = check_n(n)  # the package's rule for a list length, plus the service's own ceiling
    if n > MAX_N:
        raise ValueError(f"n must be at most {MAX_N} for the service, got {n}")
    return n


# ----------------------------------------------------------------------------------- the app


class NewUser(BaseModel):
    """The body of ``POST /recommendations``: movie id -> rating (1 to 5), and how many to return."""

    ratings: dict[int, float]
    n: int = 10



def create_app(artifact_path=None, log_path=None, *, salt: str = "notebook-10", cache_size: int = 10_000,
               check_versions: bool = True):
    """The FastAPI application serving the artifact at ``artifact_path`` (loaded at once: a bad one fails here).

    ``log_path``: the impression log (default ``impressions.jsonl`` beside the
    artifact). The app's ``state.service`` is the :class:`Service`;
    ``POST /admin/reload`` swaps in a freshly loaded artifact (its cache
    starts empty) and keeps serving the old one if the new one is refused.
    """
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    artifact_path = default_artifact_path() if artifact_path is None else Path(artifact_path)
    log_path = artifact_path.with_name("impressions.jsonl") if log_path is None else Path(log_path)
    log = ImpressionLog(log_path)
    first = load_artifact(artifact_path, check_versions=check_versions)
    started = time.time()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield
        log.close()

    app = FastAPI(title="recsys-course recommender", version=str(ARTIFACT_FORMAT), lifespan=lifespan)
    app.state.service = Service(first, log, salt, cache_size)
    app.state.reloads = 0
    # The model is millions of long-lived Python objects; without this every full garbage collection
    # walks them all, a pause of tens of milliseconds in the middle of some request. Freezing moves
    # what exists now out of the collector's sight (Instagram's trick for its Django servers).
    gc.freeze()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']} (got {e.get('input')!r})"
                    for e in exc.errors()]
        hint = ('send JSON such as {"ratings": {"50": 5, "181": 4}, "n": 10}' if request.method == "POST"
                else f"user_id is an integer; n is an integer from 1 to {MAX_N}, e.g. /users/42/recommendations?n=10")
        return JSONResponse(status_code=422, content={"detail": "; ".join(problems), "hint": hint})

    @app.get("/health")
    async def health():
        return {"status": "ok", "model_version": app.state.service.model_version,
                "uptime_s": round(time.time() - started, 1)}

    @app.get("/version")
    async def version():
        m = app.state.service.manifest
        return {k: m[k] for k in ("model_version", "sha256", "created", "arms", "weights", "trained_on",
                                  "recsys_course", "libraries")} | {"salt": salt, "reloads": app.state.reloads}

    @app.get("/stats")
    async def stats():
        return app.state.service.stats()

    @app.get("/users/{user_id}/recommendations")
    async def recommendations(user_id: int, n: int = Query(10, ge=1, le=MAX_N)):
        return app.state.service.recommend(user_id, n)

    @app.get("/users/{user_id}/history")
    async def history(user_id: int, n: int = Query(20, ge=1, le=1000)):
        return app.state.service.history(user_id, n)

    @app.get("/movies")
    async def movies(q: str = Query(..., min_length=1, max_length=100), n: int = Query(10, ge=1, le=50)):
        return app.state.service.search(q, n)

    @app.post("/recommendations")
    async def new_user(body: NewUser):
        try:
            return app.state.service.recommend_new_user(body.ratings, body.n)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @app.post("/admin/reload")
    async def reload():
        try:
            artifact = await asyncio.to_thread(load_artifact, artifact_path, check_versions=check_versions)
        except ArtifactError as exc:
            raise HTTPException(status_code=409, detail=f"kept serving {app.state.service.model_version}: {exc}")
        old = app.state.service
        app.state.service = Service(artifact, log, salt, cache_size)  # one assignment: requests see old or new
        old.cache.clear()
        app.state.reloads += 1
        gc.freeze()  # the new model too (the old one's frozen objects are not freed: a reload leaks it)
        return {"model_version": app.state.service.model_version, "previous": old.model_version}

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return _PAGE

    return app


_PAGE = (Path(__file__).with_name("serve_page.html")).read_text(encoding="utf-8") \
    if (Path(__file__).with_name("serve_page.html")).is_file() else "<h1>recommender</h1>"


# ------------------------------------------------------------------------------ training


def train_artifact(path=None, *, verbose: bool = True) -> dict:
    """Fit notebook 09's two-stage model on all of MovieLens-100k and save it as a two-arm artifact.

    Arm ``ranker``: the generators and LightGBM ranker with the settings
    notebook 09 chose on its validation period. Arm ``ranker+cap``: the same
    fitted model with notebook 09's genre cap (at most 3 per genre) after it.
    Half of the users see each. The explanations and the new-user answer use
    the EASE generator's item-to-item weights. About 20 s on one core.
    """
    import lightgbm as lgb
    import torch

    from .data import GENRES, load_movielens_100k
    from .models.baselines import Popularity
    from .models.implicit_mf import ImplicitALS
    from .models.knn import ImplicitItemKNN
    from .models.linear import EASE
    from .models.two_tower import TwoTower
    from .pipeline import TwoStage
    from .rerank import GenreCap

    torch.set_num_threads(1)
    path = default_artifact_path() if path is None else Path(path)
    ratings, movies, users = load_movielens_100k()
    generators = {"two-tower": TwoTower(), "iALS": ImplicitALS(n_factors=32, reg=30, alpha=3, n_epochs=15),
                  "EASE": EASE(reg=800), "item-kNN": ImplicitItemKNN(n_neighbors=400), "popularity": Popularity()}
    ranker = lgb.LGBMRanker(objective="lambdarank", learning_rate=0.05, num_leaves=7, min_child_samples=100,
                            n_estimators=41, deterministic=True, force_row_wise=True, n_jobs=1, random_state=0,
                            verbose=-1)
    start = time.perf_counter()
    if verbose:
        print(f"fitting notebook 09's two-stage model on {len(ratings):,} ratings ...", flush=True)
    model = TwoStage(generators, ranking_model=ranker, n_candidates=100).fit(ratings, movies, users)
    genres = movies.set_index("item_id")[list(GENRES)]
    arms = {"ranker": model, "ranker+cap": model.variant(rerank=[GenreCap(genres, max_per_genre=3)])}
    ease = model.generators_["EASE"]
    order = pd.Index(ease.item_ids_).get_indexer(movies["item_id"])
    similarity = np.zeros((len(movies), len(movies)), dtype=np.float32)
    known = order >= 0
    similarity[np.ix_(known, known)] = ease.weights_[np.ix_(order[known], order[known])]
    manifest = save_artifact(path, arms, movies, ratings, similarity=similarity, label="two-stage",
                             description="notebook 09's TwoStage (ranker) vs the same with a genre cap, "
                                         "fitted on all of MovieLens-100k")
    if verbose:
        print(f"wrote {path} ({manifest['bytes'] / 1e6:.0f} MB, {manifest['model_version']}) "
              f"in {time.perf_counter() - start:.0f} s", flush=True)
    return manifest


# ------------------------------------------------------------------- a server in a child process


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the system's pick)."""
    import socket
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m recsys_course.serve`` in a child process on a free loopback port, until :meth:`stop`.

    For a notebook, a test or a benchmark that needs the real server (its own
    process, its own event loop, real sockets), not the app called in-process.
    Waits up to ``timeout`` s for ``/health``; a server that exits instead
    raises with its error output. Usable as a context manager.

    >>> with ServerProcess(artifact) as server:     # doctest: +SKIP
    ...     urllib.request.urlopen(server.url + "/health").read()
    """

    def __init__(self, artifact=None, *, log=None, cache_size: int = 10_000, port: int | None = None,
                 timeout: float = 60.0, env: Mapping | None = None):
        import subprocess
        import urllib.request
        self.port = free_port() if port is None else int(port)
        self.url = f"http://127.0.0.1:{self.port}"
        artifact = default_artifact_path() if artifact is None else Path(artifact)
        self.log_path = artifact.with_name("impressions.jsonl") if log is None else Path(log)
        command = [sys.executable, "-m", "recsys_course.serve", "--artifact", str(artifact), "--port", str(self.port),
                   "--log", str(self.log_path), "--cache-size", str(cache_size)]
        child_env = dict(os.environ if env is None else env)
        package_root = str(Path(__file__).resolve().parent.parent)
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, child_env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode}: "
                                   f"{self.process.stderr.read().strip()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not answer {self.url}/health within {timeout:.0f} s")
            time.sleep(0.1)

    def stop(self, sig: int | None = None) -> int:
        """Stop the server (SIGTERM: a clean shutdown that writes the whole log; or ``sig``); its exit code."""
        import signal
        import subprocess
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if sig is None else sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stderr.close()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------- the CLI


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsys_course.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, default=None, help="the model artifact (default: %(default)s "
                        "-> <data home>/artifacts/recommender.pkl)")
    parser.add_argument("--train", action="store_true", help="fit the model and write the artifact, then exit")
    parser.add_argument("--if-missing", action="store_true", help="with --train: only when no valid artifact exists")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log", type=Path, default=None, help="impression log (default: beside the artifact)")
    parser.add_argument("--cache-size", type=int, default=10_000, help="per-user answers kept (0: no cache)")
    parser.add_argument("--open", action="store_true", help="open the page in a web browser once serving")
    args = parser.parse_args(argv)
    path = args.artifact or default_artifact_path()
    if args.train:
        if args.if_missing:
            try:
                load_artifact(path)
                print(f"{path} is there and valid; not retraining")
                return 0
            except ArtifactError as exc:
                print(f"(re)training: {exc}")
        train_artifact(path)
        return 0
    try:
        app = create_app(path, args.log, cache_size=args.cache_size)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import torch
    import uvicorn
    torch.set_num_threads(1)
    url = f"http://{args.host}:{args.port}/"
    print(f"serving {app.state.service.model_version} on {url} (Ctrl-C stops)", flush=True)
    if args.open:
        import webbrowser
        threading.Timer(1.5, webbrowser.open, (url,)).start()  # a no-op where there is no browser
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
