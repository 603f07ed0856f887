"""Issue 9.1: a redirect URI that browsers and Python read differently never receives a code.

``rp-public`` (a native app) registered ``http://127.0.0.1/native/cb``: any port may be asked, nothing
else. Each attack below is a string Python's ``urlsplit`` reads as loopback and a browser as another
host (or might). The attacker's request is refused with the French page, before and after sign-in, no
Location or Refresh header and no link goes anywhere, and no code is issued. The same strings are
refused as post-logout redirect URIs, at dynamic registration and in the clients file.
"""
from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

import pytest
import requests

from gateway.oidc.clients import load_clients
from gateway.oidc.errors import ClientConfigError
from tests.oidc.conftest import RP

VERIFIER = "attacker-verifier-0123456789-0123456789-0123456789"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()

ATTACKS = [
    "http://evil.example:8690\\@127.0.0.1:8003/native/cb",
    "http://evil.example:8690%5C@127.0.0.1:8003/native/cb",
    "http://evil.example@127.0.0.1:8003/native/cb",
    "http://127.0.0.1:8003\\@evil.example/native/cb",
    "http://127.0.0.1:8003\\evil.example/native/cb",
    "http://127.0.0.1\t:8003/native/cb",
    "http://127.0.0.1:8003/native/cb\n",
    "http://127.0.0.1:8003/native/cb\\..\\..\\evil",
    "http://127.0.0.1:8003/native/cb#@evil.example",
    "http://ｅvil.example@127.0.0.1:8003/native/cb",
    "http://127.1:8003/native/cb",
    "http://[::1]@evil.example/native/cb",
    "http://[::ffff:7f00:1]:8003/native/cb",
    "http://[::1%25eth0]:8003/native/cb",
    "http://127.0.0.1:08003/native/cb",
]


def authorize_url(redirect_uri: str, client_id: str = "rp-public") -> str:
    return "/oidc/authorize?" + urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": "openid",
        "state": "attacker-state", "code_challenge": CHALLENGE, "code_challenge_method": "S256"})


def assert_refused_here(response: requests.Response) -> None:
    """The French page of the gateway, and nothing that sends the browser away or carries a code."""
    assert response.status_code == 400, (response.status_code, response.headers)
    assert "Location" not in response.headers and "Refresh" not in response.headers
    assert "Demande de connexion impossible" in response.text
    assert "code=" not in response.text and 'href="http' not in response.text


@pytest.mark.parametrize("uri", ATTACKS)
def test_ambiguous_loopback_redirect_uri_is_refused_before_sign_in(live, browser, uri):
    assert_refused_here(browser.get(authorize_url(uri)))


def test_signed_in_victim_never_sends_a_code_to_the_attacker(live, browser, account):
    """The review's scenario: the victim has a session; every ambiguous form is refused, none gets a code."""
    browser.sign_in()
    for uri in ATTACKS:
        assert_refused_here(browser.get(authorize_url(uri)))
    redis = live.app.extensions["gateway.store"].redis
    assert not list(redis.scan_iter("gw:oidc:*code*"))


