"""The MovieLens-100k loader: parsing, validation, the source chain and the cache.

No test here reaches the internet. Downloads go to a loopback HTTP server
(``http_server``) and pip to a local folder of wheels (``local_pip_index``).
"""

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_course import data as D
from recsys_course import testing

# ----------------------------------------------------------------------- fixtures


@pytest.fixture()
def small():
    """Three movies and two users in the canonical schema, with the awkward cases."""
    ratings = pd.DataFrame({
        "user_id": [1, 1, 2, 2],
        "item_id": [1, 2, 2, 3],
        "rating": [5, 3, 4, 1],
        "timestamp": [881250949, 891717742, 878887116, 880606923],
    })
    movies = pd.DataFrame({
        "item_id": [1, 2, 3],
        "title": ["Amélie", "unknown", "Land Before Time III"],
        "year": pd.array([2001, None, 1995], dtype="Int64"),
        "genres": [["Comedy", "Romance"], ["unknown"], ["Animation", "Children's"]],
    })
    users = pd.DataFrame({
        "user_id": [1, 2], "age": [24, 53], "gender": ["M", "F"],
        "occupation": ["technician", "other"], "zip_code": ["85711", "T8H1N"],
    })
    return D.MovieLens(ratings, movies, users)


@pytest.fixture()
def http_server():
    """A loopback web server: ``serve(path, body, failures=0)`` returns the URL.

    ``failures`` answers that many requests with HTTP 503 before serving the body.
    """
    routes = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            if route["failures"] > 0:
                route["failures"] -= 1
                self.send_error(503)
                return
            route["hits"] += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(route["body"])))
            self.end_headers()
            self.wfile.write(route["body"])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(path, body, failures=0):
        routes[path] = {"body": body, "failures": failures, "hits": 0}
        return f"http://127.0.0.1:{server.server_port}{path}"

    serve.routes = routes
    yield serve
    server.shutdown()
    server.server_close()


@pytest.fixture()
def official_source(tmp_path, synthetic, http_server, monkeypatch):
    """Point the GroupLens source at a loopback copy of a synthetic official zip."""
    archive = testing.write_official_zip(synthetic, tmp_path / "ml-100k.zip")
    body = archive.read_bytes()
    monkeypatch.setattr(D, "ML100K_URL", http_server("/ml-100k.zip", body))
    monkeypatch.setattr(D, "ML100K_SHA1", hashlib.sha1(body).hexdigest())
    return http_server.routes["/ml-100k.zip"]


