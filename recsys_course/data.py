"""Loading MovieLens-100k and the course's toy matrix.

``load_movielens_100k()`` returns the real data set as three tidy frames. It looks
for a validated copy in the local cache first; if there is none it fetches one,
trying these sources in order (the first that works wins):

1. the official GroupLens ``ml-100k.zip`` over https, checked against its SHA-1;
2. the copy of MovieLens-100k that the ``recbole==1.2.1`` wheel ships. pip
   downloads the wheel through whatever index it is configured to use, the
   wheel's SHA-256 is checked, and only three data files are read out of it
   (recbole itself is never installed);
3. otherwise it fails with one message that lists what was tried and how to
   import a zip by hand: ``python -m recsys_course.data --from-zip PATH``.

Whatever the source, the data is converted to one canonical schema and checked
(exact counts, rating histogram, ...) before it is cached, and the cache is
written to a temporary folder that is renamed into place only when complete, so
an interrupted run never leaves half a cache behind. A cache whose files no
longer match their recorded SHA-256 is detected and fetched again.

The cache files of the real MovieLens-100k have known SHA-256
(:data:`CANONICAL_SHA256`): a copy that passes the shape checks but differs (a
zip imported with ``--no-checksum`` whose ratings were edited, say) is another
data set, refused unless the user asks for it (``--accept-different-data``).
Files a user puts in the cache folder survive a re-import; what an interrupted
run left behind (a temporary download, a half-written cache) is removed on the
next run once the process that made it is gone, and the ``pip`` child that
fetches the RecBole wheel ends with the process that started it.

The cache lives in ``datasets/ml-100k/`` of the course checkout; set the
environment variable ``RECSYS_COURSE_DATA`` to use another folder.

Run ``python -m recsys_course.data --help`` for the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "GENRES",
    "DataError",
    "MovieLens",
    "data_home",
    "fetch_movielens_100k",
    "load_movielens_100k",
    "load_toy",
    "load_toy_genre_weights",
    "rating_matrix",
]

#: The 19 MovieLens-100k genres, in the order of the official ``u.genre`` file.
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
#: SHA-1 of the official ``ml-100k.zip`` (the value d2l's data hub records).
ML100K_SHA1 = "cd4dcac4241c8a4ad7badc7ca635da8a69dddb83"

RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
#: SHA-256 of the ``recbole-1.2.1-py3-none-any.whl`` wheel.
RECBOLE_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_MEMBERS = {
    "inter": "recbole/dataset_example/ml-100k/ml-100k.inter",
    "item": "recbole/dataset_example/ml-100k/ml-100k.item",
    "user": "recbole/dataset_example/ml-100k/ml-100k.user",
}

#: What every copy of MovieLens-100k must look like, whatever its source.
EXPECTED = {
    "n_ratings": 100_000,
    "n_users": 943,
    "n_items": 1_682,
    "rating_counts": {1: 6_110, 2: 11_370, 3: 27_145, 4: 34_174, 5: 21_201},
    "min_ratings_per_user": 20,
    "n_genres": 19,
}

# "Toy Story (1995)" -> "Toy Story", 1995; also "... (1995) (V)".
_TITLE_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)(?:\s*\([A-Za-z]+\))?\s*$"

# The toy data ships with the course (datasets/toy/), unlike MovieLens, which is fetched.
_TOY = Path(__file__).resolve().parent.parent / "datasets" / "toy"

CACHE_NAME = "ml-100k"
CACHE_FILES = ("ratings.csv", "movies.csv", "users.csv")
MANIFEST = "manifest.json"
CACHE_FORMAT = 1
#: SHA-256 of the cache files of the real MovieLens-100k: GroupLens' zip and RecBole's copy both give
#: these bytes. A copy with other bytes that passes the shape checks is a different data set.
CANONICAL_SHA256 = {
    "ratings.csv": "010fac14271cf92527353173e77ddb19b9168a476d99c55c2f4bd55d93d4c205",
    "movies.csv": "1d80965954f04aa72bb06eb4db5f5ebd451f32b5d83dadcf176da679a0ff112f",
    "users.csv": "f0666955a899ab27004d413eec2d92e393f5050879597e126ede637390e5a238",
}

#: The longest the RecBole source waits for pip, all attempts together: a package index that does
#: not answer fails in this time with pip's own words, not after pip's default retries.
PIP_TIMEOUT_S = 90.0
_PIP_OPTIONS = ("--timeout", "15", "--retries", "1")
_PIP_MODULE = "pip"
# Runs pip (``_PIP_MODULE``) so that it dies with the loader: on Linux the kernel sends it SIGKILL
# when its parent exits (PR_SET_PDEATHSIG = 1), and it exits at once if the parent is already gone.
_CHILD = """\
import ctypes, os, runpy, signal, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))
except (AttributeError, OSError):
    pass
