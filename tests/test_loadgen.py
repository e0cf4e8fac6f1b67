"""Tests for recsys_course.loadgen against a small stdlib HTTP server started in the test.

Timing bounds are generous on purpose (a shared CI core can stall for tens of
milliseconds); the quantities they test differ by much more than the bounds.
"""

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from recsys_course.loadgen import LoadResult, run_load, run_load_async, sweep


class _Handler(BaseHTTPRequestHandler):
    """Routes: /ok/..., /sleep/MS, /serial/MS (one at a time), /status/CODE, /chunked, /close, /drop."""

    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    disable_nagle_algorithm = True
    serial = threading.Lock()

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name == "Transfer-Encoding" for name, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("/")
        route = parts[1]
        if route == "sleep":
            time.sleep(int(parts[2]) / 1e3)
            self._send(200, b"slept")
        elif route == "serial":  # a server that can only do one request at a time
            with self.serial:
                time.sleep(int(parts[2]) / 1e3)
            self._send(200, b"done")
        elif route == "status":
            self._send(int(parts[2]), b"status " + parts[2].encode())
        elif route == "chunked":
            self._send(200, b"2\r\nok\r\n0\r\n\r\n", [("Transfer-Encoding", "chunked")])
        elif route == "close":
            self._send(200, b"bye", [("Connection", "close")])
            self.close_connection = True
        elif route == "drop":  # closes the connection without saying so
            self._send(200, b"dropped")
            self.close_connection = True
        else:
            self._send(200, b"ok:" + self.path.encode())


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def refused_url():
    """A port that is bound but not listening: every connection to it is refused, no race."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


# ----------------------------------------------------------------------------- the schedule

def test_offered_rate_is_kept_and_every_request_counted(server):
    start = time.perf_counter()
    result = run_load(server, ["/ok/a", "/ok/b"], rate=100, n_requests=100)
    wall = time.perf_counter() - start
    s = result.summary()
    assert s["n"] == 100 and s["ok"] == 100 and s["errors"] == 0
    assert len(result.due) == len(result.sent) == len(result.done) == len(result.status) == 100
    np.testing.assert_allclose(result.due, np.arange(100) / 100)  # due times are the schedule
    assert (result.status == 200).all()
    assert (result.sent >= result.due).all() and (result.done >= result.sent).all()
    assert 80 <= s["throughput_rps"] <= 120
    assert 0.9 <= wall < 5  # 100 requests at 100/s take about a second, not less
    assert np.median(result.sent - result.due) < 0.02
    assert result.paths[:3] == ["/ok/a", "/ok/b", "/ok/a"]
    assert s["connections"] <= 3  # one keep-alive connection serves this easy load


def test_duration_sets_the_number_of_requests_and_warmup_is_left_out(server):
    result = run_load(server, ["/ok"], rate=40, duration=0.5, warmup=5)
    assert len(result.due) == 5 + 20
    assert result.summary()["n"] == 20
    # both bounds: the run stops at whichever comes first
    assert len(run_load(server, ["/ok"], rate=40, duration=0.5, n_requests=7).due) == 7
    assert len(run_load(server, ["/ok"], rate=10, duration=0.3).due) == 3  # 0.3 * 10 is 3.0000000000000004


def test_latency_includes_the_time_the_server_takes(server):
    result = run_load(server, ["/sleep/50"], rate=40, n_requests=8)
    assert (result.status == 200).all()
    assert (result.latency >= 0.050).all()
    assert (result.service_time >= 0.050).all()
    assert result.summary()["latency_p50_ms"] >= 50


def test_coordinated_omission_shows_in_latency_not_in_service_time(server):
    # The server does one 20 ms request at a time (50/s) and is offered 100/s over one connection:
    # request i is answered near 20 ms * (i + 1) but was due at 10 ms * i, so its latency grows
    # by ~10 ms per request, while each request still takes ~20 ms once sent.
    result = run_load(server, ["/serial/20"], rate=100, n_requests=30, max_connections=1, timeout=5)
    assert (result.status == 200).all()
    latency, service = result.latency, result.service_time
    assert (service >= 0.020).all() and np.median(service) < 0.060
    assert latency[-5:].min() > latency[:5].max() + 0.1  # grows: ~0.3 s at the end vs ~0.02 s
    assert latency[-1] > 4 * service.max()
    s = result.summary()
    assert s["latency_p99_ms"] > 4 * s["service_p99_ms"]
    assert s["waited"] >= 20 and s["connections"] == 1
    assert s["throughput_rps"] < 70  # the server's capacity, not the offered rate


def test_pool_grows_up_to_its_limit_and_counts_waits(server):
    # 50 ms requests at 100/s need about five connections at once
    grown = run_load(server, ["/sleep/50"], rate=100, n_requests=30, max_connections=32)
    assert 3 <= grown.connections_opened <= 20
    assert grown.waited.sum() == 0
    capped = run_load(server, ["/sleep/50"], rate=100, n_requests=30, max_connections=2)
    assert capped.connections_opened == 2
    assert capped.waited.sum() > 10
    assert (capped.status == 200).all()


# ----------------------------------------------------------------------------- failures are data

def test_non_2xx_statuses_are_kept_and_counted_as_errors(server):
    result = run_load(server, ["/ok", "/status/503", "/status/404"], rate=100, n_requests=30)
    assert result.status.tolist() == [200, 503, 404] * 10
    s = result.summary()
    assert s["ok"] == 10 and s["errors"] == 20
    assert result.error_counts() == {"HTTP 503": 10, "HTTP 404": 10}
    assert s["latency_p50_ms"] > 0  # answered, so they have a latency


def test_connection_refused_is_reported_not_raised(refused_url):
    result = run_load(refused_url, ["/ok"], rate=100, n_requests=5)
    assert (result.status == 0).all()
    assert np.isnan(result.done).all()
    assert all("ConnectionRefusedError" in e for e in result.error)
    s = result.summary()
    assert s["errors"] == 5 and s["ok"] == 0 and np.isnan(s["latency_p99_ms"])


def test_timeout_abandons_a_request_and_bounds_the_run(server):
    start = time.perf_counter()
    result = run_load(server, ["/sleep/1000"], rate=20, n_requests=3, timeout=0.2)
    assert time.perf_counter() - start < 0.95  # well before the server's 1 s answers
    assert result.error.tolist() == ["timeout"] * 3
    assert (result.status == 0).all() and not np.isnan(result.sent).any()


def test_chunked_responses_are_refused_clearly(server):
    result = run_load(server, ["/chunked"], rate=50, n_requests=3)
    assert result.summary()["errors"] == 3
    assert all("chunked" in e and "Content-Length" in e for e in result.error)


def test_connection_close_and_silently_dropped_connections(server):
    closed = run_load(server, ["/close"], rate=50, n_requests=5)
    assert (closed.status == 200).all() and closed.connections_opened == 5
    dropped = run_load(server, ["/drop"], rate=50, n_requests=5)
    assert (dropped.status == 200).all() and dropped.connections_opened == 5


# ----------------------------------------------------------------------------- agreement with urllib

def test_statuses_and_bodies_agree_with_urllib(server):
    paths = ["/ok/1", "/status/418", "/ok/users/7/recommendations?n=10", "/close"]

    def fetch(path):  # the slow, obviously correct client: one request at a time
        try:
            with urllib.request.urlopen(server + path, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    expected = [fetch(p) for p in paths]
    result = run_load(server, lambda i: paths[i], rate=50, n_requests=4, keep_bodies=4)
    assert result.status.tolist() == [status for status, _ in expected]
    assert [result.bodies[i] for i in range(4)] == [body for _, body in expected]


def test_keep_bodies_keeps_only_that_many(server):
    result = run_load(server, lambda i: f"/ok/{i}", rate=100, n_requests=10, keep_bodies=3)
    assert len(result.bodies) == 3
    assert all(body == f"ok:/ok/{i}".encode() for i, body in result.bodies.items())
    assert run_load(server, ["/ok"], rate=100, n_requests=3).bodies == {}


# ----------------------------------------------------------------------------- summary by hand

def test_summary_worked_by_hand():
    # five requests at 10/s; #3 answered 503; #4 never answered (timeout); one warm-up request first
    due = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    sent = np.array([0.0, 0.101, 0.202, 0.3, 0.4, 0.5])
    done = np.array([0.05, 0.111, 0.232, 0.34, 0.45, np.nan])
    result = LoadResult(offered_rate=10.0, paths=["/"] * 6, due=due, sent=sent, done=done,
                        status=np.array([200, 200, 200, 200, 503, 0]),
                        error=np.array([None, None, None, None, "HTTP 503", "timeout"], dtype=object),
                        waited=np.array([False, False, True, False, False, False]), warmup=1,
                        connections_opened=2, client_cpu_s=0.0006)
    s = result.summary()
    lat = [11.0, 32.0, 40.0, 50.0]  # ms, the four answered measured requests
    assert s["n"] == 5 and s["ok"] == 3 and s["errors"] == 2
    assert s["latency_p50_ms"] == pytest.approx((32 + 40) / 2)
    assert s["latency_max_ms"] == pytest.approx(50)
    # numpy's default (linear) percentile: rank 0.99 * 3 = 2.97 between 40 and 50
    assert s["latency_p99_ms"] == pytest.approx(40 + 0.97 * 10)
    assert s["service_p50_ms"] == pytest.approx((30 + 40) / 2)  # services 10, 30, 40, 50
    assert s["send_lag_p99_ms"] == pytest.approx(1 + 0.96 * (2 - 1))  # lags 1, 2, 0, 0, 0 ms: rank 3.96
    assert s["throughput_rps"] == pytest.approx(3 / (0.45 - 0.1))
    assert s["waited"] == 1 and s["connections"] == 2
    assert s["client_cpu_us_per_request"] == pytest.approx(100)
    np.testing.assert_allclose(1e3 * result.latency[1:5], lat)
    frame = result.to_frame()
    assert frame["warmup"].tolist() == [True] + [False] * 5
    assert frame["latency_ms"].iloc[2] == pytest.approx(32)


# ----------------------------------------------------------------------------- from a Jupyter cell

def test_sync_call_works_inside_a_running_event_loop(server):
    # Jupyter's kernel thread runs an event loop: asyncio.run() raises there; run_load must not.
    async def cell():
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
            asyncio.run(coro)
        coro.close()
        loop_thread = threading.current_thread()
        result = run_load(server, ["/ok"], rate=100, n_requests=10)
        assert threading.current_thread() is loop_thread
        return result

    result = asyncio.run(cell())
    assert (result.status == 200).all() and len(result.due) == 10


def test_async_version_awaited_directly(server):
    result = asyncio.run(run_load_async(server, ["/ok"], rate=100, n_requests=10))
    assert (result.status == 200).all()


def test_sweep_one_row_per_rate(server):
    table = sweep([50, 100], server, ["/ok"], n_requests=10, pause=0)
    assert table.index.tolist() == [50.0, 100.0]
    assert table["n"].tolist() == [10, 10] and table["errors"].tolist() == [0, 0]
    assert table["n"].dtype.kind == "i"
    with pytest.raises(ValueError, match="rates is empty"):
        sweep([], server, ["/ok"], n_requests=1)


# ----------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://192.168.1.10", "http://example.com:80",
                                 "http://[2001:db8::1]:8000", "http://0.0.0.0:8000"])
def test_non_loopback_hosts_are_refused(url):
    with pytest.raises(ValueError, match="only talks to loopback"):
        run_load(url, ["/"], rate=10, n_requests=1)


def test_loopback_spellings_are_accepted(server):
    port = server.rsplit(":", 1)[1]
    for url in [f"http://localhost:{port}", f"http://127.0.0.1:{port}/"]:
        assert (run_load(url, ["/ok"], rate=100, n_requests=2).status == 200).all()
    # another address in 127.0.0.0/8 and ::1 are accepted too (nothing listens there: refused, not raised)
    for url in [f"http://127.0.0.2:{port}", "http://[::1]:9"]:
        result = run_load(url, ["/ok"], rate=100, n_requests=1, timeout=0.5)
        assert len(result.due) == 1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rate": 0}, "rate must be a finite number > 0, got 0"),
    ({"rate": -5}, "rate must be .* got -5"),
    ({"rate": float("nan")}, "rate must be .* got nan"),
    ({"rate": float("inf")}, "rate must be .* got inf"),
    ({"n_requests": 0}, "n_requests must be an integer > 0, got 0"),
    ({"n_requests": 2.5}, "n_requests must be an integer > 0, got 2.5"),
    ({"n_requests": None}, "give n_requests or duration"),
    ({"n_requests": None, "duration": -1}, "duration must be a finite number > 0, got -1"),
    ({"max_connections": 0}, "max_connections must be an integer > 0, got 0"),
    ({"timeout": 0}, "timeout must be a finite number > 0, got 0"),
    ({"warmup": -1}, "warmup must be an integer >= 0, got -1"),
    ({"keep_bodies": -2}, "keep_bodies must be an integer >= 0, got -2"),
    ({"paths": []}, "paths is empty"),
    ({"paths": ["ok"]}, "path 0 must be an ASCII string starting with '/'.* got 'ok'"),
    ({"paths": ["/a b"]}, "without spaces"),
    ({"paths": lambda i: 7}, "path 0 .* got 7"),
    ({"base_url": "https://127.0.0.1:8000"}, "must start with http://"),
    ({"base_url": "127.0.0.1:8000"}, "must start with http://"),
    ({"base_url": "http://127.0.0.1:notaport"}, "invalid port"),
])
def test_bad_arguments_name_the_value(kwargs, match):
    args = {"base_url": "http://127.0.0.1:9", "paths": ["/"], "rate": 10, "n_requests": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        run_load(**args)


def test_a_single_string_is_not_a_list_of_paths():
    with pytest.raises(TypeError, match="wrap it in a list"):
        run_load("http://127.0.0.1:9", "/ok", rate=10, n_requests=1)
