"""Fixtures for tests and benchmarks: the toy data and files in the sources' formats.

``synthetic_movielens`` makes a stand-in that has exactly the *shape* that the
loader validates (100,000 ratings with the real rating histogram, 943 users,
1,682 movies, 19 genres) so the fetch-validate-cache path can be tested without
the network. It is random noise: never use it for results.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .data import EXPECTED, GENRES, RECBOLE_MEMBERS, MovieLens, load_toy

__all__ = ["load_toy", "synthetic_movielens", "unix_seconds", "write_official_zip", "write_recbole_wheel"]


def synthetic_movielens(random_state: int = 0) -> MovieLens:
    """A random data set with the exact counts of MovieLens-100k (for loader tests only)."""
    rng = np.random.default_rng(random_state)
    n_users, n_items, n_ratings = EXPECTED["n_users"], EXPECTED["n_items"], EXPECTED["n_ratings"]
    per_user = np.full(n_users, n_ratings // n_users)
    per_user[: n_ratings - per_user.sum()] += 1
    # Each user rates a contiguous block of items (mod n_items): no pair twice, every item covered.
    starts = (np.arange(n_users) * 1_787) % n_items
    users = np.repeat(np.arange(1, n_users + 1), per_user)
    offsets = np.concatenate([np.arange(k) for k in per_user])
    items = (np.repeat(starts, per_user) + offsets) % n_items + 1
    stars = np.repeat(list(EXPECTED["rating_counts"]), list(EXPECTED["rating_counts"].values()))
    ratings = pd.DataFrame({
        "user_id": users,
        "item_id": items,
        "rating": rng.permutation(stars),
        "timestamp": 874_724_710 + rng.integers(0, 18_000_000, n_ratings),
    })
    genre_ids = np.arange(1, n_items + 1) % len(GENRES)
    movies = pd.DataFrame({
        "item_id": np.arange(1, n_items + 1),
        "title": [f"Movie {i}" for i in range(1, n_items + 1)],
        "year": pd.array(1930 + np.arange(n_items) % 68, dtype="Int64"),
        "genres": [[GENRES[g]] for g in genre_ids],
    })
    users_frame = pd.DataFrame({
        "user_id": np.arange(1, n_users + 1),
        "age": 18 + np.arange(n_users) % 50,
        "gender": np.where(np.arange(n_users) % 3, "M", "F"),
        "occupation": "other",
        "zip_code": [f"{10000 + u:05d}" for u in range(n_users)],
    })
    return MovieLens(ratings, movies, users_frame)


def unix_seconds(timestamp: pd.Series) -> pd.Series:
    """Datetimes (or seconds already) as whole seconds since 1970, as MovieLens stores them."""
    if pd.api.types.is_datetime64_any_dtype(timestamp):
        return (timestamp - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    return timestamp.astype("int64")


def write_official_zip(data: MovieLens, path: str | Path, *, folder: str = "ml-100k/",
                       extra: dict[str, bytes] | None = None) -> Path:
    """Write ``data`` in the GroupLens layout (``u.data``, ``u.item``, ``u.user``) as a zip."""
    ratings, movies, users = data
    u_data = ratings.assign(timestamp=unix_seconds(ratings["timestamp"]))[
        ["user_id", "item_id", "rating", "timestamp"]
    ].to_csv(sep="\t", header=False, index=False, lineterminator="\n")
    lines = []
    for row in movies.itertuples(index=False):
        year = "" if pd.isna(row.year) else int(row.year)
        title = f"{row.title} ({year})" if year != "" else row.title
        date = f"01-Jan-{year}" if year != "" else ""
        flags = "|".join(str(int(g in row.genres)) for g in GENRES)
        lines.append(f"{row.item_id}|{title}|{date}||http://example.invalid/{row.item_id}|{flags}\n")
    u_user = users[["user_id", "age", "gender", "occupation", "zip_code"]].to_csv(
        sep="|", header=False, index=False, lineterminator="\n"
    )
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(folder + "u.data", u_data)
        zf.writestr(folder + "u.item", "".join(lines).encode("latin-1"))
        zf.writestr(folder + "u.user", u_user)
        for name, blob in (extra or {}).items():
            zf.writestr(name, blob)
    return path


def write_recbole_wheel(data: MovieLens, path: str | Path) -> Path:
    """Write ``data`` as RecBole atomic files inside a minimal installable-looking wheel."""
    ratings, movies, users = data
    inter = ratings.assign(timestamp=unix_seconds(ratings["timestamp"]))[
        ["user_id", "item_id", "rating", "timestamp"]
    ]
    inter.columns = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    item = pd.DataFrame({
        "item_id:token": movies["item_id"],
        "movie_title:token_seq": movies["title"],
        "release_year:token": movies["year"].astype("string").fillna(""),
        "class:token_seq": movies["genres"].map(" ".join),
    })
    user = users[["user_id", "age", "gender", "occupation", "zip_code"]].copy()
    user.columns = ["user_id:token", "age:token", "gender:token", "occupation:token", "zip_code:token"]
    tables = {"inter": inter, "item": item, "user": user}
    path = Path(path)
    name, version = path.name.split("-")[:2]
    dist_info = f"{name}-{version}.dist-info/"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, member in RECBOLE_MEMBERS.items():
            buffer = io.StringIO()
            tables[key].to_csv(buffer, sep="\t", index=False, lineterminator="\n")
            zf.writestr(member, buffer.getvalue().encode("utf-8"))
        zf.writestr(dist_info + "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(dist_info + "WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(dist_info + "RECORD", "")
    return path