@pytest.fixture()
def local_pip_index(tmp_path, synthetic, monkeypatch):
    """Make `pip download recbole==1.2.1` find a synthetic wheel in a local folder only."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = testing.write_recbole_wheel(synthetic, wheels / D.RECBOLE_WHEEL)
    monkeypatch.setattr(D, "RECBOLE_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheel


@pytest.fixture()
def no_official(monkeypatch):
    """The GroupLens source fails at once, as on a machine without access to it."""
    monkeypatch.setattr(D, "ML100K_URL", "http://127.0.0.1:9/ml-100k.zip")  # discard port: refused


#: The real data set's digests, before the autouse fixture below swaps in the synthetic stand-in's.
REAL_SHA256 = dict(D.CANONICAL_SHA256)


@pytest.fixture(autouse=True)
def _synthetic_stands_in(synthetic_is_canonical):
    pass


def _assert_same(a, b):
    for left, right in zip(a, b):
        pd.testing.assert_frame_equal(left, right)


# ------------------------------------------------------------------------ parsing


def test_official_zip_parses_to_the_canonical_schema(tmp_path, small):
    archive = testing.write_official_zip(small, tmp_path / "ml-100k.zip")
    ratings, movies, users = D._parse_official_zip(archive)
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert ratings["rating"].tolist() == [5, 3, 4, 1]
    assert list(movies.columns) == ["item_id", "title", "year", "genres"]
    # latin-1 decoded, the year split off the title, no year for the title-less movie
    assert movies["title"].tolist() == ["Amélie", "unknown", "Land Before Time III"]
    assert movies["year"].tolist()[0] == 2001 and pd.isna(movies["year"].iloc[1])
    assert movies["genres"].iloc[2] == ["Animation", "Children's"]
    assert users["zip_code"].tolist() == ["85711", "T8H1N"]


def _edited_zip(data, folder, member: str, old: bytes, new: bytes):
    """An official-layout zip of ``data`` with ``old`` replaced by ``new`` in ``ml-100k/member``."""
    archive = testing.write_official_zip(data, folder / "ml-100k.zip")
    with zipfile.ZipFile(archive) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files[f"ml-100k/{member}"] = files[f"ml-100k/{member}"].replace(old, new)
    with zipfile.ZipFile(archive, "w") as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
    return archive


def test_official_title_with_a_format_tag_keeps_its_year(tmp_path, small):
    # GroupLens writes e.g. "Land Before Time III: ... (1995) (V)" for a video release.
    archive = _edited_zip(small, tmp_path, "u.item", b"III (1995)", b"III (1995) (V)")
    movies = D._parse_official_zip(archive).movies
    assert movies.loc[2, "title"] == "Land Before Time III"
    assert movies.loc[2, "year"] == 1995


def test_recbole_wheel_gives_the_same_frames_as_the_official_zip(tmp_path, small):
    official = D._parse_official_zip(testing.write_official_zip(small, tmp_path / "ml-100k.zip"))
    mirror = D._parse_recbole_wheel(testing.write_recbole_wheel(small, tmp_path / D.RECBOLE_WHEEL))
    _assert_same(official, mirror)


def test_recbole_quirks_are_mapped_to_the_official_values(tmp_path, small):
    wheel = testing.write_recbole_wheel(small, tmp_path / D.RECBOLE_WHEEL)
    with zipfile.ZipFile(wheel) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    item = D.RECBOLE_MEMBERS["item"]
    # RecBole 1.2.1 writes "unkonwn" for movie 267 and leaves item 1412's year in its title.
    files[item] = (files[item].replace(b"2\tunknown\t\t", b"2\tunkonwn\tunkonwn\t")
                   .replace(b"Land Before Time III\t1995", b"Land Before Time III (1995)\tV"))
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
    movies = D._parse_recbole_wheel(wheel).movies
    assert movies["title"].tolist() == ["Amélie", "unknown", "Land Before Time III"]
    assert pd.isna(movies.loc[1, "year"]) and movies.loc[2, "year"] == 1995


def test_a_zip_with_an_unsafe_member_is_refused(tmp_path, small):
    archive = testing.write_official_zip(small, tmp_path / "ml-100k.zip", extra={"../evil.txt": b"x"})
    with pytest.raises(D.DataError, match="unsafe path '../evil.txt'"):
        D._parse_official_zip(archive)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_a_file_that_is_not_a_zip_gives_a_clear_error(tmp_path):
    bogus = tmp_path / "ml-100k.zip"
    bogus.write_bytes(b"<html>captive portal</html>")
    with pytest.raises(D.DataError, match="not a readable zip file"):
        D._parse_official_zip(bogus)


def test_a_zip_without_the_movielens_files_is_refused(tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(D.DataError, match="no single u.data"):
        D._parse_official_zip(archive)


# --------------------------------------------------------------------- validation


def test_the_synthetic_stand_in_passes_validation(synthetic):
    D._validate(synthetic, source="synthetic")  # the fixture the source tests rely on


def test_validation_catches_a_truncated_ratings_file(synthetic):
    truncated = synthetic._replace(ratings=synthetic.ratings.iloc[:-1000])
    with pytest.raises(D.DataError, match="99,000 ratings, expected 100,000"):
        D._validate(truncated, source="truncated")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: d._replace(ratings=d.ratings.assign(rating=np.roll(d.ratings["rating"], 1).clip(2, 5))),
         "rating histogram"),
        (lambda d: d._replace(ratings=d.ratings.drop(d.ratings.index[d.ratings.user_id == 7][10:])),
         "a user has 10 ratings, every user should have >= 20"),
        (lambda d: d._replace(movies=d.movies.assign(genres=[["Drama"]] * len(d.movies))), "genres"),
        (lambda d: d._replace(users=d.users.iloc[:-1]), "942 users in the user file"),
    ],
    ids=["histogram", "short-user", "genres", "missing-user"],
)
def test_validation_names_what_is_wrong(synthetic, mangle, message):
    with pytest.raises(D.DataError, match=message):
        D._validate(mangle(synthetic), source="bad")


# ----------------------------------------------------------------- sources, cache


def test_fetch_from_the_official_source_then_load_from_the_cache(tmp_path, synthetic, official_source):
    data = D.fetch_movielens_100k(tmp_path, sources=("grouplens",), verbose=False)
    assert official_source["hits"] == 1
    assert data.ratings["timestamp"].dtype.kind == "M"
    assert set(D.GENRES) <= set(data.movies.columns)
    cached = D.load_movielens_100k(tmp_path, download=False)
    _assert_same(data, cached)
    assert official_source["hits"] == 1  # the second load never touched the network
    manifest = (tmp_path / "ml-100k" / "manifest.json").read_text()
    assert '"source": "grouplens"' in manifest


def test_a_transient_server_error_is_retried(tmp_path, official_source):
    official_source["failures"] = 2
    D.fetch_movielens_100k(tmp_path, sources=("grouplens",), verbose=False, retries=2)
    assert official_source["hits"] == 1


def test_a_checksum_mismatch_is_an_error_and_caches_nothing(tmp_path, official_source, monkeypatch):
    monkeypatch.setattr(D, "ML100K_SHA1", "0" * 40)
    home = tmp_path / "home"
    with pytest.raises(D.DataError, match=r"SHA1 mismatch for ml-100k.zip: expected 0{40}, got [0-9a-f]{40}"):
        D.fetch_movielens_100k(home, sources=("grouplens",), verbose=False, retries=0)
    assert list(home.iterdir()) == []  # neither a cache nor a temporary download left behind


def test_fallback_to_the_recbole_wheel(tmp_path, synthetic, no_official, local_pip_index):
    data = D.load_movielens_100k(tmp_path, verbose=False)
    assert len(data.ratings) == 100_000
    assert '"source": "recbole"' in (tmp_path / "ml-100k" / "manifest.json").read_text()
    expected = D._parse_official_zip(testing.write_official_zip(synthetic, tmp_path / "o.zip"))
    pd.testing.assert_frame_equal(data.ratings.drop(columns="timestamp"),
                                  expected.ratings.drop(columns="timestamp"))


def test_a_tampered_recbole_wheel_is_refused(tmp_path, no_official, local_pip_index, monkeypatch):
    monkeypatch.setattr(D, "RECBOLE_SHA256", "f" * 64)
    with pytest.raises(D.DataError, match="SHA256 mismatch for recbole-1.2.1-py3-none-any.whl"):
        D.fetch_movielens_100k(tmp_path, verbose=False, retries=0)


def test_when_every_source_fails_the_error_lists_them_and_the_manual_route(tmp_path, no_official, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))  # an empty folder: pip finds nothing
    with pytest.raises(D.DataError) as info:
        D.load_movielens_100k(tmp_path / "home", verbose=False)
    message = str(info.value)
    assert "- grouplens: could not download" in message
    assert "- recbole: `pip download recbole==1.2.1` failed" in message
    assert "python -m recsys_course.data --from-zip" in message


def test_missing_cache_with_download_disabled_says_how_to_fetch(tmp_path):
    with pytest.raises(D.DataError, match=r"(?s)not in the cache .* \(no cache yet\) .*make data"):
        D.load_movielens_100k(tmp_path, download=False)


def test_a_failure_while_writing_the_cache_leaves_no_half_cache(tmp_path, synthetic, monkeypatch):
    real_write = D._write_csv
    calls = []

    def failing_write(frame, path):
        calls.append(path.name)
        if len(calls) == 2:  # the first file is written, then the disk "fills up"
            path.write_text("user_id,item_id\n1,")
            raise OSError("No space left on device")
        real_write(frame, path)

    monkeypatch.setattr(D, "_write_csv", failing_write)
    with pytest.raises(OSError, match="No space left"):
        D._write_cache(tmp_path / "ml-100k", synthetic, source="test")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_refresh_keeps_the_previous_cache(tmp_path, synthetic, monkeypatch):
    D._write_cache(tmp_path / "ml-100k", synthetic, source="first")
    monkeypatch.setattr(D, "_write_csv", lambda frame, path: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        D._write_cache(tmp_path / "ml-100k", synthetic, source="second")
    assert D._cache_problem(tmp_path / "ml-100k") is None
    assert '"source": "first"' in (tmp_path / "ml-100k" / "manifest.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k"]


def test_a_corrupt_cache_is_detected_and_fetched_again(tmp_path, official_source):
    D.fetch_movielens_100k(tmp_path, sources=("grouplens",), verbose=False)
    ratings_csv = tmp_path / "ml-100k" / "ratings.csv"
    ratings_csv.write_bytes(ratings_csv.read_bytes()[:1000])  # truncated by a crash
    assert D._cache_problem(tmp_path / "ml-100k") == "ratings.csv does not match its recorded SHA-256"
    with pytest.raises(D.DataError, match="does not match its recorded SHA-256"):
        D.load_movielens_100k(tmp_path, download=False)
    data = D.load_movielens_100k(tmp_path, verbose=False)
    assert len(data.ratings) == 100_000 and official_source["hits"] == 2
    assert D._cache_problem(tmp_path / "ml-100k") is None


def test_import_zip_by_hand(tmp_path, synthetic, capsys):
    archive = testing.write_official_zip(synthetic, tmp_path / "ml-100k.zip")
    # A re-zipped copy has other bytes than the GroupLens file: the checksum says so ...
    assert D.main(["--from-zip", str(archive), "--data-home", str(tmp_path / "home")]) == 1
    assert "SHA1 mismatch" in capsys.readouterr().err
    # ... and --no-checksum accepts it because the content is validated all the same.
    assert D.main(["--from-zip", str(archive), "--data-home", str(tmp_path / "home"), "--no-checksum"]) == 0
    assert "100,000 ratings, 943 users, 1,682 movies" in capsys.readouterr().err
    assert D._cache_problem(tmp_path / "home" / "ml-100k") is None


def test_data_home_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_COURSE_DATA", str(tmp_path))
    assert D.data_home() == tmp_path
    monkeypatch.delenv("RECSYS_COURSE_DATA")
    assert D.data_home().name in {"datasets", "recsys_course"}


# ---------------------------------------------------------------- toy and matrix


def test_toy_data_has_the_documented_shape(toy):
    ratings, movies, users = toy
    assert users["name"].tolist() == ["Alice", "Bob", "Carol", "Dave", "Eve"]
    assert movies["title"].tolist() == [
        "Inception", "The Notebook", "Toy Story", "The Dark Knight",
        "Frozen", "Titanic", "Interstellar", "The Avengers",
    ]
    assert len(ratings) == 23 and ratings["rating"].between(1, 5).all()
    assert not ratings.duplicated(["user_id", "item_id"]).any()
    assert movies.loc[0, "Sci-Fi"] == 1 and movies.loc[1, "Sci-Fi"] == 0


def test_rating_matrix_puts_user_u_in_row_u_minus_1(toy):
    matrix = D.rating_matrix(toy.ratings)
    assert matrix.shape == (5, 8) and matrix.nnz == 23
    alice_inception = toy.ratings.query("user_id == 1 and item_id == 1")["rating"].item()
    assert matrix[0, 0] == alice_inception
    assert matrix[0, 2] == 0  # not stored: unknown


def test_rating_matrix_numbers_ids_as_every_model_does(toy):
    from recsys_course.models.baselines import Popularity

    shuffled = toy.ratings.assign(user_id=toy.ratings.user_id * 10).sample(frac=1, random_state=0)
    matrix = D.rating_matrix(shuffled)
    model = Popularity().fit(shuffled)
    assert (matrix.toarray() > 0).astype(bool).tolist() == model.seen_.toarray().tolist()
    wider = D.rating_matrix(shuffled, item_ids=range(1, 11))  # movies 9 and 10: no ratings, empty columns
    assert wider.shape == (5, 10) and wider[:, 8:].nnz == 0
    with pytest.raises(ValueError, match="ids missing from the user_ids"):
        D.rating_matrix(shuffled, user_ids=[10, 20])


# ------------------------------------------------- bad input, faults and leftovers


def _swap_two_ratings(data):
    """The same shape (counts, histogram) with two users' ratings of one movie each swapped."""
    ratings = data.ratings.copy()
    a = ratings.index[ratings["rating"] == 1][0]
    b = ratings.index[ratings["rating"] == 5][0]
    ratings.loc[[a, b], "rating"] = [5, 1]
    return data._replace(ratings=ratings)


