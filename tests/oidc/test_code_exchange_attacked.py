"""The gateway's own code grant attacked over HTTP (RFC 6749 §2.3, §3.2, §4.1, §5.2; RFC 7523; OIDC Core §3.1).

Each test performs the attack against the live gateway (real Redis, real
pages) and checks the refusal is the standard error and that nothing leaked:
no token, no code sent away, and the rightful client can still use its code
when the attacker was refused before the code was read.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
from urllib.parse import urlencode

import pytest
import requests
from joserfc import jwt

from tests.oidc.conftest import CALLBACK, RP, SECRETS
from tests.oidc.test_tokens import NATIVE, _assertion, _challenge, _code, _token

POST = ("rp-post", SECRETS["rp-post"])
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _refused(response, error, status=400):
    """A §5.2 error: JSON, not cached, without any token."""
    assert response.status_code == status and response.json()["error"] == error, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert "access_token" not in response.text and "id_token" not in response.text


def _exchange(live, data, auth=None):
    return requests.post(live.endpoint("/oidc/token"), data=data, auth=auth, timeout=10)


# -- client authentication -------------------------------------------------------------------------

SECRET = SECRETS["rp-basic"]
WRONG_CREDENTIALS = {
    "secret in another case": ("rp-basic", CALLBACK, {}, ("rp-basic", SECRET.upper())),
    "secret one character longer": ("rp-basic", CALLBACK, {}, ("rp-basic", SECRET + "0")),
    "secret one character shorter": ("rp-basic", CALLBACK, {}, ("rp-basic", SECRET[:-1])),
    "empty secret": ("rp-basic", CALLBACK, {}, ("rp-basic", "")),
    "client_secret_post client by Basic": ("rp-post", CALLBACK, {}, POST),
    "public client by Basic": ("rp-public", NATIVE, {}, ("rp-public", "anything")),
    "public client sends a secret": ("rp-public", NATIVE, {"client_id": "rp-public", "client_secret": "x"}, None),
}


#: how each client rightfully authenticates: body parameters, Basic
OWNERS = {"rp-basic": ({}, ("rp-basic", SECRET)),
          "rp-post": ({"client_id": "rp-post", "client_secret": SECRETS["rp-post"]}, None),
          "rp-public": ({"client_id": "rp-public"}, None)}


@pytest.mark.parametrize("attempt", WRONG_CREDENTIALS)
def test_a_client_authenticating_otherwise_than_registered_gets_nothing_and_spends_nothing(
        browser, live, account, attempt):
    """RFC 6749 §2.3.1, §3.2.1, OIDC Core §9: a client authenticates only by its registered method, with
    its exact secret (no case folding, no prefix); anything else is invalid_client and leaves the code
    to its owner."""
    client, uri, body, auth = WRONG_CREDENTIALS[attempt]
    verifier = secrets.token_urlsafe(48)
    code = _code(browser, live, client, uri, **_challenge(verifier))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": uri, "code_verifier": verifier}
    refused = _exchange(live, {**data, **body}, auth)
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"
    assert "access_token" not in refused.text and refused.headers["Cache-Control"] == "no-store"
    extra, auth = OWNERS[client]
    assert _exchange(live, {**data, **extra}, auth).status_code == 200


def test_basic_credentials_are_form_urlencoded(browser, live, account):
    """RFC 6749 §2.3.1: client_id and secret are application/x-www-form-urlencoded inside Basic; a client
    that encodes every character authenticates."""
    code = _code(browser, live)["code"]
    encoded = ":".join("".join(f"%{b:02X}" for b in part.encode()) for part in ("rp-basic", SECRET))
    header = {"Authorization": "Basic " + base64.b64encode(encoded.encode()).decode()}
    response = requests.post(live.endpoint("/oidc/token"), headers=header, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK})
    assert response.status_code == 200 and response.json()["id_token"]


@pytest.mark.parametrize("path", ["/oidc/token", "/oidc/revoke", "/oidc/introspect"])
@pytest.mark.parametrize("credentials", [b"\xff\xfe:secret", b"rp-basic:\xff\xfe"])
def test_basic_credentials_that_are_not_utf8_are_invalid_client(live, path, credentials):
    """RFC 6749 §2.3.1, §5.2: a Basic header whose bytes are not UTF-8 is a client that does not
    authenticate (401 invalid_client, JSON), never a server error."""
    header = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK, "token": "x"}
    response = requests.post(live.endpoint(path), headers=header, data=data, timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.text


def test_credentials_of_one_client_never_redeem_the_code_of_another(browser, live, account):
    """RFC 6749 §4.1.3: Basic of the attacker's own client with the victim's client_id and a guessed secret
    in the body -> the code is refused (invalid_grant) and stays with its owner."""
    code = _code(browser, live)["code"]
    stolen = _exchange(live, {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                              "client_id": "rp-basic", "client_secret": "guess"},
                       auth=("rp-other", SECRETS["rp-other"]))
    _refused(stolen, "invalid_grant")
    assert _token(live, {"code": code}).status_code == 200


@pytest.mark.parametrize("change", ["another audience", "expired", "no jti", "iss is not sub"])
def test_a_bad_client_assertion_is_invalid_client_and_spends_nothing(browser, live, account, client_key, change):
    """RFC 7523 §3 (OIDC Core §9): aud must be this server, exp in the future, a jti, iss = sub = client."""
    code = _code(browser, live, "rp-jwt")["code"]
    now = int(time.time())
    claims = {"iss": "rp-jwt", "sub": "rp-jwt", "aud": live.endpoint("/oidc/token"), "exp": now + 60,
              "iat": now, "jti": secrets.token_urlsafe(8)}
    if change == "another audience":
        claims["aud"] = "https://other-op.example.org/token"
    elif change == "expired":
        claims.update(iat=now - 600, exp=now - 300)
    elif change == "no jti":
        del claims["jti"]
    else:
        claims["iss"] = "rp-basic"
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_assertion_type": ASSERTION_TYPE}
    forged = jwt.encode({"alg": "RS256", "kid": client_key.kid}, claims, client_key)
    refused = _exchange(live, {**data, "client_assertion": forged})
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"
    good = _exchange(live, {**data, "client_assertion": _assertion(client_key, live.issuer)})
    assert good.status_code == 200, good.text


def test_a_client_assertion_is_remembered_for_as_long_as_it_is_valid(browser, live, account, client_key,
                                                                    redis_client):
    """RFC 7523 §3 (7), SEC05: the jti of an assertion valid for an hour (authlib's default lifetime) is
    remembered until it expires, not 10 minutes (a replay in between would authenticate); one valid for
    more than a day is refused (invalid_client) and spends nothing."""
    data = {"grant_type": "authorization_code", "redirect_uri": CALLBACK, "client_assertion_type": ASSERTION_TYPE}
    code = _code(browser, live, "rp-jwt")["code"]
    assert _exchange(live, {**data, "code": code, "client_assertion": _assertion(client_key, live.issuer)}).ok
    ttls = [redis_client.ttl(name) for name in redis_client.scan_iter(match="*jti*")]
    assert len(ttls) == 1 and ttls[0] >= 3600
    code = _code(browser, live, "rp-jwt")["code"]
    now = int(time.time())
    claims = {"iss": "rp-jwt", "sub": "rp-jwt", "aud": live.issuer, "exp": now + 2 * 86400, "iat": now,
              "jti": secrets.token_urlsafe(8)}
    lasting = jwt.encode({"alg": "RS256", "kid": client_key.kid}, claims, client_key)
    refused = _exchange(live, {**data, "code": code, "client_assertion": lasting})
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"
    assert _exchange(live, {**data, "code": code, "client_assertion": _assertion(client_key, live.issuer)}).ok


# -- the token request -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, error", [
    (None, "unsupported_grant_type"), ("refresh_token", "invalid_request"), ("password", "unsupported_grant_type")])
def test_a_missing_or_other_grant_type_never_redeems_a_code(browser, live, account, name, error):
    """RFC 6749 §4.1.3, §5.2: without grant_type=authorization_code the code is not read."""
    code = _code(browser, live)["code"]
    data = {"code": code, "redirect_uri": CALLBACK, **({"grant_type": name} if name else {})}
    _refused(_exchange(live, data, ("rp-basic", SECRET)), error)
    assert _token(live, {"code": code}).status_code == 200


@pytest.mark.parametrize("name", ["grant_type", "code", "redirect_uri", "code_verifier", "client_id"])
def test_a_repeated_token_request_parameter_is_invalid_request(browser, live, account, name):
    """RFC 6749 §3.2: request parameters MUST NOT be included more than once -> invalid_request, no
    token; the code is not spent."""
    verifier = secrets.token_urlsafe(48)
    code = _code(browser, live, **_challenge(verifier))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": verifier, "client_id": "rp-basic"}
    second = {"grant_type": "authorization_code", "code": "other", "redirect_uri": f"{RP}/cb2",
              "code_verifier": secrets.token_urlsafe(48), "client_id": "rp-other"}[name]
    _refused(_exchange(live, [*data.items(), (name, second)], ("rp-basic", SECRET)), "invalid_request")
    assert _exchange(live, data, ("rp-basic", SECRET)).status_code == 200


def test_a_repeated_refresh_token_is_invalid_request_and_spends_neither(browser, live, account):
    """RFC 6749 §3.2 for the refresh grant too: two refresh tokens in one request -> invalid_request; both
    still work afterwards (neither was read)."""
    first = _token(live, {"code": _code(browser, live)["code"]}).json()["refresh_token"]
    second = _token(live, {"code": _code(browser, live)["code"]}).json()["refresh_token"]
    data = [("grant_type", "refresh_token"), ("refresh_token", first), ("refresh_token", second)]
    _refused(_exchange(live, data, ("rp-basic", SECRET)), "invalid_request")
    for token in (first, second):
        assert _exchange(live, {"grant_type": "refresh_token", "refresh_token": token}, ("rp-basic", SECRET)).ok


@pytest.mark.parametrize("uri", [None, CALLBACK + "/", f"{RP}/cb2", f"{RP}/CB", f"{RP}:443/cb"])
def test_the_token_request_needs_the_identical_redirect_uri(browser, live, account, uri):
    """RFC 6749 §4.1.3: redirect_uri identical to the authorization request's (missing, a trailing slash,
    another registered one, another case, an explicit port) -> invalid_grant, no token."""
    code = _code(browser, live)["code"]
    data = {"grant_type": "authorization_code", "code": code, **({"redirect_uri": uri} if uri else {})}
    _refused(_exchange(live, data, ("rp-basic", SECRET)), "invalid_grant")


def test_scope_cannot_be_widened_at_the_token_endpoint(browser, live, account):
    """RFC 6749 §4.1.3 has no scope: one sent with the code exchange widens nothing (tokens and ID token
    keep the authorized scope)."""
    code = _code(browser, live, scope="openid")["code"]
    token = _token(live, {"code": code, "scope": "openid profile email"}).json()
    assert token["scope"] == "openid"
    payload = token["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert "email" not in claims and "name" not in claims
    info = requests.get(live.endpoint("/oidc/userinfo"), timeout=10,
                        headers={"Authorization": f"Bearer {token['access_token']}"})
    assert "email" not in info.json()


# -- the authorization request -------------------------------------------------------------------------

@pytest.mark.parametrize("uri", [
    CALLBACK + "/", "https://RP.example.org/cb", f"{RP}/CB", f"{RP}:443/cb", f"{RP}:8443/cb", CALLBACK + "#x",
    "https://evil.example@rp.example.org/cb", "https://rp.example.org@evil.example/cb", CALLBACK + "?a=b",
    "http://rp.example.org/cb", f"{RP}/cb/../cb", "https://rp.example.org.evil.example/cb"])
def test_a_signed_in_person_is_never_sent_to_a_near_miss_redirect_uri(browser, live, account, uri):
    """OIDC Core §3.1.2.1 (exact match), RFC 6749 §4.1.2.1: a redirect URI differing from the registered
    one by a trailing slash, case, a port, a fragment, userinfo, a query, the scheme or a path
    segment -> our page, no Location, no code; the error is not redirected anywhere either."""
    browser.sign_in()
    response = browser.get("/oidc/authorize?" + urlencode({
        "client_id": "rp-basic", "redirect_uri": uri, "response_type": "code", "scope": "openid", "state": "s"}))
    assert response.status_code == 400 and "Location" not in response.headers and "Refresh" not in response.headers
    assert "code=" not in response.text and "Demande de connexion impossible" in response.text


@pytest.mark.parametrize("mode", ["fragment", "form_post", "query.jwt"])
def test_response_mode_other_than_query_is_not_honoured(browser, live, account, mode):
    """Discovery offers response_modes_supported = ["query"]: the code goes back in the query, with
    state and RFC 9207 iss, never in a fragment or a page of ours."""
    params = _code(browser, live, response_mode=mode)
    assert params["code"] and params["state"] == "st" and params["iss"] == live.issuer


# -- transport ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["gateway.example.org", "127.0.0.1.example.org", "localhost.example.org"])
def test_plain_http_to_another_host_stays_refused_after_loopback_exchanges(browser, live, account, host):
    """RFC 6749 §3.2: TLS at the token endpoint, http to a loopback host aside. The rule is answered once
    per (scheme, host): exchanges over loopback http before (and a refusal before) never make plain http
    to another host, a look-alike of a loopback name included, acceptable; the refused code is not spent."""
    assert _token(live, {"code": _code(browser, live)["code"]}).status_code == 200  # http://127.0.0.1
    code = _code(browser, live)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    basic = "Basic " + base64.b64encode(f"rp-basic:{SECRET}".encode()).decode()
    for _ in range(2):
        answer = live.app.test_client().post("/oidc/token", base_url=f"http://{host}", data=data,
                                             headers={"Authorization": basic})
        assert answer.status_code == 400 and answer.get_json()["error"] == "insecure_transport"
        assert "access_token" not in answer.get_data(as_text=True)
    assert _token(live, {"code": code}).status_code == 200