if os.getppid() != parent:
    sys.exit(1)
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""
_HOME_HINT = ("set RECSYS_COURSE_DATA to a folder you can write, e.g. export RECSYS_COURSE_DATA=\"$HOME/recsys-data\" "
              "(or pass data_home=... / --data-home)")

_HAND_IMPORT_HINT = (
    "To load the data by hand, download ml-100k.zip from the GroupLens MovieLens "
    "page on a machine that can reach it, copy it here and run\n"
    "    python -m recsys_course.data --from-zip PATH/TO/ml-100k.zip\n"
    "or copy a filled 'ml-100k' cache folder from another checkout into {home}."
)


class DataError(RuntimeError):
    """The data could not be fetched, read or validated."""


class MovieLens(NamedTuple):
    """The three frames of a MovieLens-style data set.

    A named tuple, so both ``data.ratings`` and
    ``ratings, movies, users = load_movielens_100k()`` work.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame


# --------------------------------------------------------------------------- paths


def data_home() -> Path:
    """Folder that holds the cached data sets.

    ``$RECSYS_COURSE_DATA`` if set, else the ``datasets/`` folder of the course
    checkout this package was installed from (an editable install), else
    ``~/.cache/recsys_course``.
    """
    override = os.environ.get("RECSYS_COURSE_DATA")
    if override:
        return Path(override).expanduser()
    checkout = Path(__file__).resolve().parent.parent / "datasets"
    if (checkout / "README.md").is_file():
        return checkout
    return Path.home() / ".cache" / "recsys_course"


def _cache_dir(home: str | Path | None) -> Path:
    return (Path(home).expanduser() if home is not None else data_home()) / CACHE_NAME


def _prepare_home(cache: Path, *, verbose: bool = False) -> None:
    """Make the folder that holds ``cache`` and check the loader can write there, or say what to do.

    Also removes what interrupted runs left there (:func:`_clean_leftovers`).
    """
    home = cache.parent
    try:
        home.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"the data folder {home} is a file, not a folder: {_HOME_HINT}") from None
    except NotADirectoryError:
        raise DataError(f"the data folder {home} cannot be made: part of that path is a file; {_HOME_HINT}") from None
    except PermissionError as exc:
        raise DataError(f"cannot make the data folder {home} ({exc.strerror}): {_HOME_HINT}") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise DataError(f"the data folder {home} is not writable: {_HOME_HINT}")
    if cache.exists() and not cache.is_dir():
        raise DataError(f"{cache} is a file, but the course keeps the MovieLens cache in a folder of that name: "
                        f"move or rename the file (nothing was changed), or {_HOME_HINT}")
    _clean_leftovers(home, verbose=verbose)


# What a run makes next to the cache, tagged with its process id: ".download-PID-xxxx" (a fetch),
# ".ml-100k-tmp-PID-xxxx" (a cache being written), ".ml-100k-old-PID" (the cache it replaces).
_LEFTOVER = re.compile(rf"^\.(?P<kind>download|{re.escape(CACHE_NAME)}-tmp|{re.escape(CACHE_NAME)}-old)-(?P<rest>.*)$")
_UNTAGGED_AGE_S = 3600  # names from before the tag: left alone for an hour, in case a run still uses them


def _clean_leftovers(home: Path, *, verbose: bool = False) -> None:
    """Remove what interrupted runs left in ``home``; never what a running process is using.

    A leftover whose process is gone is deleted, except an old cache while
    no cache is in place (a run killed between its two renames): that one
    is put back. Errors are ignored: another process may be cleaning too.
    """
    try:
        entries = list(home.iterdir())
    except OSError:
        return
    cache = home / CACHE_NAME
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if match is None:
            continue
        pid = re.match(r"(\d+)(?:-|$)", match["rest"])
        try:
            if pid is not None:
                if _alive(int(pid[1])):
                    continue
            elif time.time() - entry.lstat().st_mtime < _UNTAGGED_AGE_S:
                continue
            is_dir = entry.is_dir() and not entry.is_symlink()
            if match["kind"].endswith("-old") and is_dir and not cache.exists():
                os.replace(entry, cache)
                _say(verbose, f"Put back the cache an interrupted run had moved aside ({entry.name}).")
            elif is_dir:
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (always True where that cannot be asked safely)."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


# ------------------------------------------------------------------ public loaders


def load_movielens_100k(
    data_home: str | Path | None = None, *, download: bool = True, verbose: bool = True
) -> MovieLens:
    """Load MovieLens-100k (943 users, 1,682 movies, 100,000 ratings).

    Parameters
    ----------
    data_home : path, optional
        Folder holding the cache (default: :func:`data_home`).
    download : bool, default True
        Fetch the data when the cache is missing or corrupt. With ``False`` a
        missing cache raises :class:`DataError` instead.
    verbose : bool, default True
        Report on stderr where the data comes from while fetching. Loading
        from a valid cache prints nothing.

    Returns
    -------
    MovieLens
        ``ratings``: ``user_id``, ``item_id``, ``rating`` (int 1..5) and
        ``timestamp`` (datetime, UTC), in the order of the original ``u.data``.
        ``movies``: ``item_id``, ``title`` (without the year), ``year``
        (nullable int), ``genres`` (list of str) and one 0/1 column per genre
        in :data:`GENRES`. ``users``: ``user_id``, ``age``, ``gender``,
        ``occupation``, ``zip_code`` (str: some are Canadian postcodes).

    Raises
    ------
    DataError
        When no source worked; the message lists what was tried.
    """
    cache = _cache_dir(data_home)
    _clean_leftovers(cache.parent, verbose=verbose)
    problem = _cache_problem(cache)
    if problem is None:
        _warn_if_different(cache)
        return _read_cache(cache)
    if not download:
        raise DataError(
            f"MovieLens-100k is not in the cache at {cache} ({problem}) and download=False.\n"
            "Run `make data` (or `python -m recsys_course.data`) to fetch it."
        )
    if cache.exists():
        _say(verbose, f"Cache at {cache} is unusable ({problem}); fetching a fresh copy.")
    return fetch_movielens_100k(data_home, verbose=verbose)


def fetch_movielens_100k(
    data_home: str | Path | None = None,
    *,
    sources: tuple[str, ...] = ("grouplens", "recbole"),
    verbose: bool = True,
    retries: int = 2,
) -> MovieLens:
    """Fetch MovieLens-100k from the first source that works, validate it and cache it.

    ``sources`` names the sources to try, in order: ``"grouplens"`` (the
    official zip) and ``"recbole"`` (the copy inside the recbole 1.2.1 wheel).
    The existing cache is replaced only once a new copy has been validated.
    """
    cache = _cache_dir(data_home)
    fetchers = {"grouplens": _fetch_grouplens, "recbole": _fetch_recbole}
    unknown = set(sources) - set(fetchers)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from {sorted(fetchers)}")
    _prepare_home(cache, verbose=verbose)
    tried = []
    for name in sources:
        try:
            data = fetchers[name](cache.parent, verbose=verbose, retries=retries)
            _validate(data, source=name)
        except DataError as exc:
            tried.append(f"- {name}: {exc}")
            _say(verbose, f"{name}: failed ({_first_line(exc)})")
            continue
        _write_cache(cache, data, source=name, verbose=verbose)
        _say(verbose, f"MovieLens-100k from {name} validated and cached in {cache}")
        return _read_cache(cache)
    raise DataError(
        "Could not obtain MovieLens-100k. Tried, in order:\n"
        + "\n".join(tried)
        + "\n"
        + _HAND_IMPORT_HINT.format(home=cache.parent)
    )


def import_zip(path: str | Path, data_home: str | Path | None = None, *, verify_sha1: bool = True,
               accept_different: bool = False, verbose: bool = False) -> MovieLens:
    """Cache MovieLens-100k from an official ``ml-100k.zip`` placed by hand.

    ``verify_sha1=False`` accepts a zip with other bytes than GroupLens' (a
    re-zipped copy); its content must still be the canonical data set
    (:data:`CANONICAL_SHA256`). ``accept_different=True`` caches a data set
    that only has MovieLens-100k's shape, replacing the cache: say so only
    when you mean to work on other data (the notebooks' numbers will differ).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    if verify_sha1:
        _check_digest(path, "sha1", ML100K_SHA1,
                      hint="If it is a re-zipped copy of the official data, import it with --no-checksum "
                           "(import_zip(..., verify_sha1=False)): its content is still checked.")
    data = _parse_official_zip(path)
    _validate(data, source=str(path))
    cache = _cache_dir(data_home)
    _prepare_home(cache, verbose=verbose)
    _write_cache(cache, data, source=f"zip:{path.name}", accept_different=accept_different, verbose=verbose)
    _warn_if_different(cache)
    return _read_cache(cache)


def rating_matrix(ratings: pd.DataFrame, *, user_ids=None, item_ids=None):
    """The ratings as a ``scipy.sparse`` CSR matrix, users in rows, items in columns.

    Rows and columns follow the numbering every model of the package uses
    (:mod:`recsys_course.ids`): the ids in sorted order, by default those in
    ``ratings``, or the given ``user_ids`` / ``item_ids`` (sorted, so that
    users or movies without ratings get an empty row or column). On MovieLens,
    whose ids run 1..n, user ``u`` is row ``u - 1`` and item ``i`` column
    ``i - 1``. Missing cells are *unknown*, not zero: a CSR matrix stores only
    the known ones.
    """
    from scipy import sparse

    from .ids import id_index, positions

    users = id_index(ratings["user_id"] if user_ids is None else user_ids, "user_id")
    items = id_index(ratings["item_id"] if item_ids is None else item_ids, "item_id")
    rows, cols = positions(users, ratings["user_id"]), positions(items, ratings["item_id"])
    if (rows < 0).any() or (cols < 0).any():
        raise ValueError("ratings name ids missing from the user_ids or item_ids given")
    values = ratings["rating"].to_numpy(dtype=np.float64)
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(users), len(items)))


