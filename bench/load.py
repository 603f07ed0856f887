"""Simulated browsers: keep-alive HTTP/1.1 connections, the session cookie, the CSRF token.

A pending sign-in is a browser that did ``GET /login`` and posted its address:
its session is waiting at the password step. The measured request is the
password ``POST /login/password``; a success answers 302 to ``/account``.
"""
from __future__ import annotations

import dataclasses
import http.client
import json
import re
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

COOKIE = "uness_session"
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
_RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    location: str
    cookie: str | None  # the session cookie the reply set, if any
    body: str
    refresh: str = ""  # the Refresh header (a page that moves on by itself), if any


class Connection:
    """One keep-alive connection; reconnects once when the server closed it while idle."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._conn = http.client.HTTPConnection(host, port, timeout=60)

    def request(self, method: str, path: str, cookie: str | None = None,
                form: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                json_body: object = None) -> Reply:
        """``form`` is sent form-encoded, ``json_body`` as JSON (with the caller's Content-Type, if any)."""
        headers = dict(headers or {})
        if cookie:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            try:
                self._conn.request(method, path, body, headers)
                response = self._conn.getresponse()
                text = response.read().decode()
                break
            except _RETRYABLE:  # gunicorn closes keep-alive connections idle for 5 s
                self._conn.close()
                if attempt == 2:
                    raise
        cookie_set = None
        for header in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = header.partition("=")
            if name == COOKIE:
                cookie_set = rest.partition(";")[0]
        return Reply(response.status, response.headers.get("Location", ""), cookie_set, text,
                     response.headers.get("Refresh", ""))

    def close(self) -> None:
        self._conn.close()


class RawConnection:
    """:class:`Connection`'s interface over a bare socket, for the measured loops of many small requests.

    http.client parses every reply's headers with the email package; at hundreds of
    requests per second that is CPU the load generator takes from the gateway on the
    same cores. This one writes the request in one ``sendall`` and reads the reply by
    Content-Length (or chunks); it reconnects when the server closed the connection.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._head = f"Host: {host}:{port}\r\nAccept-Encoding: identity\r\n"

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._buffer = sock, b""
        return sock

    def request(self, method: str, path: str, cookie: str | None = None,
                form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Reply:
        lines = [f"{method} {path} HTTP/1.1\r\n", self._head]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}\r\n")
        if cookie:
            lines.append(f"Cookie: {COOKIE}={cookie}\r\n")
        body = urlencode(form).encode() if form is not None else b""
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded\r\n")
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}\r\n")
        payload = "".join(lines).encode("latin-1") + b"\r\n" + body
        for attempt in (1, 2):
            sock = self._sock or self._connect()
            try:
                sock.sendall(payload)
                return self._read(sock)
            except (*_RETRYABLE, _Closed):  # closed while idle (gunicorn's keep-alive is 5 s)
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _fill(self, sock: socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed()
        self._buffer += chunk

    def _read(self, sock: socket.socket) -> Reply:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            self._fill(sock)
        head, self._buffer = self._buffer[:end].decode("latin-1"), self._buffer[end + 4:]
        status_line, *header_lines = head.split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        location = refresh = ""
        cookie_set = None
        length, chunked, close = 0, False, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "location":
                location = value
            elif name == "refresh":
                refresh = value
            elif name == "set-cookie" and value.startswith(COOKIE + "="):
                cookie_set = value[len(COOKIE) + 1:].partition(";")[0]
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = value.lower() == "close"
        body = self._chunked(sock) if chunked else self._take(sock, length)
        if close:
            self.close()
        return Reply(status, location, cookie_set, body.decode(), refresh)

    def _take(self, sock: socket.socket, length: int) -> bytes:
        while len(self._buffer) < length:
            self._fill(sock)
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    def _chunked(self, sock: socket.socket) -> bytes:
        parts = []
        while True:
            while (end := self._buffer.find(b"\r\n")) < 0:
                self._fill(sock)
            size = int(self._buffer[:end].split(b";")[0], 16)
            self._buffer = self._buffer[end + 2:]
            parts.append(self._take(sock, size + 2)[:size])
            if size == 0:
                return b"".join(parts)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buffer = None, b""


class _Closed(ConnectionError):
    """The server closed the connection."""


@dataclasses.dataclass(frozen=True)
class Pending:
    cookie: str
    token: str


def start_sign_in(conn: Connection, email: str) -> Pending:
    """``GET /login``, then ``POST /login`` with the address: the session waits for the password."""
    page = conn.request("GET", "/login")
    found = _CSRF.search(page.body)
    if page.status != 200 or not page.cookie or not found:
        raise RuntimeError(f"GET /login answered {page.status} without a session or a CSRF token")
    token = found.group(1)
    step = conn.request("POST", "/login", page.cookie, {"csrf_token": token, "email": email})
    if step.status != 302 or not step.location.endswith("/login/password"):
        raise RuntimeError(f"the address step answered {step.status} {step.location!r} for {email}")
    return Pending(step.cookie or page.cookie, token)


def post_password(conn: Connection | RawConnection, pending: Pending, password: str) -> str | None:
    """The measured request. The signed-in session cookie, or None when the sign-in failed."""
    reply = conn.request("POST", "/login/password", pending.cookie,
                         {"csrf_token": pending.token, "password": password, "remember": "y"})
    return reply.cookie if reply.status == 302 and reply.location.endswith("/account") else None


def _in_threads(count: int, host: str, port: int, work: Callable[[Any], None],
                connection: Callable[[str, int], Connection | RawConnection] = Connection) -> None:
    def run() -> None:
        conn = connection(host, port)
        try:
            work(conn)
        finally:
            conn.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def prepare(host: str, port: int, emails: list[str], count: int, concurrency: int) -> deque[Pending]:
    """``count`` sessions waiting at the password step, the accounts taken in turn."""
    todo = deque(emails[n % len(emails)] for n in range(count))
    ready: deque[Pending] = deque()
    errors: list[BaseException] = []

    def work(conn: Connection) -> None:
        while not errors:
            try:
                email = todo.popleft()
            except IndexError:
                return
            try:
                ready.append(start_sign_in(conn, email))
            except Exception as exc:  # reported once the threads are done
                errors.append(exc)

    _in_threads(concurrency, host, port, work)
    if errors:
        raise errors[0]
    return ready


@dataclasses.dataclass(frozen=True)
class Burst:
    ok: int
    failed: int
    elapsed: float
    ran_out: bool  # the prepared sessions were all used before the time was up
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


def sign_in_burst(host: str, port: int, pending: deque[Pending], password: str, seconds: float,
                  concurrency: int) -> Burst:
    """Post passwords from ``concurrency`` connections for ``seconds``; the rate over the busy time.

    Over :class:`RawConnection`: the load generator's CPU counts in the whole sign-in that ``make
    bench`` sets against argon2, and http.client's header parsing is the client's cost, not the gateway's.
    """
    ok, failed, latencies, finished = [0], [0], [], [0.0]
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def work(conn: RawConnection) -> None:
        while time.perf_counter() < deadline:
            try:
                session = pending.popleft()
            except IndexError:
                return
            sent = time.perf_counter()
            signed_in = post_password(conn, session, password)
            done = time.perf_counter()
            with lock:
                ok[0] += signed_in is not None
                failed[0] += signed_in is None
                latencies.append(done - sent)
                finished[0] = max(finished[0], done)

    _in_threads(concurrency, host, port, work, RawConnection)
    elapsed = finished[0] - start if finished[0] else 0.0
    return Burst(ok[0], failed[0], elapsed, not pending and finished[0] < deadline, latencies)


class Probe:
    """GETs one path over and over (one connection, ~10 ms apart) while started; keeps each latency.

    ``path`` may be a function giving the next path (a fresh SAML AuthnRequest each time).
    """

    def __init__(self, host: str, port: int, path: str | Callable[[], str], cookie: str | None = None,
                 expect: int = 200) -> None:
        self.conn = Connection(host, port)
        self.next_path = path if callable(path) else lambda: path
        self.cookie, self.expect = cookie, expect
        self.latencies: list[float] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            path = self.next_path()
            sent = time.perf_counter()
            reply = self.conn.request("GET", path, self.cookie)
            self.latencies.append(time.perf_counter() - sent)
            if reply.status != self.expect:
                self.error = f"GET {path.partition('?')[0]} answered {reply.status}, not {self.expect}"
                return
            self._stop.wait(0.01)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.conn.close()
        if self.error:
            raise RuntimeError(self.error)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    if len(latencies) < 2:
        value = 1000 * latencies[0] if latencies else float("nan")
        return value, value
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return 1000 * cuts[49], 1000 * cuts[98]
