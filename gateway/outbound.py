"""The gateway's own HTTP calls to other servers (OIDC back-channel logout, SAML SOAP logout).

Their URLs come from relying parties (a registered ``backchannel_logout_uri``)
or SP metadata (federation aggregates included), so the worker must not be
made to reach the gateway's own network:

* :func:`endpoint_problem` is the rule for such a URL, checked when it is
  configured, registered or loaded: an http(s) URL browsers and Python read
  alike (:mod:`gateway.identity.redirects`); in production, https to a public
  host only: no ``localhost``, no loopback, private, link-local, unique-local,
  shared or multicast address literal. In development, http and loopback are
  allowed, as the test set-ups need.
* :func:`post` checks it again, resolves the host once, refuses (in
  production) a name that resolves to a non-public address, and connects to
  the address it checked (TLS still verifies the certificate for the host
  name), so a DNS answer that changes between the check and the connection
  (DNS rebinding) cannot move it. It never follows a redirect (http.client does
  not): a 3xx is returned as the status it is (OIDC Back-Channel Logout §2.5).
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .identity.redirects import UnsafeUrl, browser_url

#: ``socket.getaddrinfo``'s signature; tests pass a resolver of their own to play DNS rebinding.
Resolver = Callable[..., list[tuple[Any, ...]]]
MAX_ANSWER_BYTES = 1 << 20


class OutboundError(Exception):
    """A call that did not happen or did not complete; the message names the host only."""


class AddressRefused(OutboundError):
    """The URL, or the address its host resolves to, is not one the worker may call."""


class Unreachable(OutboundError):
    """Resolution, connection, TLS or the exchange failed."""


def endpoint_problem(url: str, *, production: bool) -> str | None:
    """Why the worker may not call ``url`` (None when it may); see the module docstring."""
    try:
        if browser_url(url) != url:
            return f"{url!r}: not in its normalised form {browser_url(url)!r}"
    except UnsafeUrl as exc:
        return f"{url!r}: {exc.reason}"
    if not production:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https":
        return f"{url!r}: https is required in production"
    if host == "localhost" or host.endswith(".localhost"):
        return f"{url!r}: a loopback host, not allowed in production"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: its addresses are checked when it is called
    return None if is_public(address) else f"{url!r}: a non-public address, not allowed in production"


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally routable unicast address (not loopback, private, link-local, unique-local, shared...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float, production: bool,
         resolve: Resolver = socket.getaddrinfo) -> tuple[int, bytes]:
    """POST ``body``; the status and (at most 1 MiB of) the answer. Raises AddressRefused or Unreachable."""
    problem = endpoint_problem(url, production=production)
    parts = urlsplit(url)
    if problem is not None:
        raise AddressRefused(f"{parts.netloc}: {problem.rsplit(': ', 1)[-1]}")
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = checked_address(host, port, production, resolve)
    connection = _Pinned(host, port, address, timeout, https)
    try:
        connection.request("POST", parts.path + (f"?{parts.query}" if parts.query else "") or "/", body,
                           dict(headers))
        answer = connection.getresponse()
        return answer.status, answer.read(MAX_ANSWER_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"{parts.netloc}: {type(exc).__name__}") from None
    finally:
        connection.close()


def checked_address(host: str, port: int, production: bool, resolve: Resolver = socket.getaddrinfo) -> str:
    """The address to connect to: the first the host resolves to (in production, the first public one).

    Raises Unreachable (no answer) or AddressRefused (in production, only non-public addresses).
    """
    try:
        found = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unreachable(f"{host}: {type(exc).__name__}") from None
    addresses = [str(entry[4][0]) for entry in found]
    if not addresses:
        raise Unreachable(f"{host}: no address")
    if not production:
        return addresses[0]
    for address in addresses:
        if is_public(ipaddress.ip_address(address.split("%", 1)[0])):
            return address
    raise AddressRefused(f"{host}: resolves to a non-public address only")


class _Pinned(http.client.HTTPSConnection):
    """An HTTP(S) connection to ``address``, speaking to ``host`` (Host header, SNI, certificate check)."""

    def __init__(self, host: str, port: int, address: str, timeout: float, https: bool) -> None:
        self.tls = ssl.create_default_context() if https else None
        super().__init__(host, port, timeout=timeout, context=self.tls or ssl.create_default_context())
        self.address = address
        self.default_port = 443 if https else 80  # the Host header leaves the default port out

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls else sock