def load_toy(path: str | Path | None = None) -> MovieLens:
    """The course's toy data: 5 users, 8 movies, 23 of the 40 cells rated.

    Same schema as :func:`load_movielens_100k` (the users frame has ``name``
    instead of demographics), so every function of the package runs on it.
    """
    folder = Path(path) if path is not None else _TOY
    try:
        ratings = pd.read_csv(folder / "ratings.csv")
        movies = pd.read_csv(folder / "movies.csv", dtype={"title": str, "genres": str})
        users = pd.read_csv(folder / "users.csv", dtype={"name": str})
    except FileNotFoundError as exc:
        raise DataError(f"toy data not found: {exc.filename}") from exc
    ratings["timestamp"] = pd.to_datetime(ratings["timestamp"])
    movies["year"] = movies["year"].astype("Int64")
    return MovieLens(ratings, _with_genre_columns(movies), users)


def load_toy_genre_weights(path: str | Path | None = None) -> pd.DataFrame:
    """Hand-made genre weights (0..1) of the 8 toy movies, indexed by ``item_id``.

    Invented to explain content-based similarity before TF-IDF: how much of
    each of six broad genres a movie has, as a person might judge it.
    """
    folder = Path(path) if path is not None else _TOY
    try:
        return pd.read_csv(folder / "genre_weights.csv", index_col="item_id")
    except FileNotFoundError as exc:
        raise DataError(f"toy genre weights not found: {exc.filename}") from exc