def test_a_different_data_set_never_replaces_the_real_one_unless_asked(tmp_path, synthetic, capsys):
    home = tmp_path / "home"
    home.mkdir()
    D._write_cache(home / "ml-100k", synthetic, source="grouplens")
    before = {p.name: p.read_bytes() for p in (home / "ml-100k").iterdir()}
    edited = testing.write_official_zip(_swap_two_ratings(synthetic), tmp_path / "ml-100k.zip")
    assert D.main(["--from-zip", str(edited), "--data-home", str(home), "--no-checksum"]) == 1
    err = capsys.readouterr().err
    assert "has the shape of MovieLens-100k but is not the real data set" in err
    assert "ratings.csv differs from the canonical copy" in err and "Nothing was changed" in err
    assert "--accept-different-data" in err
    assert {p.name: p.read_bytes() for p in (home / "ml-100k").iterdir()} == before
    assert sorted(p.name for p in home.iterdir()) == ["ml-100k"]
    # Said explicitly, it is cached, and every later load says the data is not the real one.
    argv = ["--from-zip", str(edited), "--data-home", str(home), "--no-checksum", "--accept-different-data"]
    with pytest.warns(UserWarning, match="is not the canonical MovieLens-100k"):
        assert D.main(argv) == 0
    assert json.loads((home / "ml-100k" / "manifest.json").read_text())["canonical"] is False
    with pytest.warns(UserWarning, match=r"not the canonical MovieLens-100k.*--force"):
        D.load_movielens_100k(home, download=False)


