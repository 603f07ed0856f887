"""Every URL the gateway hands a browser (Location, Refresh, a link, a form action): validated, re-serialised.

Python's ``urlsplit`` and browsers (the WHATWG URL standard) do not read every
string alike. In ``http://evil.example:8690\\@127.0.0.1:8003/cb`` Python sees
the user ``evil.example:8690\\`` on 127.0.0.1, a browser the host
``evil.example`` (``\\`` is ``/`` in http(s) URLs); browsers drop tab and
newline, read ``127.1`` or ``0x7f.1`` as 127.0.0.1, and turn a Unicode host
into punycode. So only strings without such ambiguity pass:

* the scheme is ``http`` or ``https``, in lower case, followed by ``//``;
* the authority is a host and an optional port, nothing else: no userinfo
  (``@``), no percent-escape, no ``\\``; the host is ASCII letters, digits,
  ``-`` and ``.`` (an IDN in its ``xn--`` form), a dotted-quad IPv4 address
  written canonically, or a bracketed IPv6 literal without zone; the port is
  1-65535 without leading zeros;
* nowhere a control character, space, ``\\`` or ``#`` (no fragment);
* path and query are re-serialised: every character RFC 3986 §2 does not allow
  there is percent-encoded (UTF-8); an existing escape must be ``%`` and two
  hex digits.

A string that passes comes back re-serialised (:func:`browser_url`,
:func:`local_path`, :func:`location`); one that does not raises
:class:`UnsafeUrl`. A value already in that form comes back unchanged, so a
registered redirect URI stays comparable as a string (RFC 9700 §4.1.3).
"""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote

#: Characters left as they are in a path or query: RFC 3986 §2.2 and §2.3, and ``%`` of a valid escape.
_KEEP = "/?:@!$&'()*+,;=-._~%"
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\#]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ABSOLUTE = re.compile(r"(?P<scheme>https?)://(?P<authority>[^/?]*)(?P<rest>[/?].*)?", re.DOTALL)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_AUTHORITY = re.compile(rf"(?P<host>(?:{_LABEL}\.)*{_LABEL}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[1-9][0-9]{{0,4}}))?")
_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)")


class UnsafeUrl(ValueError):
    """A URL a browser might read differently from the gateway, or not an http(s) URL; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def browser_url(url: str) -> str:
    """``url`` (absolute http or https) re-serialised. Raises UnsafeUrl."""
    if not isinstance(url, str) or _FORBIDDEN.search(url):
        raise UnsafeUrl("control character, space, backslash or fragment")
    match = _ABSOLUTE.fullmatch(url)
    if match is None:
        raise UnsafeUrl("not an absolute http(s) URL")
    authority_problem(match["authority"])
    return f"{match['scheme']}://{match['authority']}{_serialised(match['rest'] or '')}"


def local_path(target: str) -> str:
    """``target``, a path on this gateway (``/saml/sso?…``), re-serialised. Raises UnsafeUrl."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") \
            or _FORBIDDEN.search(target):
        raise UnsafeUrl("not a path on this site")
    return _serialised(target)


def location(target: str) -> str:
    """A path of this gateway or an absolute http(s) URL, re-serialised. Raises UnsafeUrl."""
    return local_path(target) if isinstance(target, str) and target.startswith("/") else browser_url(target)


def is_local_url(target: str | None) -> bool:
    """True for a path on this gateway already in its re-serialised form; never another host or scheme."""
    try:
        return target is not None and local_path(target) == target
    except UnsafeUrl:
        return False


def refresh_header(target: str) -> str:
    """A ``Refresh`` header value moving on at once to ``target``. Raises UnsafeUrl."""
    return f"0;url={location(target)}"


def authority_problem(authority: str) -> None:
    """Raises UnsafeUrl unless ``authority`` is ``host[:port]`` as described in the module docstring."""
    match = _AUTHORITY.fullmatch(authority)
    if match is None:
        raise UnsafeUrl("the authority must be a host and an optional port (no user, escape or non-ASCII)")
    host, port = match["host"], match["port"]
    if port is not None and int(port) > 65535:
        raise UnsafeUrl("port out of range")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise UnsafeUrl("not an IPv6 address") from None
    elif _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):  # browsers read it as IPv4 (WHATWG host parsing)
        try:
            canonical = str(ipaddress.IPv4Address(host)) == host
        except ValueError:
            canonical = False
        if not canonical:
            raise UnsafeUrl("an IPv4 address must be written as four decimal numbers")
    if len(host) > 253:
        raise UnsafeUrl("host name too long")


def _serialised(rest: str) -> str:
    if _BAD_ESCAPE.search(rest):
        raise UnsafeUrl("'%' not followed by two hex digits")
    return quote(rest, safe=_KEEP)