# ------------------------------------------------------------------------ sources


def _fetch_grouplens(workdir: Path, *, verbose: bool, retries: int) -> MovieLens:
    with tempfile.TemporaryDirectory(dir=workdir, prefix=f".download-{os.getpid()}-") as tmp:
        target = Path(tmp) / "ml-100k.zip"
        _download(ML100K_URL, target, verbose=verbose, retries=retries)
        _check_digest(target, "sha1", ML100K_SHA1)
        return _parse_official_zip(target)


def _fetch_recbole(workdir: Path, *, verbose: bool, retries: int) -> MovieLens:
    with tempfile.TemporaryDirectory(dir=workdir, prefix=f".download-{os.getpid()}-") as tmp:
        _say(verbose, f"Downloading the {RECBOLE_REQUIREMENT} wheel with pip (about 2 MB) ...")
        cmd = [
            sys.executable, "-c", _CHILD, str(os.getpid()), _PIP_MODULE, "download", "--no-deps",
            "--only-binary=:all:", "--disable-pip-version-check", "--quiet", *_PIP_OPTIONS, "--dest", tmp,
            RECBOLE_REQUIREMENT,
        ]
        deadline = time.monotonic() + PIP_TIMEOUT_S
        for attempt in range(retries + 1):
            try:
                proc = subprocess.run(cmd, check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                      timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired as exc:  # run() has killed pip
                raise DataError(f"`pip download {RECBOLE_REQUIREMENT}` did not finish within {PIP_TIMEOUT_S:g} s: "
                                f"the package index does not answer; pip said: {_pip_said(exc.stderr)}") from None
            if proc.returncode == 0:
                break
            if attempt < retries and time.monotonic() + 0.5 * 2**attempt < deadline:
                time.sleep(0.5 * 2**attempt)
            else:
                break
        if proc.returncode != 0:
            raise DataError(f"`pip download {RECBOLE_REQUIREMENT}` failed: {_pip_said(proc.stderr or proc.stdout)}")
        wheel = Path(tmp) / RECBOLE_WHEEL
        if not wheel.is_file():
            raise DataError(f"pip did not produce {RECBOLE_WHEEL}")
        _check_digest(wheel, "sha256", RECBOLE_SHA256)
        return _parse_recbole_wheel(wheel)


def _pip_said(output) -> str:
    """The lines of pip's output that say what went wrong (errors and retries), at most four, in order."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    telling = [line for line in lines if line.startswith(("ERROR", "WARNING: Retrying"))] or lines[-1:]
    unique = list(dict.fromkeys(telling))
    return " | ".join(unique[-4:]) if unique else "nothing (no output)"


def _download(url: str, target: Path, *, verbose: bool, retries: int, timeout: float = 30) -> None:
    """Download ``url`` to ``target`` with a progress bar and a few retries."""
    from tqdm.auto import tqdm

    last = None
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=target.name,
                          disable=not verbose, file=sys.stderr) as bar:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
            return
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            last = exc
            target.unlink(missing_ok=True)
            if attempt < retries:
                time.sleep(0.5 * 2**attempt)
    reason = getattr(last, "reason", last)
    raise DataError(f"could not download {url} after {retries + 1} attempts: {reason}")


def _check_digest(path: Path, algorithm: str, expected: str, hint: str = "") -> None:
    actual = _digest(path, algorithm)
    if actual != expected:
        raise DataError(
            f"{algorithm.upper()} mismatch for {path.name}: expected {expected}, got {actual}. "
            "The file is corrupt, truncated or not the expected release." + (f" {hint}" if hint else "")
        )


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_members(archive: Path, wanted: dict[str, str]) -> dict[str, bytes]:
    """Read members of a zip into memory, refusing archives with unsafe names.

    Nothing is extracted to disk, so a member name cannot escape the target
    folder; an archive that contains absolute paths or ``..`` is rejected as
    malformed all the same.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for name in names:
                parts = PurePosixPath(name.replace("\\", "/")).parts
                if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                    raise DataError(f"{archive.name} contains an unsafe path {name!r}; refusing it")
            found = {}
            for key, member in wanted.items():
                if member not in names:
                    raise DataError(f"{archive.name} has no member {member!r}")
                found[key] = zf.read(member)
            return found
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{archive.name} is not a readable zip file ({exc}): it is damaged; download it "
                        "again") from exc


