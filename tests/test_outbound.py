"""The worker's own HTTP calls (back-channel logout, SOAP logout) reach only what they may (gateway.outbound).

Real HTTP servers on loopback receive (or do not receive) the calls. DNS rebinding is played with a
resolver passed in, as a clock is: it answers what an attacker's DNS server would.
"""
from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import outbound


class Recorder:
    """An HTTP server on 127.0.0.1 recording each request (path, Host); answers ``status`` (and Location)."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        self.requests: list[tuple[str, str]] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append((self.path, self.headers.get("Host", "")))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/logout"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


def resolving_to(address: str):
    """A resolver answering ``address`` for every name, as a rebinding DNS server would."""
    def resolve(host: str, port: int, **kw: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
    return resolve


@pytest.mark.parametrize("url, production, problem", [
    ("https://rp.example.org/backchannel", True, False),
    ("https://93.184.216.34/bc", True, False),
    ("http://rp.example.org/backchannel", True, True),
    ("https://localhost/bc", True, True), ("https://app.localhost/bc", True, True),
    ("https://127.0.0.1/bc", True, True), ("https://[::1]/bc", True, True),
    ("https://10.1.2.3/bc", True, True), ("https://172.16.0.1/bc", True, True),
    ("https://192.168.1.1/bc", True, True), ("https://169.254.169.254/latest/meta-data", True, True),
    ("https://100.64.0.1/bc", True, True), ("https://[fd00::1]/bc", True, True),
    ("https://[fe80::1]/bc", True, True), ("https://[::ffff:127.0.0.1]/bc", True, True),
    ("https://0.0.0.0/bc", True, True), ("https://224.0.0.1/bc", True, True),
    ("https://rp.example.org\\@10.0.0.1/bc", True, True), ("https://rp.example.org@10.0.0.1/bc", True, True),
    ("http://127.0.0.1:8080/bc", False, False), ("http://rp.example.org/bc", False, False),
    ("file:///etc/passwd", False, True), ("ftp://rp.example.org/", False, True),
    ("http://127.0.0.1:8080\\@evil.example/bc", False, True),
])
def test_which_urls_the_worker_may_call(url, production, problem):
    assert (outbound.endpoint_problem(url, production=production) is not None) is problem


def test_development_posts_to_loopback_and_pins_the_checked_address(recorder):
    """The name is resolved once; the connection goes to that address and still says the name (Host)."""
    url = f"http://rp.test:{recorder.port}/logout"
    status, body = outbound.post(url, b"x=1", {}, timeout=5, production=False,
                                 resolve=resolving_to("127.0.0.1"))
    assert (status, body) == (200, b"ok")
    assert recorder.requests == [("/logout", f"rp.test:{recorder.port}")]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1", "::ffff:127.0.0.1"])
def test_production_refuses_a_name_resolving_to_a_non_public_address(recorder, address):
    """DNS rebinding: a public-looking name answering a private address is refused before any connection."""
    with pytest.raises(outbound.AddressRefused):
        outbound.post(f"https://rp.example.org:{recorder.port}/logout", b"x=1", {}, timeout=5,
                      production=True, resolve=resolving_to(address))
    assert recorder.requests == []


def test_production_refuses_loopback_urls_without_resolving(recorder):
    def no_dns(*args: Any, **kw: Any) -> list[tuple[Any, ...]]:
        raise AssertionError("resolved")

    for url in (recorder.url, f"https://127.0.0.1:{recorder.port}/logout", f"https://localhost:{recorder.port}/"):
        with pytest.raises(outbound.AddressRefused):
            outbound.post(url, b"x=1", {}, timeout=5, production=True, resolve=no_dns)
    assert recorder.requests == []


def test_redirects_are_never_followed(recorder):
    """§2.5 of Back-Channel Logout: a 3xx is an answer, not a way to reach another server."""
    elsewhere = Recorder(status=307, location=recorder.url)
    try:
        status, _ = outbound.post(elsewhere.url, b"x=1", {}, timeout=5, production=False)
    finally:
        elsewhere.stop()
    assert status == 307 and len(elsewhere.requests) == 1
    assert recorder.requests == []


def test_unreachable_names_only_the_host():
    with pytest.raises(outbound.Unreachable) as info:
        outbound.post("http://127.0.0.1:9/logout?token=secret", b"", {}, timeout=2, production=False)
    assert "secret" not in str(info.value) and "127.0.0.1:9" in str(info.value)