def test_the_checksum_message_says_how_to_import_a_rezipped_copy(tmp_path, synthetic):
    archive = testing.write_official_zip(synthetic, tmp_path / "ml-100k.zip")
    with pytest.raises(D.DataError, match=r"SHA1 mismatch .* import it with --no-checksum"):
        D.import_zip(archive, tmp_path / "home")


def test_a_users_own_files_in_the_cache_folder_survive_a_reimport(tmp_path, synthetic, capsys):
    cache = tmp_path / "ml-100k"
    D._write_cache(cache, synthetic, source="first")
    (cache / "my_notes.txt").write_text("ratings I want to remember")
    (cache / "plots").mkdir()
    (cache / "plots" / "a.png").write_bytes(b"\x89PNG")
    D._write_cache(cache, synthetic, source="second", verbose=True)
    assert (cache / "my_notes.txt").read_text() == "ratings I want to remember"
    assert (cache / "plots" / "a.png").read_bytes() == b"\x89PNG"
    assert "Kept your file(s) in" in capsys.readouterr().err
    assert D._cache_problem(cache) is None and '"source": "second"' in (cache / "manifest.json").read_text()


def test_a_data_folder_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    monkeypatch.setenv("RECSYS_COURSE_DATA", str(afile))
    with pytest.raises(D.DataError, match=r"data folder .*afile is a file, not a folder: set RECSYS_COURSE_DATA"):
        D.fetch_movielens_100k(verbose=False)
    monkeypatch.setenv("RECSYS_COURSE_DATA", str(afile / "below"))
    with pytest.raises(D.DataError, match="part of that path is a file; set RECSYS_COURSE_DATA"):
        D.fetch_movielens_100k(verbose=False)
    assert afile.read_text() == "not a folder"


