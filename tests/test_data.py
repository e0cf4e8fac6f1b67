"""The MovieLens-100k loader: parsing, validation, the source chain and the cache.

No test here reaches the internet. Downloads go to a loopback HTTP server
(``http_server``) and pip to a local folder of wheels (``local_pip_index``).
"""

import hashlib
import http.server
import threading
import zipfile

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


def test_official_title_with_a_format_tag_keeps_its_year(tmp_path, small):
    # GroupLens writes e.g. "Land Before Time III: ... (1995) (V)" for a video release.
    archive = testing.write_official_zip(small, tmp_path / "ml-100k.zip")
    with zipfile.ZipFile(archive) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files["ml-100k/u.item"] = files["ml-100k/u.item"].replace(b"III (1995)", b"III (1995) (V)")
    with zipfile.ZipFile(archive, "w") as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
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
