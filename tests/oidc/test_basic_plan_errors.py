"""oidcc-basic-certification-test-plan: modules that expect a refusal (checklist L, OIDC02-OIDC06, OIDC11).

Until the client and its redirect URI are validated, a refusal is a page of
ours and never a redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11; OIDC02, BCP07);
afterwards, the error goes back to the client with state and iss (OIDC04).
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests

from tests.oidc.conftest import CALLBACK, RP, SECRETS, code_from, query, sign_in_and_get_tokens


ASK = {"client_id": "rp-basic", "redirect_uri": CALLBACK, "response_type": "code", "scope": "openid"}


def _authorize(live, **params):
    """An authorization request: ASK with ``params`` over it (None drops a parameter)."""
    merged = {k: v for k, v in {**ASK, **params}.items() if v is not None}
    return requests.get(live.endpoint("/oidc/authorize"), params=merged, allow_redirects=False, timeout=10)


def _no_redirect(response):
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Demande de connexion impossible" in response.text  # our French page


def _exchange(party, code, verifier=None, client=("rp-basic", SECRETS["rp-basic"])):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    if verifier:
        data["code_verifier"] = verifier
    return requests.post(party.discovery["token_endpoint"], auth=client, data=data, timeout=10)


def test_oidcc_response_type_missing(live, account):
    """CONF02 (OIDC03): no response_type -> an error redirected to the validated redirect URI."""
    response = _authorize(live, response_type=None, state="s1")
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["error"] in ("invalid_request", "unsupported_response_type")
    assert params["error_description"] == "Missing 'response_type' in request."  # not "'None'"
    assert params["state"] == "s1" and params["iss"] == live.issuer and "code" not in params


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_implicit_and_hybrid_are_not_offered(live, response_type):
    """OIDC03, BCP02: only code; the others get unsupported_response_type (with iss)."""
    response = _authorize(live, response_type=response_type)
    params = query(response.headers["Location"])
    assert params["error"] == "unsupported_response_type" and params["iss"] == live.issuer


def test_password_grant_is_not_offered(live):
    """BCP02: no Resource Owner Password Credentials grant."""
    response = requests.post(live.endpoint("/oidc/token"), auth=("rp-basic", SECRETS["rp-basic"]), timeout=10,
                             data={"grant_type": "password", "username": "x", "password": "y"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_oidcc_ensure_registered_redirect_uri(live):
    """CONF22 (OIDC02, BCP07): an unregistered redirect_uri -> our error page, no redirect."""
    _no_redirect(_authorize(live, redirect_uri="https://evil.example/cb", state="s"))


def test_unknown_client_gets_a_page_not_a_redirect(live):
    """OIDC02: an unknown client_id -> error page, no redirect."""
    _no_redirect(_authorize(live, client_id="nobody"))


def test_oidcc_ensure_redirect_uri_in_authorization_request(live):
    """CONF31 / OIDC02: a client with two redirect URIs and none sent -> error page (always required)."""
    _no_redirect(_authorize(live, redirect_uri=None, state="s"))


@pytest.mark.parametrize("uri", [f"{RP}/cb?foo=baz", f"{RP}/cb?foo=bar&x=1", f"{RP}/CB?foo=bar",
                                 f"{RP}/cb?foo=bar#f"])
def test_oidcc_redirect_uri_query_mismatch_or_added(live, uri):
    """CONF31 (OIDC02, BCP01): simple string comparison; a changed or added query is a mismatch."""
    _no_redirect(_authorize(live, client_id="rp-query", redirect_uri=uri))


def test_oidcc_redirect_uri_query_added_to_a_uri_without_query(live):
    """CONF31 (OIDC02): a query added to a URI registered without one is a mismatch."""
    _no_redirect(_authorize(live, redirect_uri=CALLBACK + "?x=1"))


def test_oidcc_redirect_uri_query_ok(browser, rp, account):
    """CONF31: the registered query is kept and the code is appended to it."""
    party = rp("rp-query", redirect_uri=f"{RP}/cb?foo=bar")
    attempt = party.authorization()
    url = browser.go(attempt.url)
    assert url.startswith(f"{RP}/cb?foo=bar&") and query(url)["code"]


def test_openid_scope_is_required(live):
    """Only OpenID Connect requests are served: no openid -> invalid_scope back to the client."""
    response = _authorize(live, scope="profile")
    assert query(response.headers["Location"])["error"] == "invalid_scope"


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(live):
    """CONF25 (OIDC11): a request object is refused with request_not_supported, never ignored."""
    response = _authorize(live, state="s", request="eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.")
    params = query(response.headers["Location"])
    assert params["error"] == "request_not_supported"
    assert params["state"] == "s" and params["iss"] == live.issuer


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(live):
    """CONF25 (OIDC11): request_uri is refused with request_uri_not_supported."""
    response = _authorize(live, request_uri="https://rp.example.org/request.jwt")
    assert query(response.headers["Location"])["error"] == "request_uri_not_supported"


def test_oidcc_ensure_request_object_with_redirect_uri(live):
    """CONF27 (OIDC11): redirect_uri only inside a request object -> an error is shown, no redirect."""
    _no_redirect(_authorize(live, redirect_uri=None,
                            request="eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwifQ."))


def test_oidcc_idtoken_unsigned(live):
    """CONF04 (OIDC07): alg=none is never offered, and registering it is refused."""
    meta = requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10).json()
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    response = requests.post(meta["registration_endpoint"], json={
        "redirect_uris": ["https://rp.example.org/cb"], "id_token_signed_response_alg": "none"}, timeout=10)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"


def test_oidcc_codereuse(browser, rp, account):
    """CONF20 (OIDC06, SEC05): the second use of a code -> invalid_grant."""
    party = rp("rp-basic")
    attempt = party.authorization()
    code = code_from(browser.go(attempt.url))
    assert _exchange(party, code, attempt.verifier).status_code == 200
    again = _exchange(party, code, attempt.verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_oidcc_codereuse_30seconds(browser, rp, account, live):
    """CONF21 (OIDC06, LIB03): 30 s later, reuse -> invalid_grant; the first exchange's tokens are revoked."""
    party = rp("rp-basic")
    attempt = party.authorization()
    code = code_from(browser.go(attempt.url))
    first = _exchange(party, code, attempt.verifier).json()
    assert party.userinfo(first).status_code == 200
    live.provider.clock = lambda: __import__("time").time() + 30
    assert _exchange(party, code, attempt.verifier).json()["error"] == "invalid_grant"
    assert party.userinfo(first).status_code == 401
    refresh = requests.post(party.discovery["token_endpoint"], auth=("rp-basic", SECRETS["rp-basic"]),
                            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                            timeout=10)
    assert refresh.json()["error"] == "invalid_grant"


