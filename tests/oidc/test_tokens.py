"""Token endpoint, PKCE, refresh rotation, expiry, revocation, introspection, client authentication.

Checklist PKCE01, PKCE02, OIDC06, OIDC12, SEC05, SEC11, SEC12, BCP01, BCP06.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time

import pytest
import requests
from authlib.oauth2.rfc7523 import private_key_jwt_sign

from tests.oidc.conftest import CALLBACK, SECRETS, query, sign_in_and_get_tokens

BASIC = ("rp-basic", SECRETS["rp-basic"])
OTHER = ("rp-other", SECRETS["rp-other"])
NATIVE = "http://127.0.0.1/native/cb"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _challenge(verifier: str) -> dict[str, str]:
    return {"code_challenge": s256(verifier), "code_challenge_method": "S256"}


def _code(browser, live, client="rp-basic", redirect_uri=CALLBACK, **params):
    """Sign in and return the authorization response's parameters (or the error page)."""
    params = {"client_id": client, "redirect_uri": redirect_uri, "response_type": "code", "scope": "openid",
              "state": "st", **params}
    target = browser.go(live.endpoint("/oidc/authorize?") + requests.compat.urlencode(params),
                        stop=redirect_uri.split("/cb")[0])
    return query(target) if isinstance(target, str) else target


def _token(live, data, auth=BASIC):
    payload = {"grant_type": "authorization_code", "redirect_uri": CALLBACK, **data}
    return requests.post(live.endpoint("/oidc/token"), data=payload, auth=auth, timeout=10)


# -- PKCE ---------------------------------------------------------------------------------------

def test_public_client_must_use_pkce(browser, live, account):
    """PKCE01: a public client without code_challenge -> invalid_request back to it."""
    params = _code(browser, live, "rp-public", NATIVE)
    assert params["error"] == "invalid_request" and "PKCE" in params["error_description"]


def test_plain_pkce_is_refused(browser, live, account):
    """PKCE01: code_challenge_method=plain (or absent, which means plain) is refused."""
    for method in ("plain", None):
        extra = {"code_challenge": "a" * 43, **({"code_challenge_method": method} if method else {})}
        assert _code(browser, live, **extra)["error"] == "invalid_request"


def test_public_client_code_flow_with_pkce_and_a_loopback_port(browser, live, account):
    """PKCE01, BCP01: a native app's loopback redirect URI may use any port (RFC 8252 §7.3)."""
    verifier = secrets.token_urlsafe(48)
    uri = "http://127.0.0.1:53917/native/cb"
    params = _code(browser, live, "rp-public", uri, **_challenge(verifier))
    response = requests.post(live.endpoint("/oidc/token"), timeout=10, data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": uri,
        "client_id": "rp-public", "code_verifier": verifier})
    assert response.status_code == 200 and response.json()["id_token"]


def test_public_client_without_verifier_is_refused(browser, live, account):
    """PKCE01: the token request of a public client must carry the verifier."""
    verifier = secrets.token_urlsafe(48)
    params = _code(browser, live, "rp-public", NATIVE, **_challenge(verifier))
    response = requests.post(live.endpoint("/oidc/token"), timeout=10, data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": NATIVE,
        "client_id": "rp-public"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_pkce_mismatch_is_invalid_grant(browser, live, account):
    """PKCE01 (RFC 7636 §4.6): a wrong verifier -> invalid_grant; the code is then spent."""
    verifier = secrets.token_urlsafe(48)
    params = _code(browser, live, code_challenge=s256(verifier), code_challenge_method="S256")
    wrong = _token(live, {"code": params["code"], "code_verifier": secrets.token_urlsafe(48)})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    again = _token(live, {"code": params["code"], "code_verifier": verifier})
    assert again.json()["error"] == "invalid_grant"


def test_pkce_challenge_without_verifier_is_refused(browser, live, account):
    """PKCE02: a code issued with a challenge needs the verifier."""
    params = _code(browser, live, **_challenge(secrets.token_urlsafe(48)))
    assert _token(live, {"code": params["code"]}).json()["error"] == "invalid_request"


def test_pkce_downgrade_verifier_without_challenge_is_refused(browser, live, account):
    """PKCE02 (RFC 9700 §4.8.2): no challenge at authorization, then a verifier -> refused."""
    params = _code(browser, live)
    response = _token(live, {"code": params["code"], "code_verifier": secrets.token_urlsafe(48)})
    assert response.status_code == 400 and response.json()["error"] in ("invalid_request", "invalid_grant")


@pytest.mark.parametrize("verifier, ok", [
    ("a" * 42, False), ("a" * 43, True), ("a" * 128, True), ("a" * 129, False),
    ("a" * 42 + "é", False), ("a" * 42 + " ", False), ("A-._~" * 10, True)])
def test_pkce_verifier_length_and_charset(browser, live, account, verifier, ok):
    """PKCE01 (RFC 7636 §4.1): 43 to 128 characters from [A-Za-z0-9-._~]."""
    params = _code(browser, live, code_challenge=s256(verifier), code_challenge_method="S256")
    response = _token(live, {"code": params["code"], "code_verifier": verifier})
    assert (response.status_code == 200) is ok


# -- client authentication ------------------------------------------------------------------------

def test_wrong_client_secret_is_401_invalid_client_json(browser, live, account):
    """OIDC06 (RFC 6749 §5.2): a wrong secret -> 401 invalid_client in JSON, WWW-Authenticate for Basic."""
    params = _code(browser, live)
    response = _token(live, {"code": params["code"]}, auth=("rp-basic", "wrong"))
    assert response.status_code == 401 and response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_method_is_refused(browser, live, account):
    """A client authenticates with its registered method only (rp-basic may not use client_secret_post)."""
    params = _code(browser, live)
    response = requests.post(live.endpoint("/oidc/token"), timeout=10, data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
        "client_id": "rp-basic", "client_secret": SECRETS["rp-basic"]})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("attempt", ["wrong secret", "unknown client", "client_id alone", "secret in the body"])
