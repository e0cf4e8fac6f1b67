r"""A small open-loop load generator for a recommender service on this machine.

A latency target such as "p99 < 10 ms at 200 requests per second" is a claim
about users who *arrive* at 200 per second, whether or not the service keeps
up. A load generator that sends the next request only when the previous one
has come back (a *closed* loop) stops arriving while the service stalls, so the
requests that would have waited behind the stall are never sent and never
measured. Gil Tene named this *coordinated omission* ("How NOT to Measure
Latency", 2013; the reason wrk2 exists): the tester coordinates with the
system under test and omits exactly the bad samples, and the reported p99 can
be orders of magnitude too low.

This generator is *open-loop*: request :math:`i` is due at

.. math:: d_i = t_0 + \frac{i}{\lambda}

for the offered rate :math:`\lambda`, regardless of earlier responses. For each
request it records the due time :math:`d_i`, the time :math:`s_i` its bytes
were written and the time :math:`c_i` its response was complete, and reports

.. math:: \text{latency}_i = c_i - d_i, \qquad \text{service}_i = c_i - s_i .

*Latency* is what a user arriving at :math:`d_i` waits, including any time the
request spent queued in the generator because every connection was busy; it is
the figure to compare with an SLO. *Service time* is what a closed-loop tester
would report. When the service cannot keep up, latency grows request after
request while service time stays flat: the gap between the two is the
coordinated omission a closed loop would have hidden.

Requests travel over a small pool of persistent HTTP/1.1 keep-alive
connections, opened lazily and grown up to ``max_connections`` when all are
busy; a request that finds the pool full and busy waits for the next free
connection (counted in ``waited``). The client is the standard library only:
``asyncio`` streams speaking minimal HTTP/1.1 ``GET`` (responses with
``Content-Length``; chunked responses are refused as errors), one event loop,
no task per request, so that it costs little CPU on a machine whose cores it
shares with the server. Its own lateness (the event loop wakes up to about a
millisecond late) shows in ``send_lag_p99_ms``; measure it against a trivial
server before trusting a sub-millisecond difference.

It is bounded and local by construction: it only talks to loopback addresses,
it stops after ``n_requests`` requests or ``duration`` seconds, and a request
not answered within ``timeout`` seconds of its due time is abandoned and
counted as an error.

>>> run_load("http://192.168.1.10:8000", ["/users/1/recommendations?n=10"],
...          rate=200, duration=10)                         # doctest: +ELLIPSIS
Traceback (most recent call last):
ValueError: refusing to load host '192.168.1.10': this generator only talks to loopback ...
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ipaddress
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

__all__ = ["LoadResult", "run_load", "run_load_async", "sweep"]

_USER_AGENT = "recsys-course-loadgen"


@dataclass(frozen=True)
class LoadResult:
    """What one run of :func:`run_load` saw, one entry per request.

    Times are seconds from the start of the run :math:`t_0`; the first
    ``warmup`` requests are kept in the arrays but left out of
    :meth:`summary`.

    Attributes
    ----------
    offered_rate : float
        Requests per second the schedule asked for, :math:`\\lambda`.
    paths : list of str
        The path of each request.
    due, sent, done : ndarray of float
        When each request was due, written to a connection and answered.
        ``sent`` is NaN for a request never written (connection refused,
        timed out while waiting for a connection); ``done`` is NaN for one
        never answered.
    status : ndarray of int
        HTTP status of each response; 0 when there was none.
    error : ndarray of object
        ``None``, or why the request failed (``"timeout"``,
        ``"ConnectionRefusedError: ..."``, ``"HTTP 503"``, ...).
    waited : ndarray of bool
        The request found ``max_connections`` connections all busy and had to
        wait for one to be free.
    bodies : dict of int to bytes
        The response bodies of the first ``keep_bodies`` requests that
        received one, by request index.
    warmup : int
        How many leading requests :meth:`summary` ignores.
    connections_opened : int
        TCP connections opened during the run (1 for a run that kept one
        connection alive throughout).
    client_cpu_s : float
        CPU seconds the generator's event-loop thread used during the run.
    """

    offered_rate: float
    paths: list
    due: np.ndarray
    sent: np.ndarray
    done: np.ndarray
    status: np.ndarray
    error: np.ndarray
    waited: np.ndarray
    bodies: dict = field(default_factory=dict)
    warmup: int = 0
    connections_opened: int = 0
    client_cpu_s: float = float("nan")

    @property
    def latency(self) -> np.ndarray:
        """Seconds from due time to response, :math:`c_i - d_i` (NaN if unanswered)."""
        return self.done - self.due

    @property
    def service_time(self) -> np.ndarray:
        """Seconds from send to response, :math:`c_i - s_i` (NaN if unanswered)."""
        return self.done - self.sent

    @property
    def ok(self) -> np.ndarray:
        """Whether each request got a 2xx response in time."""
        return (self.status >= 200) & (self.status < 300)

    def to_frame(self) -> pd.DataFrame:
        """One row per request: path, times (s), latency and service time (ms), status, error."""
        return pd.DataFrame({
            "path": self.paths,
            "due_s": self.due,
            "sent_s": self.sent,
            "done_s": self.done,
            "latency_ms": 1e3 * self.latency,
            "service_ms": 1e3 * self.service_time,
            "status": self.status,
            "error": self.error,
            "waited": self.waited,
            "warmup": np.arange(len(self.due)) < self.warmup,
        })

    def error_counts(self) -> collections.Counter:
        """How many measured requests failed, by reason."""
        return collections.Counter(e for e in self.error[self.warmup:] if e is not None)

    def summary(self) -> pd.Series:
        """Percentiles and rates over the measured (non-warmup) requests.

        Latency and service-time percentiles are taken over the requests that
        received a response (any status); requests without one are counted in
        ``errors`` only, so check ``errors`` before trusting a tail
        percentile. ``throughput_rps`` is the number of 2xx responses divided
        by the time from the first measured due time to the last response.

        Returns
        -------
        pandas.Series
            ``offered_rps, n, ok, errors, throughput_rps, latency_p50_ms,
            latency_p95_ms, latency_p99_ms, latency_max_ms, service_p50_ms,
            service_p99_ms, send_lag_p99_ms, waited, connections,
            client_cpu_us_per_request``.
        """
        m = slice(self.warmup, None)
        due, sent, done, ok = self.due[m], self.sent[m], self.done[m], self.ok[m]
        n = len(due)
        answered = ~np.isnan(done)
        lat = 1e3 * (done - due)[answered]
        svc = 1e3 * (done - sent)[answered]
        lag = 1e3 * (sent - due)[~np.isnan(sent)]
        span = (np.nanmax(done) - due[0]) if answered.any() else np.nan

        def pct(x: np.ndarray, q: float) -> float:
            return float(np.percentile(x, q)) if len(x) else np.nan

        return pd.Series({
            "offered_rps": float(self.offered_rate),
            "n": n,
            "ok": int(ok.sum()),
            "errors": int(n - ok.sum()),
            "throughput_rps": float(ok.sum() / span) if span > 0 else np.nan,
            "latency_p50_ms": pct(lat, 50),
            "latency_p95_ms": pct(lat, 95),
            "latency_p99_ms": pct(lat, 99),
            "latency_max_ms": float(lat.max()) if len(lat) else np.nan,
            "service_p50_ms": pct(svc, 50),
            "service_p99_ms": pct(svc, 99),
            "send_lag_p99_ms": pct(lag, 99),
            "waited": int(self.waited[m].sum()),
            "connections": int(self.connections_opened),
            "client_cpu_us_per_request": 1e6 * self.client_cpu_s / len(self.due),
        }, dtype=object)


# ----------------------------------------------------------------------------- validation

def _loopback_address(base_url: str) -> tuple[str, int, str]:
    """(address to connect to, port, Host header) for a loopback http:// URL, else ValueError."""
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a string such as 'http://127.0.0.1:8000', got {base_url!r}")
    parts = urlsplit(base_url)
    if parts.scheme != "http":
        raise ValueError(f"base_url must start with http:// (plain HTTP on loopback), got {base_url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"base_url has no host, got {base_url!r}; use e.g. 'http://127.0.0.1:8000'")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"base_url has an invalid port: {base_url!r}") from exc
    if host.lower() == "localhost":
        # resolve once, and check that the name really means this machine
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [info[4][0] for info in infos]
        if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise ValueError(f"'localhost' resolves to {addresses}, not only loopback; "
                             f"use http://127.0.0.1:{port} instead")
        # IPv4 first: servers (uvicorn's default among them) usually bind 127.0.0.1 only
        address = min(addresses, key=lambda a: ":" in a)
    else:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is None or not ip.is_loopback:
            raise ValueError(f"refusing to load host {host!r}: this generator only talks to loopback "
                             f"(127.0.0.0/8, ::1, localhost); run the service on this machine and "
                             f"use http://127.0.0.1:PORT")
        address = str(ip)
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return address, port, host_header


def _check_positive(name: str, value, integer: bool = False, allow_zero: bool = False) -> None:
    if integer:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        kind = "an integer"
    else:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
            and math.isfinite(value)
        kind = "a finite number"
    if not ok or (value < 0 if allow_zero else value <= 0):
        raise ValueError(f"{name} must be {kind} {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _request_paths(paths, n: int) -> list[str]:
    if callable(paths):
        chosen = [paths(i) for i in range(n)]
    elif isinstance(paths, (str, bytes)):
        raise TypeError(f"paths must be a list of paths or a callable i -> path, got the single "
                         f"string {paths!r}; wrap it in a list")
    else:
        paths = list(paths)
        if not paths:
            raise ValueError("paths is empty; give at least one path such as '/health'")
        chosen = [paths[i % len(paths)] for i in range(n)]
    for i, p in enumerate(chosen):
        if not isinstance(p, str) or not p.startswith("/") or any(c.isspace() for c in p) \
                or not p.isascii():
            raise ValueError(f"path {i} must be an ASCII string starting with '/' and without "
                             f"spaces (percent-encode them), got {p!r}")
    return chosen


def _n_total(rate, n_requests, duration) -> int:
    if n_requests is None and duration is None:
        raise ValueError("give n_requests or duration (or both; the run stops at whichever comes "
                         "first), so that the run is bounded")
    n = math.inf
    if n_requests is not None:
        _check_positive("n_requests", n_requests, integer=True)
        n = int(n_requests)
    if duration is not None:
        _check_positive("duration", duration)
        # requests due strictly before `duration`; the epsilon absorbs 0.3 * 10 = 3.0000000000000004
        n = min(n, max(1, math.ceil(duration * rate - 1e-9)))
    return n


# ----------------------------------------------------------------------------- the client

class _Refused(Exception):
    """A response this minimal client does not handle (the message says which)."""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one HTTP/1.x response with Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    version = status_line[:8]
    try:
        status = int(status_line[9:12])
    except ValueError:
        raise _Refused(f"not an HTTP response: {status_line[:60]!r}") from None
    length = None
    keep_alive = version == b"HTTP/1.1"
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and value.strip().lower() != b"identity":
            raise _Refused("chunked transfer encoding is not supported by loadgen; "
                           "let the server send Content-Length")
        elif name == b"connection":
            token = value.strip().lower()
            keep_alive = token == b"keep-alive" or (keep_alive and token != b"close")
    if length is None:
        if status in (204, 304) or 100 <= status < 200:
            length = 0
        else:  # the body runs until the server closes the connection
            return status, await reader.read(), False
    body = await reader.readexactly(length) if length else b""
    return status, body, keep_alive


class _Run:
    """The state of one run: the schedule, the connection pool and the per-request records."""

    def __init__(self, address, port, host_header, paths, rate, max_connections, timeout,
                 keep_bodies):
        self.address, self.port = address, port
        self.paths, self.rate, self.timeout = paths, rate, timeout
        self.max_connections, self.keep_bodies = max_connections, keep_bodies
        self.requests = [f"GET {p} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {_USER_AGENT}"
                         f"\r\nAccept: */*\r\n\r\n".encode("ascii") for p in paths]
        n = len(paths)
        self.due = [i / rate for i in range(n)]
        self.sent = [math.nan] * n
        self.done = [math.nan] * n
        self.status = [0] * n
        self.error: list = [None] * n
        self.waited = [False] * n
        self.bodies: dict[int, bytes] = {}
        self.queue: asyncio.Queue = asyncio.Queue()
        self.idle = 0
        self.workers: list[asyncio.Task] = []
        self.connections_opened = 0
        self.finished = 0
        self.all_done = asyncio.Event()
        self.timer_cpu_s = 0.0

    def _finish(self) -> None:
        self.finished += 1
        if self.finished == len(self.paths):
            self.all_done.set()

    async def _connect(self):
        reader, writer = await asyncio.open_connection(self.address, self.port)
        self.connections_opened += 1
        return reader, writer

    async def _worker(self) -> None:
        """One connection: take the next due request, send it, read the answer, repeat."""
        reader = writer = None
        t0, timeout, clock = self.t0, self.timeout, time.perf_counter
        try:
            while True:
                self.idle += 1
                i = await self.queue.get()
                self.idle -= 1
                deadline = t0 + self.due[i] + timeout
                try:
                    remaining = deadline - clock()
                    if remaining <= 0:
                        raise TimeoutError
                    async with asyncio.timeout(remaining):
                        if writer is not None and reader.at_eof():  # closed by the server meanwhile
                            writer.transport.abort()
                            reader = writer = None
                        reused = writer is not None
                        if writer is None:
                            reader, writer = await self._connect()
                        self.sent[i] = clock() - t0
                        writer.write(self.requests[i])
                        try:
                            status, body, keep_alive = await _read_response(reader)
                        except asyncio.IncompleteReadError as exc:
                            if not (reused and not exc.partial):
                                raise
                            # the server closed an idle keep-alive connection: one retry on a fresh one
                            writer.transport.abort()
                            reader, writer = await self._connect()
                            self.sent[i] = clock() - t0
                            writer.write(self.requests[i])
                            status, body, keep_alive = await _read_response(reader)
                        done = clock()
                    self.done[i] = done - t0
                    self.status[i] = status
                    if not 200 <= status < 300:
                        self.error[i] = f"HTTP {status}"
                    if len(self.bodies) < self.keep_bodies:
                        self.bodies[i] = body
                    if not keep_alive:
                        writer.close()
                        reader = writer = None
                except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        _Refused, ValueError) as exc:
                    self.error[i] = "timeout" if isinstance(exc, TimeoutError) \
                        else f"{type(exc).__name__}: {exc}"
                    if writer is not None:  # its state is unknown: never reuse it
                        writer.transport.abort()
                    reader = writer = None
                self._finish()
        finally:  # cancelled at the end of the run: close the connection it holds
            if writer is not None:
                writer.transport.abort()

    def _dispatch(self, start: int, stop: int) -> None:
        """Hand requests ``start .. stop-1``, now due, to free connections (on the loop's thread)."""
        queue = self.queue
        for i in range(start, stop):
            if self.idle - queue.qsize() <= 0:  # no free connection for this request
                if len(self.workers) < self.max_connections:
                    self.workers.append(asyncio.create_task(self._worker()))
                else:
                    self.waited[i] = True
            queue.put_nowait(i)

    def _timer(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake at each due time and tell the loop (in a thread of its own, see :meth:`run`)."""
        cpu0 = time.thread_time()
        clock, t0, due, n = time.perf_counter, self.t0, self.due, len(self.due)
        i = 0
        try:
            while i < n:
                delay = t0 + due[i] - clock()
                if delay > 0 and self.stopping.wait(delay):
                    break
                now = clock() - t0
                j = i + 1
                while j < n and due[j] <= now:  # all that fell due meanwhile, in one wake-up
                    j += 1
                loop.call_soon_threadsafe(self._dispatch, i, j)
                i = j
        finally:
            self.timer_cpu_s = time.thread_time() - cpu0

    async def run(self) -> None:
        # The due times are kept by a thread that sleeps with the OS's sub-millisecond timers: the
        # event loop's own timers wait in epoll, whose timeout is rounded up to a whole millisecond,
        # which would send every request up to 1 ms late (0.7 ms at the median, measured).
        loop, clock = asyncio.get_running_loop(), time.perf_counter
        cpu0 = time.thread_time()
        # start a little in the future so that request 0 is not already late
        self.t0 = t0 = clock() + 0.005
        self.stopping = threading.Event()
        timer = threading.Thread(target=self._timer, args=(loop,), name="loadgen-timer", daemon=True)
        timer.start()
        try:
            # every request ends by its deadline; the margin only guards against a bug here
            last_deadline = t0 + self.due[-1] + self.timeout
            await asyncio.wait_for(self.all_done.wait(), last_deadline - clock() + 1.0)
        finally:
            self.stopping.set()
            timer.join()
            for task in self.workers:
                task.cancel()
            await asyncio.gather(*self.workers, return_exceptions=True)
            self.cpu_s = time.thread_time() - cpu0 + self.timer_cpu_s

    def result(self, warmup: int) -> LoadResult:
        return LoadResult(
            offered_rate=float(self.rate), paths=list(self.paths),
            due=np.array(self.due), sent=np.array(self.sent), done=np.array(self.done),
            status=np.array(self.status, dtype=int), error=np.array(self.error, dtype=object),
            waited=np.array(self.waited, dtype=bool), bodies=dict(self.bodies), warmup=warmup,
            connections_opened=self.connections_opened, client_cpu_s=self.cpu_s)


def _prepare(base_url, paths, rate, n_requests, duration, max_connections, timeout, warmup,
             keep_bodies) -> dict:
    """Validate the arguments of :func:`run_load`; the keyword arguments of :class:`_Run`."""
    address, port, host_header = _loopback_address(base_url)
    _check_positive("rate", rate)
    _check_positive("max_connections", max_connections, integer=True)
    _check_positive("timeout", timeout)
    _check_positive("warmup", warmup, integer=True, allow_zero=True)
    _check_positive("keep_bodies", keep_bodies, integer=True, allow_zero=True)
    n = _n_total(rate, n_requests, duration)
    return {"address": address, "port": port, "host_header": host_header,
            "paths": _request_paths(paths, int(warmup) + n), "rate": float(rate),
            "max_connections": int(max_connections), "timeout": float(timeout),
            "keep_bodies": int(keep_bodies), "warmup": int(warmup)}


async def _execute(spec: dict) -> LoadResult:
    spec = dict(spec)
    warmup = spec.pop("warmup")
    run = _Run(**spec)
    await run.run()
    return run.result(warmup)


# ----------------------------------------------------------------------------- public API

async def run_load_async(base_url: str, paths: Sequence[str] | Callable[[int], str], rate: float,
                         n_requests: int | None = None, duration: float | None = None,
                         max_connections: int = 32, timeout: float = 2.0, warmup: int = 0,
                         keep_bodies: int = 0) -> LoadResult:
    """Coroutine version of :func:`run_load`, for code already inside an event loop.

    Awaiting it runs the generator on the caller's loop, so anything else on
    that loop (a Jupyter kernel's own work, an in-process server) competes
    with it for time; :func:`run_load` gives it a loop of its own.
    """
    spec = _prepare(base_url, paths, rate, n_requests, duration, max_connections, timeout, warmup,
                    keep_bodies)
    return await _execute(spec)


def run_load(base_url: str, paths: Sequence[str] | Callable[[int], str], rate: float,
             n_requests: int | None = None, duration: float | None = None,
             max_connections: int = 32, timeout: float = 2.0, warmup: int = 0,
             keep_bodies: int = 0) -> LoadResult:
    """Send GET requests at a fixed rate to a service on loopback and time every answer.

    Request :math:`i` is due at :math:`t_0 + i/\\lambda` whatever happened to
    the earlier ones (open loop); its latency is counted from that due time,
    its service time from the moment it was sent (see the module docstring on
    coordinated omission).

    Parameters
    ----------
    base_url : str
        ``http://HOST:PORT`` of the service; HOST must be loopback
        (127.0.0.0/8, ``::1`` or ``localhost``), anything else is refused.
    paths : list of str, or callable
        The paths to request, cycled (``paths[i % len(paths)]``), or a
        function ``i -> path``, called once per request before the run, e.g.
        ``lambda i: f"/users/{users[i % len(users)]}/recommendations?n=10"``.
    rate : float
        Offered rate :math:`\\lambda`, requests per second (> 0).
    n_requests : int, optional
        Measured requests to send (>= 1).
    duration : float, optional
        Seconds of measured schedule; with both, the run stops at whichever
        comes first. One of the two is required.
    max_connections : int, default 32
        Most keep-alive connections to open; a request that finds them all
        busy waits for one (``LoadResult.waited``).
    timeout : float, default 2.0
        Seconds after its due time at which a request is abandoned and counted
        as an error (``"timeout"``). It also bounds the run: it ends at most
        ``timeout`` seconds after the last request was due.
    warmup : int, default 0
        Extra requests sent first, on the same schedule, and left out of
        :meth:`LoadResult.summary` (to open connections and warm caches).
    keep_bodies : int, default 0
        Keep the bodies of the first this-many answered requests
        (``LoadResult.bodies``), e.g. to read which A/B arm answered.

    Returns
    -------
    LoadResult
        Per-request times, statuses and errors; ``.summary()`` for the figures.

    Notes
    -----
    Usable from a Jupyter cell: the kernel's thread already runs an event loop
    (where ``asyncio.run`` fails), so when one is running this call runs the
    generator on a fresh loop in a worker thread and blocks until it is done.
    Failures to connect, timeouts and non-2xx statuses are recorded per
    request, never raised; invalid arguments raise ``ValueError``.

    Examples
    --------
    With the course's service running in another process on port 8000:

    >>> result = run_load("http://127.0.0.1:8000",
    ...                   lambda i: f"/users/{1 + i % 943}/recommendations?n=10",
    ...                   rate=200, duration=10, warmup=200)     # doctest: +SKIP
    >>> result.summary()[["latency_p99_ms", "service_p99_ms", "errors"]]  # doctest: +SKIP
    """
    # validate here, in the caller's thread, so that a bad argument raises before any loop starts
    coro = _execute(_prepare(base_url, paths, rate, n_requests, duration, max_connections, timeout,
                             warmup, keep_bodies))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="loadgen") as pool:
        return pool.submit(asyncio.run, coro).result()


def sweep(rates: Iterable[float], base_url: str, paths: Sequence[str] | Callable[[int], str],
          pause: float = 0.5, **kwargs) -> pd.DataFrame:
    """Run :func:`run_load` at each rate in turn; one row of :meth:`LoadResult.summary` per rate.

    Parameters
    ----------
    rates : iterable of float
        Offered rates, requests per second, run in the order given.
    base_url, paths
        As for :func:`run_load`.
    pause : float, default 0.5
        Seconds to wait between rates, so that one run's backlog does not spill
        into the next.
    **kwargs
        Passed to :func:`run_load` (``n_requests`` or ``duration`` is required).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``offered_rps``.
    """
    rates = list(rates)
    if not rates:
        raise ValueError("rates is empty; give at least one rate such as [50, 100, 200]")
    _check_positive("pause", pause, allow_zero=True)
    rows = []
    for k, rate in enumerate(rates):
        if k and pause:
            time.sleep(pause)
        rows.append(run_load(base_url, paths, rate, **kwargs).summary())
    return pd.DataFrame(rows).infer_objects().set_index("offered_rps")