def test_a_cache_path_that_is_a_file_is_refused_and_kept(tmp_path, official_source):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ml-100k").write_text("mine")
    with pytest.raises(D.DataError, match=r"ml-100k is a file, .* move or rename the file \(nothing was changed\)"):
        D.load_movielens_100k(home, verbose=False)
    assert (home / "ml-100k").read_text() == "mine"
    assert sorted(p.name for p in home.iterdir()) == ["ml-100k"]


def test_an_unwritable_data_folder_says_where_to_put_the_data(tmp_path, monkeypatch):
    home = tmp_path / "readonly"
    home.mkdir()
    if os.geteuid() != 0:  # the real thing, where permissions bind
        home.chmod(0o555)
        try:
            with pytest.raises(D.DataError, match=r"(?s)not writable: set RECSYS_COURSE_DATA"):
                D.fetch_movielens_100k(home, verbose=False)
            with pytest.raises(D.DataError, match=r"cannot make the data folder .*: set RECSYS_COURSE_DATA"):
                D.fetch_movielens_100k(home / "below", verbose=False)
        finally:
            home.chmod(0o755)
    # as root permissions do not bind: the same answer, with the check told the folder is read-only
    real_access = os.access
    monkeypatch.setattr(D.os, "access", lambda path, mode: False if Path(path) == home else real_access(path, mode))
    with pytest.raises(D.DataError, match=r"readonly is not writable: set RECSYS_COURSE_DATA"):
        D.fetch_movielens_100k(home, verbose=False)


