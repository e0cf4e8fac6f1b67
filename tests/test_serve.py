"""The service as its users meet it: a real uvicorn process on a free loopback port, real HTTP requests.

The artifact here holds two fast arms (EASE and popularity, fitted on MovieLens-100k in about a
second) rather than notebook 09's two-stage model, which takes 20 s to fit: everything the service
does around the model is the same. The browser test needs Chromium (Debian's ``chromium``);
without it the test is skipped, unless ``RECSYS_REQUIRE_BROWSER=1`` (as in ``.ci/run``) makes a
missing browser a failure.
"""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from recsys_course import serve
from recsys_course.abtest import assign_arm
from recsys_course.data import load_movielens_100k
from recsys_course.models.baselines import Popularity
from recsys_course.models.linear import EASE

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"


def _artifact(path: Path, reg: float = 500.0) -> dict:
    ratings, movies, _ = load_movielens_100k()
    ease = EASE(reg=reg).fit(ratings, movies)
    order = ease.item_ids_.get_indexer(movies["item_id"])
    return serve.save_artifact(path, {"EASE": ease, "popularity": Popularity().fit(ratings, movies)}, movies, ratings,
                               similarity=ease.weights_[np.ix_(order, order)], label="test")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("artifact") / "model.pkl"
    _artifact(path)
    return path