def test_code_of_another_client_is_refused_and_kept_for_its_owner(browser, rp, account):
    """OIDC06: a code issued to client A presented by client B -> invalid_grant; A can still use it."""
    party = rp("rp-basic")
    attempt = party.authorization()
    code = code_from(browser.go(attempt.url))
    stolen = _exchange(party, code, attempt.verifier, client=("rp-other", SECRETS["rp-other"]))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert _exchange(party, code, attempt.verifier).status_code == 200


def test_oidcc_refresh_token(browser, rp, account):
    """CONF28 (OIDC12): refresh works, rotates, and is bound to its client."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    endpoint = party.discovery["token_endpoint"]
    data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    other = requests.post(endpoint, auth=("rp-other", SECRETS["rp-other"]), data=data, timeout=10)
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    fresh = requests.post(endpoint, auth=("rp-basic", SECRETS["rp-basic"]), data=data, timeout=10)
    assert fresh.status_code == 200 and fresh.headers["Cache-Control"] == "no-store"
    body = fresh.json()
    assert body["access_token"] != token["access_token"] and body["refresh_token"] != token["refresh_token"]
    assert party.userinfo(body).json()["sub"] == "camille-martin"


def test_refresh_with_a_narrower_scope(browser, rp, account):
    """RFC 6749 §6: a refresh may ask for less, never for more."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party, scope="openid profile email")
    endpoint, auth = party.discovery["token_endpoint"], ("rp-basic", SECRETS["rp-basic"])
    wider = requests.post(endpoint, auth=auth, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"], "scope": "openid eduperson"})
    assert wider.json()["error"] == "invalid_scope"
    narrower = requests.post(endpoint, auth=auth, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"], "scope": "openid"})
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid"


def test_invalid_claims_parameter_is_an_error_for_the_client(live):
    """OIDC Core §5.5: a claims parameter that is not JSON -> invalid_request, redirected."""
    response = _authorize(live, claims="{not json")
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_error_page_escapes_what_the_client_sent(live):
    """SEC06: nothing the client sends is reflected unescaped on our error page."""
    response = requests.get(live.endpoint("/oidc/authorize?") + urlencode({
        "client_id": "<script>x</script>", "redirect_uri": CALLBACK, "response_type": "code"}), timeout=10)
    assert response.status_code == 400 and "<script>x" not in response.text


@pytest.mark.parametrize("name, second", [("redirect_uri", "https://evil.example/cb"), ("client_id", "rp-other"),
                                          ("response_type", "token"), ("scope", "openid email"), ("state", "s2")])
def test_a_repeated_parameter_gets_a_page_not_a_redirect(live, name, second):
    """RFC 6749 §3.1: a parameter sent twice (a second redirect_uri, for one) -> our page, never a
    redirect anywhere, no code."""
    params = [*{**ASK, "state": "s1"}.items(), (name, second)]
    response = requests.get(live.endpoint("/oidc/authorize"), params=params, allow_redirects=False, timeout=10)
    _no_redirect(response)
    assert "invalid_request" in response.text and "code=" not in response.text


@pytest.mark.parametrize("params", [
    {"code_challenge": "short", "code_challenge_method": "S256"},  # RFC 7636 §4.2: 43 to 128 characters
    {"code_challenge_method": "S256"},  # a method without its challenge
    {"prompt": "none login"},  # OIDC Core §3.1.2.1: none with another value
])
def test_a_malformed_pkce_or_prompt_goes_back_to_the_client_with_no_code(browser, live, account, params):
    """RFC 7636 §4.4.1, OIDC Core §3.1.2.6: invalid_request back to the (validated) redirect URI with
    state and iss, for a signed-in person too; no code is issued."""
    browser.sign_in()
    location = browser.go(live.endpoint("/oidc/authorize?") + urlencode({**ASK, "state": "s1", **params}),
                          stop=CALLBACK)
    answer = query(location)
    assert answer["error"] == "invalid_request" and answer["state"] == "s1" and answer["iss"] == live.issuer
    assert "code" not in answer


def test_the_authorization_endpoint_refuses_to_work_without_tls(oidc_config, redis_client):
    """RFC 6749 §3.1 (TLS at the authorization endpoint, loopback http aside): a gateway whose public URL
    is plain http on another host answers our page (insecure_transport), never a redirect with a code."""
    from tests.conftest import make_app

    app = make_app({**oidc_config, "public_url": "http://gateway.example.org"})
    response = app.test_client().get("/oidc/authorize", base_url="http://gateway.example.org",
                                     query_string={**ASK, "state": "s1"})
    assert response.status_code == 400 and "Location" not in response.headers
    assert "insecure_transport" in response.get_data(as_text=True)