def test_a_tilde_in_the_data_path_means_the_home_folder(tmp_path, synthetic, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    archive = testing.write_official_zip(synthetic, tmp_path / "ml-100k.zip")
    D.import_zip("~/ml-100k.zip", "~/data", verify_sha1=False)
    assert D._cache_problem(tmp_path / "data" / "ml-100k") is None
    assert not (tmp_path / "~").exists()
    assert len(D.load_movielens_100k("~/data", download=False).ratings) == 100_000
    monkeypatch.setenv("RECSYS_COURSE_DATA", "~/data")
    assert D.data_home() == tmp_path / "data" and archive.exists()


@pytest.mark.parametrize("manifest", [
    {"format": 1, "sha256": ["ratings.csv", "movies.csv", "users.csv"]},
    ["not", "a", "mapping"],
    {"format": 1, "sha256": {"ratings.csv": 1}},
], ids=["sha256-list", "manifest-list", "digest-not-text"])
def test_a_malformed_manifest_is_unreadable_and_fetched_again(tmp_path, official_source, manifest):
    D.fetch_movielens_100k(tmp_path, sources=("grouplens",), verbose=False)
    (tmp_path / "ml-100k" / "manifest.json").write_text(json.dumps(manifest))
    assert D._cache_problem(tmp_path / "ml-100k") == "unreadable manifest"
    with pytest.raises(D.DataError, match=r"\(unreadable manifest\) and download=False"):
        D.load_movielens_100k(tmp_path, download=False)
    assert len(D.load_movielens_100k(tmp_path, verbose=False).ratings) == 100_000  # repaired, no --force


def test_a_zip_with_a_corrupted_deflate_stream_is_a_data_error(tmp_path, synthetic):
    archive = testing.write_official_zip(synthetic, tmp_path / "ml-100k.zip")
    blob = archive.read_bytes()
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("ml-100k/u.data")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 200, start + info.compress_size, 997):  # find a flip zlib itself rejects
        damaged = tmp_path / "damaged.zip"
        damaged.write_bytes(blob[:offset] + bytes([blob[offset] ^ 0xFF]) + blob[offset + 1:])
        try:
            with zipfile.ZipFile(damaged) as zf:
                zf.read("ml-100k/u.data")
        except zlib.error:
            break
        except zipfile.BadZipFile:
            continue
    else:
        pytest.fail("no single-byte flip gave a zlib.error")
    with pytest.raises(D.DataError, match=r"damaged.zip is not a readable zip file \(Error -3 .*\): it is damaged"):
        D.import_zip(damaged, tmp_path / "home", verify_sha1=False)