def test_a_client_that_fails_to_authenticate_gets_nothing_and_spends_nothing(browser, live, account, attempt):
    """RFC 6749 §3.2.1, §5.2 (OIDC06): whoever holds a confidential client's code without its credentials
    gets 401 invalid_client (JSON, not cached, WWW-Authenticate), no token; the code still works for its
    client afterwards (authentication comes before the code is read)."""
    code = _code(browser, live)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    auth = {"wrong secret": ("rp-basic", "wrong"), "unknown client": ("rp-nobody", SECRETS["rp-basic"])}.get(attempt)
    if attempt == "client_id alone":
        data["client_id"] = "rp-basic"
    if attempt == "secret in the body":
        data.update(client_id="rp-basic", client_secret=SECRETS["rp-basic"])
    refused = requests.post(live.endpoint("/oidc/token"), data=data, auth=auth, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert refused.headers["Cache-Control"] == "no-store" and refused.headers["Content-Type"] == "application/json"
    assert "access_token" not in refused.text and "id_token" not in refused.text
    assert _token(live, {"code": code}).status_code == 200


def test_a_refused_code_exchange_answers_json_that_is_not_cached(browser, live, account):
    """RFC 6749 §5.2: invalid_grant (an unknown code) and invalid_request (no code) as JSON with
    Cache-Control: no-store, Pragma: no-cache; no WWW-Authenticate (the client did authenticate)."""
    for data, error in (({"code": secrets.token_urlsafe(36)}, "invalid_grant"), ({}, "invalid_request")):
        response = _token(live, data)
        assert response.status_code == 400 and response.json()["error"] == error
        assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
        assert response.headers["Content-Type"] == "application/json" and "WWW-Authenticate" not in response.headers


def _assertion(client_key, audience, **claims):
    return private_key_jwt_sign(client_key, "rp-jwt", audience, claims=claims or None)


def test_private_key_jwt(browser, live, account, client_key):
    """OIDC Core §9, RFC 7523: private_key_jwt; aud = issuer accepted; a jti works once (SEC05)."""
    params = _code(browser, live, "rp-jwt")
    assertion = _assertion(client_key, live.issuer)
    data = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    response = requests.post(live.endpoint("/oidc/token"), data=data, timeout=10)
    assert response.status_code == 200, response.text
    replay = requests.post(live.endpoint("/oidc/token"), data=data, timeout=10)
    assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_client"


def test_private_key_jwt_refuses_none_and_hmac(browser, live, account, client_key):
    """SEC12: alg=none and HS256 (key confusion with the public key) assertions are refused."""
    params = _code(browser, live, "rp-jwt")
    now = int(time.time())
    claims = {"iss": "rp-jwt", "sub": "rp-jwt", "aud": live.endpoint("/oidc/token"), "exp": now + 60,
              "jti": secrets.token_urlsafe(8)}
    forged = [_hs256_with(client_key.as_pem(private=False), claims), _unsigned(claims)]
    for assertion in forged:
        response = requests.post(live.endpoint("/oidc/token"), timeout=10, data={
            "grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})
        assert response.json()["error"] == "invalid_client"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict) -> str:
    return f"{_b64(json.dumps({'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."


def _hs256_with(public_pem: bytes, claims: dict) -> str:
    """The classic key-confusion forgery: HMAC keyed with the public key's PEM."""
    signing_input = f"{_b64(json.dumps({'alg': 'HS256'}).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


# -- refresh tokens, expiry ---------------------------------------------------------------------------

def _refresh(live, token, auth=BASIC):
    return requests.post(live.endpoint("/oidc/token"), auth=auth, timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": token})


def test_refresh_token_reuse_revokes_the_family(browser, rp, live, account):
    """OIDC12 (RFC 9700 §4.14.2): replaying a spent refresh token revokes every token of the grant."""
    party = rp("rp-basic")
    _, first = sign_in_and_get_tokens(browser, party)
    second = _refresh(live, first["refresh_token"]).json()
    assert party.userinfo(second).status_code == 200
    replay = _refresh(live, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert party.userinfo(second).status_code == 401
    assert _refresh(live, second["refresh_token"]).json()["error"] == "invalid_grant"


def test_access_token_expires(browser, rp, live, account):
    """BCP06: a short-lived access token; past expires_in, UserInfo says 401 (injectable clock)."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    assert token["expires_in"] == 600
    live.provider.clock = lambda: time.time() + 601
    response = party.userinfo(token)
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_refresh_token_expires(browser, rp, live, account):
    """OIDC12: a refresh token past its lifetime -> invalid_grant."""
    _, token = sign_in_and_get_tokens(browser, rp("rp-basic"))
    live.provider.clock = lambda: time.time() + 43201
    assert _refresh(live, token["refresh_token"]).json()["error"] == "invalid_grant"


def test_code_expires_after_60_seconds(browser, live, account):
    """OIDC06: the code is short-lived (60 s)."""
    params = _code(browser, live)
    live.provider.clock = lambda: time.time() + 61
    assert _token(live, {"code": params["code"]}).json()["error"] == "invalid_grant"


def test_account_disabled_after_the_code_gets_no_tokens(browser, live, account):
    """The account is read again with the code (same script): disabled meanwhile -> invalid_grant."""
    params = _code(browser, live)
    live.app.extensions["gateway.directory"].disable(account.id)
    response = _token(live, {"code": params["code"]})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_a_secret_hashed_with_scrypt_before_still_authenticates(browser, live, account):
    """SEC11: clients files written before the HMAC-SHA256 scheme keep working (wrong secrets still fail)."""
    from gateway.oidc.credentials import hash_secret_scrypt

    clients = live.provider.clients
    clients["rp-basic"] = dataclasses.replace(clients["rp-basic"],
                                              secret_hash=hash_secret_scrypt(SECRETS["rp-basic"]))
    wrong = _token(live, {"code": _code(browser, live)["code"]}, auth=("rp-basic", SECRETS["rp-basic"] + "x"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    for _ in range(2):  # the second time from the worker's memory of verified secrets
        assert _token(live, {"code": _code(browser, live)["code"]}).status_code == 200


def test_a_used_nonce_is_refused_before_the_sign_in_pages(browser, live, account):
    """LIB03: a person who is not signed in is not sent through the sign-in pages for a replayed nonce."""
    from tests.oidc.conftest import Browser

    assert "code" in _code(browser, live, nonce="n-once")
    stranger = Browser(live)
    try:
        params = {"client_id": "rp-basic", "redirect_uri": CALLBACK, "response_type": "code",
                  "scope": "openid", "state": "st", "nonce": "n-once"}
        url = live.endpoint("/oidc/authorize?") + requests.compat.urlencode(params)
        target = stranger.go(url, email=None, stop=CALLBACK)
        assert isinstance(target, str) and query(target)["error"] == "invalid_request"
        assert stranger.login_pages == 0
    finally:
        stranger.close()


# -- revocation and introspection ----------------------------------------------------------------------

def _post(live, path, data, auth=BASIC):
    return requests.post(live.endpoint(path), data=data, auth=auth, timeout=10)


def test_revoking_an_access_token(browser, rp, live, account):
    """RFC 7009 §2.1: the token stops working; the refresh token still works."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    assert _post(live, "/oidc/revoke", {"token": token["access_token"]}).status_code == 200
    assert party.userinfo(token).status_code == 401
    assert _refresh(live, token["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_revokes_its_grant(browser, rp, live, account):
    """RFC 7009 §2.1: revoking the refresh token revokes the access tokens of the same grant."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    response = _post(live, "/oidc/revoke", {"token": token["refresh_token"],
                                            "token_type_hint": "refresh_token"})
    assert response.status_code == 200
    assert party.userinfo(token).status_code == 401
    assert _refresh(live, token["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_fine_and_another_clients_token_is_refused(browser, rp, live, account):
    """RFC 7009 §2.2: unknown tokens -> 200; a token of another client is not revoked."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    assert _post(live, "/oidc/revoke", {"token": "unknown"}).status_code == 200
    other = _post(live, "/oidc/revoke", {"token": token["access_token"]}, auth=OTHER)
    assert other.status_code == 400 and party.userinfo(token).status_code == 200


def test_introspection(browser, rp, live, account):
    """RFC 7662: own token active with its metadata; the API (introspection=true) sees every token;
    another client gets active=false; a revoked token is inactive."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    own = _post(live, "/oidc/introspect", {"token": token["access_token"]}).json()
    assert own["active"] is True and own["client_id"] == "rp-basic" and own["sub"] == "camille-martin"
    assert own["scope"] == "openid profile email"
    assert own["token_type"] == "Bearer" and own["iss"] == live.issuer
    api = _post(live, "/oidc/introspect", {"token": token["access_token"]}, auth=("api", SECRETS["api"]))
    api = api.json()
    assert api["active"] is True and api["exp"] > time.time()
    other = _post(live, "/oidc/introspect", {"token": token["access_token"]}, auth=OTHER)
    assert other.json() == {"active": False}
    _post(live, "/oidc/revoke", {"token": token["refresh_token"]})
    assert _post(live, "/oidc/introspect", {"token": token["access_token"]}).json() == {"active": False}


def test_introspection_needs_client_authentication(live):
    """RFC 7662 §2.1: unauthenticated -> 401 invalid_client."""
    response = requests.post(live.endpoint("/oidc/introspect"), data={"token": "x"}, timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_tokens_are_stored_hashed_with_ttls(browser, rp, live, account, redis_client):
    """SEC05, store rules: every oidc key has a TTL; no code or token value appears in Redis."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    keys = list(redis_client.scan_iter("gw:oidc:*"))
    assert keys and all(redis_client.ttl(k) > 0 for k in keys)
    dump = " ".join(k + str(redis_client.dump(k)) for k in keys)
    assert token["access_token"] not in dump and token["refresh_token"] not in dump


def test_a_code_exchange_over_plain_http_is_refused(browser, live, account):
    """RFC 6749 §3.2 (TLS required at the token endpoint; loopback http aside, as authlib allows): a code
    exchange that reached the gateway over http to another host -> 400 insecure_transport JSON, no token,
    and the code is not spent."""
    code = _code(browser, live)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    basic = "Basic " + base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()
    answer = live.app.test_client().post("/oidc/token", base_url="http://gateway.example.org", data=data,
                                         headers={"Authorization": basic})
    assert answer.status_code == 400 and answer.get_json() == {"error": "insecure_transport",
                                                               "error_description": "OAuth 2 MUST utilize https."}
    assert answer.headers["Cache-Control"] == "no-store"
    assert _token(live, {"code": code}).status_code == 200


def test_refresh_revocation_and_introspection_refuse_a_wrong_secret(browser, rp, live, account):
    """RFC 6749 §6, RFC 7009 §2.1, RFC 7662 §2.1: the same client authentication as the code exchange;
    a wrong secret -> 401 invalid_client and nothing happens to the tokens; a public client (no
    credentials) may not introspect."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    wrong = ("rp-basic", "wrong")
    assert _refresh(live, token["refresh_token"], auth=wrong).status_code == 401
    refused = _post(live, "/oidc/revoke", {"token": token["access_token"]}, auth=wrong)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    peek = requests.post(live.endpoint("/oidc/introspect"), timeout=10,
                         data={"token": token["access_token"], "client_id": "rp-public"})
    assert peek.status_code == 401 and peek.json()["error"] == "invalid_client"
    assert party.userinfo(token).status_code == 200
    assert _refresh(live, token["refresh_token"]).status_code == 200