class Server(serve.ServerProcess):
    """The real server in a child process, and a small HTTP client for it."""

    def __init__(self, artifact: Path, log: Path):
        super().__init__(artifact, log=log)

    def request(self, method: str, path: str, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, None if body is None else json.dumps(body), headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def get(self, path: str):
        return self.request("GET", path)


@pytest.fixture()
def server(artifact, tmp_path):
    running = Server(artifact, tmp_path / "impressions.jsonl")
    yield running
    running.stop()


def test_a_known_user_gets_titled_items_from_a_stable_arm_and_the_second_call_is_cached(server):
    status, body = server.get("/users/42/recommendations?n=10")
    assert status == 200
    assert body["user_id"] == 42 and not body["cold_start"] and body["cache"] == "miss"
    assert body["arm"] == assign_arm(42, {"EASE": 1.0, "popularity": 1.0}, "notebook-10")
    assert [item["rank"] for item in body["items"]] == list(range(1, 11))
    assert all(item["title"] and item["title"] != "?" for item in body["items"])
    seen = set(serve.load_artifact(server_artifact(server)).ratings.query("user_id == 42").item_id)
    assert not seen & {item["item_id"] for item in body["items"]}
    again = server.get("/users/42/recommendations?n=10")[1]
    assert again["cache"] == "hit" and again["items"] == body["items"] and again["arm"] == body["arm"]
    assert server.get("/stats")[1]["cache_hits"] == 1


def server_artifact(server) -> Path:
    return Path(server.process.args[server.process.args.index("--artifact") + 1])


def test_ease_arm_explains_by_a_rated_movie(server):
    user = next(u for u in range(1, 100) if assign_arm(u, {"EASE": 1.0, "popularity": 1.0}, "notebook-10") == "EASE")
    body = server.get(f"/users/{user}/recommendations?n=5")[1]
    rated = {item["title"] for item in server.get(f"/users/{user}/history?n=1000")[1]["items"]}
    explained = [item["explanation"] for item in body["items"] if item["explanation"]]
    assert explained and all(text.removeprefix("because you rated ") in rated for text in explained)


def test_an_unknown_user_gets_the_cold_start_list_with_its_reason_not_a_500(server):
    status, body = server.get("/users/5000/recommendations?n=3")
    assert status == 200 and body["cold_start"]
    assert "5000" in body["reason"] and "most-rated" in body["reason"]
    assert [item["title"] for item in body["items"]] == ["Star Wars (1977)", "Contact (1997)", "Fargo (1996)"]


@pytest.mark.parametrize("path, named", [
    ("/users/abc/recommendations", "user_id"),
    ("/users/1.5/recommendations", "user_id"),
    ("/users/42/recommendations?n=0", "n"),
    ("/users/42/recommendations?n=101", "n"),
    ("/users/42/recommendations?n=ten", "n"),
])
def test_bad_input_is_a_422_that_names_the_value(server, path, named):
    status, body = server.get(path)
    assert status == 422
    assert body["detail"].startswith(named) and "got" in body["detail"] and "e.g." in body["hint"]


def test_a_new_user_is_answered_from_their_ratings_and_bad_ones_are_named(server):
    status, body = server.request("POST", "/recommendations", {"ratings": {"50": 5, "172": 4}, "n": 5})
    assert status == 200 and body["arm"] == "new-user" and len(body["items"]) == 5
    assert not {50, 172} & {item["item_id"] for item in body["items"]}
    assert all(item["explanation"] in ("because you rated Star Wars (1977)",
                                       "because you rated Empire Strikes Back, The (1980)") for item in body["items"])
    status, body = server.request("POST", "/recommendations", {"ratings": {"99999": 5}})
    assert status == 422 and "99999" in body["detail"]
    status, body = server.request("POST", "/recommendations", {"ratings": {"50": 9}})
    assert status == 422 and "between 1 and 5" in body["detail"]
    status, body = server.request("POST", "/recommendations", {"ratings": {"50": "x"}})
    assert status == 422 and "ratings.50" in body["detail"] and "ratings" in body["hint"]
    status, body = server.request("POST", "/recommendations", {"ratings": {}})
    assert status == 200 and body["cold_start"] and "no movie rated 3 or more" in body["reason"]


def test_health_version_and_search(server, artifact):
    manifest = json.loads(Path(str(artifact) + ".json").read_text())
    assert server.get("/health")[1]["model_version"] == manifest["model_version"]
    version = server.get("/version")[1]
    assert version["sha256"] == manifest["sha256"] and set(version["arms"]) == {"EASE", "popularity"}
    titles = [m["title"] for m in server.get("/movies?q=star%20wars")[1]]
    assert titles == ["Star Wars (1977)"]


def test_ab_arms_split_users_by_weight_and_keep_them_across_restarts(artifact, tmp_path):
    arms = {"EASE": 1.0, "popularity": 1.0}
    first = {u: assign_arm(u, arms, "notebook-10") for u in range(1, 944)}
    share = np.mean([a == "EASE" for a in first.values()])
    assert abs(share - 0.5) < 3 * np.sqrt(0.25 / 943)  # three standard errors of a fair split
    assert first == {u: assign_arm(u, arms, "notebook-10") for u in range(1, 944)}
    other = [assign_arm(u, arms, "another experiment") for u in range(1, 944)]
    agree = np.mean([a == b for a, b in zip(first.values(), other)])
    assert abs(agree - 0.5) < 3 * np.sqrt(0.25 / 943)  # a new salt reshuffles independently
    uneven = np.mean([assign_arm(u, {"A": 0.9, "B": 0.1}) == "A" for u in range(10_000)])
    assert abs(uneven - 0.9) < 3 * np.sqrt(0.09 / 10_000)
    for attempt in range(2):  # two server processes give each user the arm assign_arm says
        running = Server(artifact, tmp_path / f"log{attempt}.jsonl")
        try:
            assert all(running.get(f"/users/{u}/recommendations?n=1")[1]["arm"] == first[u] for u in (1, 2, 3, 500))
        finally:
            running.stop()


@pytest.mark.parametrize("arms, message", [({}, "non-empty"), ({"A": -1}, ">= 0"), ({"A": 0, "B": 0}, "not all 0"),
                                           ({"A": float("nan")}, "finite")])
def test_assign_arm_refuses_bad_weights(arms, message):
    with pytest.raises(ValueError, match=message):
        assign_arm(1, arms)


def test_every_response_is_logged_once_and_a_clean_stop_loses_nothing(artifact, tmp_path):
    running = Server(artifact, tmp_path / "impressions.jsonl")
    users = [1, 2, 3, 4, 5000, 1, 2]
    for u in users:
        running.get(f"/users/{u}/recommendations?n=4")
    running.request("POST", "/recommendations", {"ratings": {"50": 5}, "n": 4})
    assert running.stop() in (0, -signal.SIGTERM)  # uvicorn shuts down cleanly, then re-raises the signal
    log = serve.read_impressions(tmp_path / "impressions.jsonl")
    assert log["user_id"].tolist()[:7] == users and len(log) == 8
    assert log["cache"].tolist() == ["miss"] * 5 + ["hit", "hit", "none"]
    assert log["cold_start"].tolist() == [False] * 4 + [True, False, False, True]
    assert (log["items"].map(len) == 4).all() and log["model_version"].nunique() == 1
    assert log["ts"].is_monotonic_increasing


def test_the_log_is_whole_lines_after_a_kill_mid_load(artifact, tmp_path):
    running = Server(artifact, tmp_path / "impressions.jsonl")
    answered = []

    def load():
        for u in range(1, 400):
            try:
                answered.append(running.get(f"/users/{u}/recommendations?n=10")[0])
            except (OSError, http.client.HTTPException):  # refused, reset, or cut mid-answer by the kill
                return

    thread = threading.Thread(target=load)
    thread.start()
    while len(answered) < 100:
        time.sleep(0.01)
    running.stop(signal.SIGKILL)
    thread.join()
    lines = (tmp_path / "impressions.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""  # the file ends with a whole line
    records = [json.loads(line) for line in lines[:-1]]  # every line parses
    assert len(records) >= 90 and all(len(r["items"]) == 10 for r in records)


def test_rotation_keeps_every_record(tmp_path):
    log = serve.ImpressionLog(tmp_path / "log.jsonl", max_bytes=2_000, backups=50)
    for k in range(300):
        log.write({"ts": "2026-01-01T00:00:00+00:00", "k": k})
    log.close()
    assert len(list(tmp_path.glob("log.jsonl.*"))) > 5
    assert serve.read_impressions(tmp_path / "log.jsonl")["k"].tolist() == list(range(300))


def _corrupt(artifact: Path, target: Path) -> Path:
    shutil.copy(artifact, target)
    shutil.copy(str(artifact) + ".json", str(target) + ".json")
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    target.write_bytes(bytes(blob))
    return target


def test_a_corrupt_truncated_or_mismatched_artifact_is_refused_with_the_remedy(artifact, tmp_path):
    bad = _corrupt(artifact, tmp_path / "bad.pkl")
    with pytest.raises(serve.ArtifactError, match="corrupt: its SHA-256 .* --train"):
        serve.load_artifact(bad)
    bad.write_bytes(artifact.read_bytes()[:1000])
    with pytest.raises(serve.ArtifactError, match="corrupt.*1,000 bytes"):
        serve.load_artifact(bad)
    shutil.copy(artifact, bad)
    manifest = json.loads(Path(str(artifact) + ".json").read_text())
    Path(str(bad) + ".json").write_text(json.dumps(dict(manifest, format=99)))
    with pytest.raises(serve.ArtifactError, match="format 99, this package reads format 1"):
        serve.load_artifact(bad)
    old = dict(manifest, libraries=dict(manifest["libraries"], lightgbm="3.0.0"))
    Path(str(bad) + ".json").write_text(json.dumps(old))
    with pytest.raises(serve.ArtifactError, match=r"lightgbm 3.0.0 \(now"):
        serve.load_artifact(bad)
    assert serve.load_artifact(bad, check_versions=False).manifest["sha256"] == manifest["sha256"]
    with pytest.raises(serve.ArtifactError, match="no model artifact at .*missing.pkl.*--train"):
        serve.load_artifact(tmp_path / "missing.pkl")


def test_the_server_refuses_to_start_on_a_corrupt_artifact(artifact, tmp_path):
    bad = _corrupt(artifact, tmp_path / "bad.pkl")
    result = subprocess.run([sys.executable, "-m", "recsys_course.serve", "--artifact", str(bad), "--port",
                             str(serve.free_port())], env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2 and "is corrupt" in result.stderr and "--train" in result.stderr


def test_save_artifact_refuses_what_it_cannot_serve(tmp_path):
    ratings, movies, _ = load_movielens_100k()
    with pytest.raises(ValueError, match="not fitted"):
        serve.save_artifact(tmp_path / "a.pkl", {"EASE": EASE()}, movies, ratings)
    with pytest.raises(ValueError, match="weights name arms"):
        serve.save_artifact(tmp_path / "a.pkl", {"p": Popularity().fit(ratings)}, movies, ratings, weights={"q": 1})
    with pytest.raises(ValueError, match="similarity must be items x items"):
        serve.save_artifact(tmp_path / "a.pkl", {"p": Popularity().fit(ratings)}, movies, ratings,
                            similarity=np.zeros((3, 3)))


def test_a_reload_under_load_fails_no_request_and_starts_a_clean_cache(artifact, tmp_path):
    live = tmp_path / "live.pkl"
    shutil.copy(artifact, live)
    shutil.copy(str(artifact) + ".json", str(live) + ".json")
    running = Server(live, tmp_path / "impressions.jsonl")
    try:
        before = running.get("/health")[1]["model_version"]
        statuses, versions, stop = [], set(), threading.Event()

        def load():
            conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
            u = 0
            while not stop.is_set():
                u = u % 943 + 1
                conn.request("GET", f"/users/{u}/recommendations?n=10")
                response = conn.getresponse()
                body = json.loads(response.read())
                statuses.append(response.status)
                versions.add(body["model_version"])
            conn.close()

        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        _artifact(tmp_path / "next.pkl", reg=800.0)  # a new model, written beside the live one ...
        for suffix in (".json", ""):  # ... and moved in place atomically
            os.replace(str(tmp_path / "next.pkl") + suffix, str(live) + suffix)
        status, body = running.request("POST", "/admin/reload")
        time.sleep(0.5)
        _corrupt(live, tmp_path / "broken.pkl")
        for suffix in (".json", ""):
            os.replace(str(tmp_path / "broken.pkl") + suffix, str(live) + suffix)
        refused = running.request("POST", "/admin/reload")
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        assert status == 200 and body["previous"] == before and body["model_version"] != before
        assert refused[0] == 409 and "kept serving" in refused[1]["detail"] and "corrupt" in refused[1]["detail"]
        assert len(statuses) > 50 and set(statuses) == {200}
        assert versions == {before, body["model_version"]}
        assert running.get("/health")[1]["model_version"] == body["model_version"]
        assert running.get("/version")[1]["reloads"] == 1
    finally:
        running.stop()


def test_the_page_shows_history_and_recommendations_in_a_real_browser(server):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        if os.environ.get("RECSYS_REQUIRE_BROWSER") == "1":
            pytest.fail("RECSYS_REQUIRE_BROWSER=1 but no Chromium found: apt-get install chromium")
        pytest.skip("no Chromium on this machine (apt-get install chromium); .ci/run installs it")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{server.port}/?user=42&n=10"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"]
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    shot = SCREENSHOTS / "serve_page_user42.png"
    subprocess.run(flags + ["--window-size=1280,1000", f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    expected = server.get("/users/42/recommendations?n=10")[1]
    history = server.get("/users/42/history?n=15")[1]
    recs = dom.split('<ol id="recs">')[1].split("</ol>")[0]
    assert [f'data-item="{it["item_id"]}"' in recs for it in expected["items"]] == [True] * 10
    assert all(_html(it["title"]) in recs for it in expected["items"])
    rated = dom.split('<ul id="rated">')[1].split("</ul>")[0]
    assert all(_html(it["title"]) in rated for it in history["items"])
    assert f"arm {expected['arm']}" in dom and expected["model_version"] in dom
    pixels = matplotlib.image.imread(shot)  # kept in build/screenshots/ for a person to look at
    assert pixels.shape[:2] == (1000, 1280) and (pixels[..., :3] < 0.5).mean() > 0.01  # dark text on the page


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