def _parse_official_zip(path: Path) -> MovieLens:
    """Parse the GroupLens layout: ``u.data`` (tab), ``u.item`` and ``u.user`` (``|``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path.name} is not a readable zip file ({exc})") from exc
    wanted = {}
    for key in ("u.data", "u.item", "u.user"):
        candidates = [n for n in names if n == key or n.endswith("/" + key)]
        if len(candidates) != 1:
            raise DataError(f"{path.name} does not look like ml-100k.zip: no single {key}")
        wanted[key] = candidates[0]
    raw = _read_members(path, wanted)
    try:
        ratings = pd.read_csv(
            io.BytesIO(raw["u.data"]), sep="\t", header=None,
            names=["user_id", "item_id", "rating", "timestamp"],
        )
        item_cols = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES]
        items = pd.read_csv(
            io.BytesIO(raw["u.item"]), sep="|", header=None, names=item_cols,
            encoding="latin-1", dtype={"title": str, "release_date": str},
            keep_default_na=False,
        )
        users = pd.read_csv(
            io.BytesIO(raw["u.user"]), sep="|", header=None,
            names=["user_id", "age", "gender", "occupation", "zip_code"],
            dtype={"zip_code": str, "gender": str, "occupation": str},
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: could not parse the MovieLens files ({exc})") from exc
    # The title carries the year, "Toy Story (1995)", once followed by a format
    # tag, "... (1995) (V)"; the release date is the fallback.
    parts = items["title"].str.extract(_TITLE_YEAR)
    title = parts["title"].fillna(items["title"].str.strip())
    release_year = pd.to_numeric(items["release_date"].str[-4:], errors="coerce")
    year = pd.to_numeric(parts["year"], errors="coerce").fillna(release_year)
    flags = items[list(GENRES)].to_numpy()
    if not np.isin(flags, (0, 1)).all():
        raise DataError(f"{path.name}: genre flags in u.item are not all 0/1")
    genres = [[g for g, f in zip(GENRES, row) if f] for row in flags]
    movies = pd.DataFrame(
        {"item_id": items["item_id"], "title": title, "year": year.astype("Int64"), "genres": genres}
    )
    return _canonical(ratings, movies, users)


def _parse_recbole_wheel(wheel: Path) -> MovieLens:
    """Parse RecBole's atomic files (tab-separated, ``name:type`` headers)."""
    raw = _read_members(wheel, RECBOLE_MEMBERS)
    try:
        inter = _read_atomic(raw["inter"])
        item = _read_atomic(raw["item"])
        user = _read_atomic(raw["user"])
        ratings = pd.DataFrame({
            "user_id": inter["user_id"].astype(int),
            "item_id": inter["item_id"].astype(int),
            "rating": inter["rating"].astype(float),
            "timestamp": inter["timestamp"].astype(float),
        })
    except (KeyError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{wheel.name}: could not parse the RecBole files ({exc})") from exc
    # RecBole spells the one title-less movie "unkonwn"; the official file says "unknown".
    title = item["movie_title"].replace("unkonwn", "unknown")
    year = pd.to_numeric(item["release_year"], errors="coerce")
    # Where RecBole's year column holds a format tag ("V" for item 1412) the year
    # was left in the title, "... (1995)": split it off as the official parser does.
    parts = title.str.extract(_TITLE_YEAR)
    stuck = year.isna() & parts["year"].notna()
    title = title.mask(stuck, parts["title"])
    year = year.mask(stuck, pd.to_numeric(parts["year"], errors="coerce")).astype("Int64")
    genres = [g.split() for g in item["class"].fillna("")]
    movies = pd.DataFrame(
        {"item_id": item["item_id"].astype(int), "title": title, "year": year, "genres": genres}
    )
    users = user[["user_id", "age", "gender", "occupation", "zip_code"]]
    users = users.astype({"user_id": int, "age": int})
    return _canonical(ratings, movies, users)


def _read_atomic(blob: bytes) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(blob), sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
    frame.columns = [c.split(":", 1)[0] for c in frame.columns]
    return frame


def _canonical(ratings: pd.DataFrame, movies: pd.DataFrame, users: pd.DataFrame) -> MovieLens:
    """Bring any source to the cached schema (genres still as lists, no one-hot columns)."""
    ratings = ratings.copy()
    for column in ("user_id", "item_id", "rating", "timestamp"):
        values = pd.to_numeric(ratings[column], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"rating number {row + 1:,} of the ratings file has {column} "
                            f"{ratings[column].iloc[row]!r}: every field there must be a number")
        ratings[column] = values
    if (ratings["rating"] % 1 != 0).any():
        raise DataError("ratings must be whole stars 1..5")
    if (ratings["timestamp"] % 1 != 0).any():
        raise DataError("timestamps must be whole seconds")
    ratings = ratings.astype({"user_id": "int64", "item_id": "int64", "rating": "int64", "timestamp": "int64"})
    movies = movies.sort_values("item_id", ignore_index=True)
    movies["title"] = movies["title"].astype(str)
    users = users.sort_values("user_id", ignore_index=True)
    users = users.astype({"user_id": "int64", "age": "int64", "gender": str, "occupation": str, "zip_code": str})
    return MovieLens(ratings.reset_index(drop=True), movies, users)


# --------------------------------------------------------------------- validation


def _validate(data: MovieLens, *, source: str) -> None:
    """Check a copy against the known shape of MovieLens-100k; raise DataError if not."""
    ratings, movies, users = data
    problems = []
    exp = EXPECTED
    if len(ratings) != exp["n_ratings"]:
        problems.append(f"{len(ratings):,} ratings, expected {exp['n_ratings']:,}")
    n_users, n_items = ratings["user_id"].nunique(), ratings["item_id"].nunique()
    if n_users != exp["n_users"]:
        problems.append(f"{n_users} users rated something, expected {exp['n_users']}")
    if n_items != exp["n_items"]:
        problems.append(f"{n_items} movies were rated, expected {exp['n_items']}")
    counts = {int(k): int(v) for k, v in ratings["rating"].value_counts().sort_index().items()}
    if counts != exp["rating_counts"]:
        problems.append(f"rating histogram {counts}, expected {exp['rating_counts']}")
    per_user = ratings.groupby("user_id").size()
    if len(per_user) and per_user.min() < exp["min_ratings_per_user"]:
        problems.append(f"a user has {per_user.min()} ratings, every user should have >= 20")
    if ratings.duplicated(["user_id", "item_id"]).any():
        problems.append("some (user, item) pairs are rated twice")
    genres = {g for gs in movies["genres"] for g in gs}
    if len(genres) != exp["n_genres"] or not genres <= set(GENRES):
        problems.append(f"{len(genres)} genres {sorted(genres - set(GENRES))}, expected the 19 of u.genre")
    if len(movies) != exp["n_items"] or not movies["item_id"].is_unique:
        problems.append(f"{len(movies)} movies in the item file, expected {exp['n_items']} unique ids")
    if len(users) != exp["n_users"] or not users["user_id"].is_unique:
        problems.append(f"{len(users)} users in the user file, expected {exp['n_users']} unique ids")
    if not ratings["item_id"].isin(movies["item_id"]).all():
        problems.append("some ratings name a movie missing from the item file")
    if not ratings["user_id"].isin(users["user_id"]).all():
        problems.append("some ratings name a user missing from the user file")
    if problems:
        raise DataError(f"{source}: this is not a complete MovieLens-100k: " + "; ".join(problems))


# -------------------------------------------------------------------------- cache


def _write_cache(cache: Path, data: MovieLens, *, source: str, accept_different: bool = False,
                 verbose: bool = False) -> None:
    """Write the cache into a temporary sibling folder, then rename it into place.

    Refuses a data set that is not the canonical MovieLens-100k unless
    ``accept_different``; copies the user's own files from the old cache
    folder into the new one before the swap, so none is lost.
    """
    try:
        tmp = Path(tempfile.mkdtemp(dir=cache.parent, prefix=f".{cache.name}-tmp-{os.getpid()}-"))
    except OSError as exc:
        raise DataError(f"cannot write the cache in {cache.parent} ({exc.strerror}): {_HOME_HINT}") from None
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is ordinary shared data
        ratings, movies, users = data
        movies = movies[["item_id", "title", "year", "genres"]].assign(genres=movies["genres"].map("|".join))
        _write_csv(ratings, tmp / "ratings.csv")
        _write_csv(movies, tmp / "movies.csv")
        _write_csv(users, tmp / "users.csv")
        digests = {name: _digest(tmp / name, "sha256") for name in CACHE_FILES}
        canonical = digests == CANONICAL_SHA256
        if not canonical and not accept_different:
            differ = [name for name in CACHE_FILES if digests[name] != CANONICAL_SHA256[name]]
            raise DataError(
                f"{source} has the shape of MovieLens-100k but is not the real data set: its "
                f"{' and '.join(differ)} {'differs' if len(differ) == 1 else 'differ'} from the canonical copy (SHA-256 {digests[differ[0]][:16]}..., "
                f"expected {CANONICAL_SHA256[differ[0]][:16]}...). Nothing was changed. To work on this data "
                f"anyway, import it with --accept-different-data (import_zip(..., accept_different=True)): it "
                f"replaces the cache in {cache}, and the notebooks' numbers will differ."
            )
        manifest = {
            "dataset": "MovieLens-100k",
            "format": CACHE_FORMAT,
            "source": source,
            "canonical": canonical,
            "sha256": digests,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        kept = _carry_over(cache, tmp)
        _replace_dir(tmp, cache)
        if kept:
            _say(verbose, f"Kept your file(s) in {cache}: {', '.join(kept)}")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _carry_over(cache: Path, new: Path) -> list[str]:
    """Copy what a user put in the old cache folder (anything but the cache's own files) into ``new``.

    A copy, not a move: until the new folder is in place the originals stay
    where they were, so an interrupted run loses nothing.
    """
    if not cache.is_dir():
        return []
    kept = []
    for entry in sorted(cache.iterdir()):
        if entry.name in (*CACHE_FILES, MANIFEST):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, new / entry.name, follow_symlinks=False)
        kept.append(entry.name)
    return kept


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``; an old ``target`` is removed only afterwards."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _cache_problem(cache: Path) -> str | None:
    """Why the cache cannot be used, or None when its files match their manifest."""
    manifest_path = cache / MANIFEST
    if not manifest_path.is_file():
        return "no cache yet" if not cache.exists() else "no manifest"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return "unreadable manifest"
    recorded = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(recorded, dict) or not all(isinstance(recorded.get(name), str) for name in CACHE_FILES):
        return "unreadable manifest"
    if manifest.get("format") != CACHE_FORMAT:
        return f"cache format {manifest.get('format')}, this version reads {CACHE_FORMAT}"
    for name in CACHE_FILES:
        path = cache / name
        if not path.is_file():
            return f"{name} is missing"
        if _digest(path, "sha256") != recorded.get(name):
            return f"{name} does not match its recorded SHA-256"
    return None


def _warn_if_different(cache: Path) -> None:
    """Warn when a valid cache holds another data set than the canonical MovieLens-100k."""
    manifest = json.loads((cache / MANIFEST).read_text())
    if {name: manifest["sha256"][name] for name in CACHE_FILES} != CANONICAL_SHA256:
        warnings.warn(f"the data in {cache} (source: {manifest.get('source', '?')}) is not the canonical "
                      "MovieLens-100k: results will differ from the course's. Run `python -m recsys_course.data "
                      "--force` to fetch the real data set.", UserWarning, stacklevel=3)


def _read_cache(cache: Path) -> MovieLens:
    ratings = pd.read_csv(cache / "ratings.csv")
    ratings["timestamp"] = pd.to_datetime(ratings["timestamp"], unit="s")
    movies = pd.read_csv(cache / "movies.csv", dtype={"title": str, "genres": str}, keep_default_na=False)
    movies["year"] = pd.to_numeric(movies["year"], errors="coerce").astype("Int64")
    movies = _with_genre_columns(movies)
    users = pd.read_csv(cache / "users.csv", dtype={"gender": str, "occupation": str, "zip_code": str})
    return MovieLens(ratings, movies, users)


def _with_genre_columns(movies: pd.DataFrame) -> pd.DataFrame:
    """Turn a ``|``-joined ``genres`` string column into a list plus 19 one-hot columns."""
    movies = movies.copy()
    genres = movies["genres"].fillna("").map(lambda s: [g for g in s.split("|") if g])
    movies["genres"] = genres
    onehot = pd.DataFrame(
        {g: genres.map(lambda gs, g=g: int(g in gs)).astype("int8") for g in GENRES}, index=movies.index
    )
    return pd.concat([movies, onehot], axis=1)


# ---------------------------------------------------------------- helpers and CLI


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recsys_course.data",
        description="Fetch, validate and cache MovieLens-100k (no prompts; safe to re-run).",
    )
    parser.add_argument("--from-zip", metavar="PATH", help="import an official ml-100k.zip placed by hand")
    parser.add_argument("--no-checksum", action="store_true",
                        help="with --from-zip: accept a zip whose SHA-1 differs (e.g. re-zipped); "
                             "its content must still be the canonical MovieLens-100k")
    parser.add_argument("--accept-different-data", action="store_true",
                        help="with --from-zip: cache a data set that only has MovieLens-100k's shape (edited or "
                             "other ratings), replacing the cache; the notebooks' numbers will differ")
    parser.add_argument("--force", action="store_true", help="fetch again even if the cache is valid")
    parser.add_argument("--data-home", metavar="DIR", help="cache folder (default: $RECSYS_COURSE_DATA or datasets/)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    verbose = not args.quiet
    try:
        if args.from_zip:
            data = import_zip(args.from_zip, args.data_home, verify_sha1=not args.no_checksum,
                              accept_different=args.accept_different_data, verbose=verbose)
        elif args.force:
            data = fetch_movielens_100k(args.data_home, verbose=verbose)
        else:
            data = load_movielens_100k(args.data_home, verbose=verbose)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cache = _cache_dir(args.data_home)
    source = json.loads((cache / MANIFEST).read_text()).get("source", "?")
    _say(verbose, f"MovieLens-100k ready in {cache} (source: {source}): "
                  f"{len(data.ratings):,} ratings, {len(data.users)} users, {len(data.movies):,} movies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
