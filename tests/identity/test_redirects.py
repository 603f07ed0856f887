"""Every URL the gateway sends a browser to is one browsers and Python read alike, re-serialised.

Each refused string below is one where Python's ``urlsplit`` and a browser (WHATWG URL) disagree on the
host, or could: backslash, userinfo, tab and newline, percent-escapes and Unicode in the host, IPv4 in a
form only browsers normalise, IPv6 zones. The accepted ones come back unchanged, or percent-encoded.
"""
from __future__ import annotations

import pytest

from gateway.identity.redirects import UnsafeUrl, browser_url, is_local_url, local_path, location

REFUSED = [
    "http://evil.example:8690\\@127.0.0.1:8003/callback",   # the review's attack: userinfo to Python
    "http://127.0.0.1:8003\\@evil.example/callback",
    "http://evil.example%5C@127.0.0.1:8003/callback",
    "http://evil.example@127.0.0.1:8003/callback",
    "http://127.0.0.1:8003@evil.example/callback",
    "http://127.0.0.1:8003/cb\\..\\",
    "http://127.0.0.1\t:8003/callback",
    "http://127.0.0.1:8003/callback\n",
    " http://127.0.0.1:8003/callback",
    "http://127.0.0.1:8003/cb#x",
    "http://%31%32%37.0.0.1/cb",
    "http://ｅvil.example/cb",                                # fullwidth letter: NFKC to evil.example
    "https://exämple.fr/cb",                                 # IDN: only its xn-- form
    "http://127.1/cb", "http://0x7f.0.0.1/cb", "http://2130706433/cb", "http://127.000.000.001/cb",
    "http://[::1%25lo]/cb", "http://[fe80::1%eth0]/cb", "http://[::1/cb", "http://[evil.example]/cb",
    "http://127.0.0.1:0/cb", "http://127.0.0.1:65536/cb", "http://127.0.0.1:08003/cb", "http://127.0.0.1:/cb",
    "https://c.fr/a%zz", "HTTP://c.fr/", "javascript:alert(1)", "//evil.example/", "https:/evil.example",
    "https://evil.example./cb", "ftp://c.fr/", "",
]


@pytest.mark.parametrize("url", REFUSED)
def test_ambiguous_urls_are_refused(url):
    with pytest.raises(UnsafeUrl):
        browser_url(url)


@pytest.mark.parametrize("url, serialised", [
    ("http://127.0.0.1:8003/callback", "http://127.0.0.1:8003/callback"),
    ("http://[::1]:8003/cb?code=a&state=b", "http://[::1]:8003/cb?code=a&state=b"),
    ("https://xn--exmple-cua.fr/cb", "https://xn--exmple-cua.fr/cb"),
    ("https://rp.example.org", "https://rp.example.org"),
    ("https://rp.example.org?x=1", "https://rp.example.org?x=1"),
    ("https://rp.example.org/é?s=\"<'>`{}|^", "https://rp.example.org/%C3%A9?s=%22%3C'%3E%60%7B%7D%7C%5E"),
    ("https://rp.example.org/a%2Fb?x=%5C", "https://rp.example.org/a%2Fb?x=%5C"),
])
def test_accepted_urls_are_re_serialised(url, serialised):
    assert browser_url(url) == serialised
    assert browser_url(serialised) == serialised  # idempotent: registered values stay comparable


@pytest.mark.parametrize("target, local", [
    ("/saml/sso/resume?key=abc", True), ("/oidc/authorize/h-1_x", True), ("/account", True),
    ("//evil.example/", False), ("/\\evil.example/", False), ("/\t/evil.example", False),
    ("/a b", False), ("https://evil.example/", False), ("evil.example", False), ("/%zz", False),
    ("/é", False), (None, False),
])
def test_local_paths(target, local):
    """``next`` on the sign-in pages: a path of this site, already in its serialised form."""
    assert is_local_url(target) is local


def test_location_is_either_a_local_path_or_an_absolute_url():
    assert location("/saml/slo/chain?token=x") == "/saml/slo/chain?token=x"
    assert location("/é") == local_path("/é") == "/%C3%A9"
    assert location("https://rp.example.org/bye?state=a b".replace(" ", "%20")) == \
        "https://rp.example.org/bye?state=a%20b"
    for bad in ("/\\evil.example", "http://a\\@b/"):
        with pytest.raises(UnsafeUrl):
            location(bad)