def test_a_loopback_port_is_the_only_difference_allowed(live, browser, account):
    """RFC 8252 §7.3: the native app's port changes, the rest is the registered string."""
    browser.sign_in()
    response = browser.get(authorize_url("http://127.0.0.1:8003/native/cb"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://127.0.0.1:8003/native/cb?code=")
    for other in ("http://127.0.0.1:8003/native/cb/", "http://127.0.0.1:8003/native/cb?x=1",
                  "http://localhost:8003/native/cb", "https://127.0.0.1:8003/native/cb",
                  "http://127.0.0.2:8003/native/cb"):
        assert_refused_here(browser.get(authorize_url(other)))


def test_an_ambiguous_uri_asked_again_is_refused_again(live, browser, account):
    """The served-form check is kept per URI (clients.in_served_form): every ambiguous form, asked a second
    time between good requests, is refused again and gets no code; the registered one keeps working."""
    browser.sign_in()
    for _ in range(2):
        for uri in ATTACKS:
            assert_refused_here(browser.get(authorize_url(uri)))
        response = browser.get(authorize_url("http://127.0.0.1:8003/native/cb"))
        assert response.headers["Location"].startswith("http://127.0.0.1:8003/native/cb?code=")


def test_the_continue_page_sends_the_registered_uri_re_serialised(live, browser, account, rp_backend):
    """After the sign-in form, the "Retour vers l'application" page: Refresh and link are the same
    validated string, the state percent-encoded, never raw."""
    callback = rp_backend.url.replace("/backchannel-logout", "/cb")
    query = urlencode({"client_id": "rp-browser", "redirect_uri": callback, "response_type": "code",
                       "scope": "openid", "state": '"><a href=//evil.example>x</a>', "nonce": "n"})
    login_page = browser.go(f"/oidc/authorize?{query}", stop="nowhere", email=None)
    done = browser.sign_in(start=login_page)
    resumed = browser.get(done.headers["Location"])
    assert resumed.status_code == 200 and "Retour vers l'application" in resumed.text
    target = resumed.headers["Refresh"].removeprefix("0;url=")
    assert target.startswith(callback + "?code=")
    assert "state=%22%3E%3Ca+href%3D%2F%2Fevil.example%3Ex%3C%2Fa%3E" in target
    assert f'href="{target.replace("&", "&amp;")}"' in resumed.text
    assert "evil.example>" not in resumed.text


@pytest.mark.parametrize("uri", [f"{RP}\\@evil.example/logged-out", f"{RP}@evil.example/logged-out",
                                 "https://evil.example\\@rp.example.org/logged-out",
                                 f"{RP}/logged-out\t", f"{RP}%5C@evil.example/logged-out"])
def test_post_logout_redirect_uri_must_be_the_registered_string(live, browser, account, uri):
    """RP-Initiated Logout §3: an unregistered (ambiguous) post_logout_redirect_uri is never followed,
    even after the person confirms."""
    browser.sign_in()
    query = urlencode({"client_id": "rp-basic", "post_logout_redirect_uri": uri, "state": "s"})
    response = browser.get(f"/oidc/logout?{query}")
    assert response.status_code in (200, 400) and "Location" not in response.headers
    assert "evil.example" not in response.headers.get("Refresh", "")
    if response.status_code == 200 and "csrf_token" in response.text:
        confirmed = browser.submit("/oidc/logout", {
            "confirm": "1", "client_id": "rp-basic", "post_logout_redirect_uri": uri, "state": "s",
        }, page=response)
        assert "evil.example" not in confirmed.headers.get("Location", "")
        assert "evil.example" not in confirmed.headers.get("Refresh", "")


@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
@pytest.mark.parametrize("uri", ATTACKS[:8] + ["https://ẹvil.example/cb", "https://new.example.org/c b"])
def test_registration_refuses_ambiguous_uris(live, field, uri):
    metadata = {"redirect_uris": ["https://new.example.org/cb"], field: [uri]}
    response = requests.post(live.endpoint("/oidc/register"), json=metadata, timeout=10)
    assert response.status_code == 400
    # authlib's own metadata checks answer some with invalid_client_metadata first (RFC 7591 §3.2.2)
    expected = {"invalid_redirect_uri", "invalid_client_metadata"} if field == "redirect_uris" \
        else {"invalid_client_metadata"}
    assert response.json()["error"] in expected


def test_clients_file_refuses_ambiguous_uris_one_line_each(tmp_path):
    path = tmp_path / "clients.toml"
    path.write_text(
        '[[clients]]\nclient_id = "native"\ntoken_endpoint_auth_method = "none"\n'
        'redirect_uris = ["http://evil.example:8690\\\\@127.0.0.1:8003/cb", "http://127.0.0.1/cb"]\n'
        'post_logout_redirect_uris = ["https://app.example.org\\\\@evil.example/bye"]\n', encoding="utf-8")
    with pytest.raises(ClientConfigError) as info:
        load_clients(path, production=False)
    problems = info.value.problems
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert problems[0].startswith(f"{path}: clients[0] (native): redirect_uris: ")
    assert problems[1].startswith(f"{path}: clients[0] (native): post_logout_redirect_uris: ")


@pytest.mark.parametrize("uri", ["https://127.0.0.1/bcl", "https://10.0.0.8/bcl", "https://[fd12::1]/bcl",
                                 "https://[fe80::1]/bcl", "https://169.254.169.254/bcl", "https://localhost/bcl",
                                 "http://new.example.org/bcl", "https://new.example.org\\@10.0.0.8/bcl"])
def test_production_backchannel_logout_uri_must_be_public_https(oidc_config, redis_client, tmp_path, uri):
    """Issue 9.4: refused at registration (invalid_client_metadata) and in the clients file (one line)."""
    from tests.conftest import make_app

    config = {**oidc_config, "mode": "production", "public_url": "https://connexion.example.fr",
              "insecure_http": False,
              "oidc": {**oidc_config["oidc"], "clients_file": str(tmp_path / "none.toml"),
                       "initial_access_tokens": {"cockpit": "initial-token-0123456789"},
                       "pairwise_secret": "pairwise-secret-0123456789"}}
    client = make_app(config).test_client()
    metadata = {"redirect_uris": ["https://new.example.org/cb"], "backchannel_logout_uri": uri}
    answer = client.post("/oidc/register", json=metadata, base_url="https://connexion.example.fr",
                         headers={"Authorization": "Bearer initial-token-0123456789"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_client_metadata"
    assert "backchannel_logout_uri" in answer.get_json()["error_description"]
    path = tmp_path / "clients.toml"
    path.write_text('[[clients]]\nclient_id = "rp"\ntoken_endpoint_auth_method = "none"\n'
                    f'redirect_uris = ["https://rp.example.org/cb"]\nbackchannel_logout_uri = {uri!r}\n'
                    .replace("'", '"').replace("\\", "\\\\"), encoding="utf-8")
    with pytest.raises(ClientConfigError) as info:
        load_clients(path, production=True)
    assert len(info.value.problems) == 1 and "backchannel_logout_uri" in info.value.problems[0]