def test_a_text_rating_names_the_row_and_the_value(tmp_path, small):
    archive = _edited_zip(small, tmp_path, "u.data", b"1\t2\t3\t", b"1\t2\tthree\t")
    with pytest.raises(D.DataError, match="rating number 2 of the ratings file has rating 'three': every field"):
        D._parse_official_zip(archive)


# Processes: a stand-in for pip that hangs, and a loader killed with SIGKILL.

_SLOW_PIP = """
import os, pathlib, time
pathlib.Path(os.environ["SLOW_PIP_PIDFILE"]).write_text(str(os.getpid()))
print("WARNING: Retrying (Retry(total=0)) after connection broken by 'ConnectTimeoutError()': /simple/recbole/",
      file=__import__("sys").stderr, flush=True)
time.sleep(120)
"""


@pytest.fixture()
def slow_pip(tmp_path, monkeypatch):
    """Make the RecBole source run a `pip` that never finishes; returns the file it writes its pid to."""
    (tmp_path / "slowpip.py").write_text(_SLOW_PIP)
    monkeypatch.setattr(D, "_PIP_MODULE", "slowpip")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    pidfile = tmp_path / "pip.pid"
    monkeypatch.setenv("SLOW_PIP_PIDFILE", str(pidfile))
    return pidfile


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_for(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_package_index_that_never_answers_fails_in_the_loaders_time(tmp_path, slow_pip, monkeypatch):
    monkeypatch.setattr(D, "PIP_TIMEOUT_S", 3)
    with pytest.raises(D.DataError, match=r"did not finish within 3 s: the package index does not answer; "
                                          r"pip said: WARNING: Retrying .*ConnectTimeoutError"):
        D.fetch_movielens_100k(tmp_path, sources=("recbole",), verbose=False)
    assert not _running(int(slow_pip.read_text()))  # pip was ended, not left behind
    assert list(tmp_path.glob(".download-*")) == []


def test_the_pip_error_keeps_pips_cause(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))  # an empty folder: pip finds nothing
    with pytest.raises(D.DataError, match=r"failed: ERROR: Could not find a version that satisfies the requirement "
                                          r"recbole==1.2.1 .* \| ERROR: No matching distribution found"):
        D.fetch_movielens_100k(tmp_path / "home", sources=("recbole",), verbose=False, retries=0)


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_killed_fetch_takes_pip_with_it_and_the_next_run_cleans_up(tmp_path, slow_pip, synthetic):
    home = tmp_path / "home"
    home.mkdir()
    D._write_cache(home / "ml-100k", synthetic, source="grouplens")
    fetch = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; "
                              "from recsys_course import data as D; D._PIP_MODULE = 'slowpip'; "
                              "D._fetch_recbole(Path(sys.argv[1]), verbose=False, retries=0)", str(home)])
    try:
        assert _wait_for(slow_pip.exists), "pip never started"
        pip = int(slow_pip.read_text())
        assert len(list(home.glob(f".download-{fetch.pid}-*"))) == 1
        fetch.kill()  # SIGKILL: no finally, no atexit
        fetch.wait()
        assert _wait_for(lambda: not _running(pip), 10), "pip outlived the loader that started it"
    finally:
        fetch.kill()
    assert len(list(home.glob(".download-*"))) == 1  # what the killed run left ...
    D.load_movielens_100k(home, download=False)
    assert sorted(p.name for p in home.iterdir()) == ["ml-100k"]  # ... is gone after the next one


def test_a_cache_write_killed_midway_is_cleaned_and_loses_nothing(tmp_path, synthetic):
    home = tmp_path / "home"
    home.mkdir()
    D._write_cache(home / "ml-100k", synthetic, source="first")
    (home / "ml-100k" / "my_notes.txt").write_text("mine")
    script = ("import sys, time; from pathlib import Path; from recsys_course import data as D, testing\n"
              "real = D._write_csv\n"
              "def slow(frame, path):\n"
              "    real(frame, path)\n"
              "    if path.name == 'movies.csv':\n"
              "        print('half written', flush=True); time.sleep(120)\n"
              "D._write_csv = slow\n"
              "D._write_cache(Path(sys.argv[1]), testing.synthetic_movielens(), source='second', "
              "accept_different=True)\n")
    writer = subprocess.Popen([sys.executable, "-c", script, str(home / "ml-100k")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline().strip() == "half written"
        writer.kill()
        writer.wait()
    finally:
        writer.kill()
        writer.stdout.close()
    assert len(list(home.glob(f".ml-100k-tmp-{writer.pid}-*"))) == 1
    # a leftover of a process that is still running is not touched
    alive = home / f".ml-100k-tmp-{os.getpid()}-inuse"
    alive.mkdir()
    data = D.load_movielens_100k(home, download=False)
    assert len(data.ratings) == 100_000 and (home / "ml-100k" / "my_notes.txt").read_text() == "mine"
    assert sorted(p.name for p in home.iterdir()) == [alive.name, "ml-100k"]


def test_a_run_killed_between_its_two_renames_gets_its_cache_back(tmp_path, synthetic):
    # _replace_dir moves the old cache aside, then the new one in: a SIGKILL between the two leaves no cache
    D._write_cache(tmp_path / "ml-100k", synthetic, source="first")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    os.replace(tmp_path / "ml-100k", tmp_path / f".ml-100k-old-{pid}")
    (tmp_path / f".ml-100k-tmp-{pid}-abcd").mkdir()
    (tmp_path / f".ml-100k-tmp-{pid}-abcd" / "ratings.csv").write_text("user_id\n")
    (tmp_path / f".download-{pid}-efgh").mkdir()
    (tmp_path / ".ml-100k-old-999999999").write_text("a cache path that was a file, kept by an old version")
    data = D.load_movielens_100k(tmp_path, download=False, verbose=False)
    assert len(data.ratings) == 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k"]


# ------------------------------------------------------------------------ the real data, where it is cached


@pytest.fixture()
def real(monkeypatch):
    """The cached real MovieLens-100k (skipped where it is not cached), with the real digests canonical again."""
    monkeypatch.setattr(D, "CANONICAL_SHA256", REAL_SHA256)
    if D._cache_problem(D._cache_dir(None)) is not None:
        pytest.skip("MovieLens-100k is not cached here (make data)")
    return D.load_movielens_100k(download=False)


def test_the_cached_real_data_is_the_canonical_data_set(real):
    manifest = json.loads((D._cache_dir(None) / D.MANIFEST).read_text())
    assert manifest["sha256"] == REAL_SHA256  # (a cache written before the canonical check has no "canonical" key)


def test_the_real_data_round_trips_through_an_official_zip_to_the_canonical_files(tmp_path, real):
    """The canonical digests are of the real data, whichever source it came from: a re-zip imports unasked."""
    archive = testing.write_official_zip(real, tmp_path / "ml-100k.zip")
    again = D.import_zip(archive, tmp_path / "home", verify_sha1=False)
    _assert_same(again, real)
    manifest = json.loads((tmp_path / "home" / D.CACHE_NAME / D.MANIFEST).read_text())
    assert manifest["sha256"] == REAL_SHA256
