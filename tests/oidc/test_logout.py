"""RP-Initiated Logout 1.0 and Back-Channel Logout 1.0 (checklist LOGOUT01, LOGOUT03, LOGOUT04).

The relying party's back end is a real HTTP server (``rp_backend``); the
worker (the mail worker, which also listens on the ``backchannel`` queue) runs
in this process, in burst mode, as ``gateway mail-worker`` would.
"""
from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlencode

import requests
from joserfc import jwt

from gateway.web.login import LAST_EMAIL_COOKIE
from tests.fixtures_mail import run_mail_worker
from tests.oidc.conftest import PASSWORD, RP, query, sign_in_and_get_tokens

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGGED_OUT = f"{RP}/logged-out"


def _signed_in(browser, rp):
    party = rp("rp-basic")
    attempt, token = sign_in_and_get_tokens(browser, party)
    return party, token, party.verify(token["id_token"], attempt)


def _logout_url(live, **params):
    return live.endpoint("/oidc/logout?") + urlencode(params)


def _deliver(live, rp_backend, expected=1, timeout=5.0):
    deadline = time.monotonic() + timeout
    while len(rp_backend.tokens) < expected and time.monotonic() < deadline:
        run_mail_worker(live.app)
        if len(rp_backend.tokens) < expected:
            time.sleep(0.2)
    return rp_backend.tokens


def _check_logout_token(party, logout_token, id_claims):
    """LOGOUT03 (§2.4): signed (typ logout+jwt, kid); iss, aud, iat, exp, jti, events, sub, sid; no nonce."""
    header = json.loads(base64.urlsafe_b64decode(logout_token.split(".")[0] + "=="))
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256" and header["kid"]
    claims = dict(jwt.decode(logout_token, party.jwks(), algorithms=["RS256"]).claims)
    assert claims["iss"] == party.discovery["issuer"] and claims["aud"] == "rp-basic"
    assert claims["events"] == {EVENT: {}} and claims["jti"]
    assert claims["exp"] > claims["iat"] and id_claims["iat"] <= claims["iat"] <= time.time() + 1  # issued after the sign-in
    assert claims["sub"] == id_claims["sub"] and claims["sid"] == id_claims["sid"]
    assert "nonce" not in claims
    return claims


def test_backchannel_logout_after_the_logout_button(browser, rp, live, account, rp_backend):
    """LOGOUT03: the web logout button ends the session; the RP's back end gets a logout token;
    the RP's tokens are revoked with the session (OIDC Core §11)."""
    party, token, id_claims = _signed_in(browser, rp)
    page = browser.get("/logout")
    done = browser.submit("/logout", page=page)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login?logged_out=1")
    [logout_token] = _deliver(live, rp_backend)
    _check_logout_token(party, logout_token, id_claims)
    assert party.userinfo(token).status_code == 401
    refresh = requests.post(live.endpoint("/oidc/token"), auth=("rp-basic", "basic-secret-0123456789"),
                            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
                            timeout=10)
    assert refresh.json()["error"] == "invalid_grant"


def test_oidcc_backchannel_rp_initiated_logout(browser, rp, live, account, rp_backend):
    """LOGOUT01, LOGOUT03: id_token_hint + registered post_logout_redirect_uri + state -> logged out,
    redirected with state, back-channel token delivered; then prompt=none says login_required."""
    party, token, id_claims = _signed_in(browser, rp)
    url = _logout_url(live, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT, state="bye")
    target = browser.go(url, email=None)
    assert target == f"{LOGGED_OUT}?state=bye"
    [logout_token] = _deliver(live, rp_backend)
    _check_logout_token(party, logout_token, id_claims)
    attempt = party.authorization(prompt="none")
    assert party.callback(browser.go(attempt.url, email=None), attempt)["error"] == "login_required"


def test_oidcc_rp_initiated_logout_no_state(browser, rp, live, account):
    """LOGOUT01 (-no-state): redirected without a state parameter."""
    _, token, _ = _signed_in(browser, rp)
    assert browser.go(_logout_url(live, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT),
                      email=None) == LOGGED_OUT


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(browser, rp, live, account):
    """LOGOUT01 (-bad-post-logout-redirect-uri, -query-added-): logged out, but never redirected there."""
    for uri in ("https://evil.example/x", f"{LOGGED_OUT}?x=1"):
        _, token, _ = _signed_in(browser, rp)
        url = _logout_url(live, id_token_hint=token["id_token"], post_logout_redirect_uri=uri)
        page = browser.go(url, email=None)
        assert page.status_code == 200 and "Vous êtes déconnecté" in page.text
        assert browser.get("/account").status_code == 302


def test_oidcc_rp_initiated_logout_modified_id_token_hint(browser, rp, live, account):
    """LOGOUT01 (-modified-id-token-hint, -bad-id-token-hint, alg none): no redirect, not logged out."""
    _, token, _ = _signed_in(browser, rp)
    head, payload, signature = token["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{head}.{forged_payload}.{signature}"
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode() + f".{payload}."
    for hint in (tampered, unsigned, "garbage"):
        url = _logout_url(live, id_token_hint=hint, post_logout_redirect_uri=LOGGED_OUT, state="s")
        page = browser.go(url, email=None)
        assert page.status_code == 400 and "Location" not in page.headers
    assert browser.get("/account").status_code == 200


def test_oidcc_rp_initiated_logout_no_id_token_hint(browser, rp, live, account, rp_backend):
    """LOGOUT01 (-no-id-token-hint): the person is asked; confirming (with CSRF) logs out and, the URI being
    registered for client_id, redirects with state."""
    _signed_in(browser, rp)
    url = _logout_url(live, client_id="rp-basic", post_logout_redirect_uri=LOGGED_OUT, state="s2")
    page = browser.go(url, email=None)
    assert page.status_code == 200 and "Se déconnecter ?" in page.text and "rp-basic" in page.text
    assert browser.get("/account").status_code == 200  # nothing happened yet
    done = browser.submit("/oidc/logout", {"confirm": "1", "client_id": "rp-basic",
                                           "post_logout_redirect_uri": LOGGED_OUT, "state": "s2"}, page=page)
    # after our own form, a page moves on by itself (Refresh), so CSP form-action 'self' does not block it
    assert done.status_code == 200 and done.headers["Refresh"] == f"0;url={LOGGED_OUT}?state=s2"
    assert f'href="{LOGGED_OUT}?state=s2"' in done.text
    assert browser.get("/account").status_code == 302
    assert len(_deliver(live, rp_backend)) == 1


def test_oidcc_rp_initiated_logout_no_params(browser, rp, live, account):
    """LOGOUT01 (-no-params): a confirmation page; once confirmed, the sign-in page says "déconnecté"."""
    _signed_in(browser, rp)
    page = browser.get("/oidc/logout")
    assert page.status_code == 200 and "Se déconnecter ?" in page.text
    done = browser.submit("/oidc/logout", {"confirm": "1"}, page=page)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login?logged_out=1")
    landing = browser.get(done.headers["Location"])
    assert "Vous êtes déconnecté" in landing.text and 'name="email"' in landing.text
    assert browser.get("/account").status_code == 302


def test_logout_confirmation_needs_its_csrf_token(browser, rp, live, account):
    """SEC07: a forged confirmation (no CSRF token) logs nobody out."""
    _signed_in(browser, rp)
    forged = browser.post("/oidc/logout", {"confirm": "1"})
    assert forged.status_code == 400 and browser.get("/account").status_code == 200


def test_oidcc_rp_initiated_logout_only_state(browser, rp, live, account):
    """LOGOUT01 (-only-state): state alone asks the person and never redirects."""
    _signed_in(browser, rp)
    page = browser.go(_logout_url(live, state="only"), email=None)
    assert page.status_code == 200 and "Location" not in page.headers


def test_end_session_is_post_too(browser, rp, live, account):
    """LOGOUT01: end_session_endpoint accepts POST (form-encoded), cross-site (no CSRF token from the RP)."""
    _, token, _ = _signed_in(browser, rp)
    done = browser.post("/oidc/logout", {"id_token_hint": token["id_token"], "state": "p",
                                         "post_logout_redirect_uri": LOGGED_OUT})
    assert done.status_code == 302 and done.headers["Location"] == f"{LOGGED_OUT}?state=p"


def test_backchannel_delivery_is_retried(browser, rp, live, account, rp_backend):
    """LOGOUT03: the RP's back end fails once; the worker tries again after the retry interval."""
    rp_backend.statuses = [500]
    _signed_in(browser, rp)
    browser.submit("/logout", page=browser.get("/logout"))
    run_mail_worker(live.app)
    assert rp_backend.tokens == [] and rp_backend.statuses == []
    time.sleep(1.1)
    assert len(_deliver(live, rp_backend)) == 1


def test_logout_does_not_wait_for_the_rp(browser, rp, live, account, rp_backend):
    """LOGOUT03: the person's logout returns at once; delivery happens in the worker."""
    _signed_in(browser, rp)
    started = time.monotonic()
    browser.submit("/logout", page=browser.get("/logout"))
    assert time.monotonic() - started < 1.0 and rp_backend.tokens == []


def test_session_records_the_rp_as_a_party(browser, rp, live, account):
    """LOGOUT04: the identity core knows which RP took part in the SSO session (with its sid)."""
    _, _, id_claims = _signed_in(browser, rp)
    cookie = browser.http.cookies.get(live.app.extensions["gateway.settings"].sessions.cookie_name)
    with live.app.app_context():
        parties = live.app.extensions["gateway.parties"].of(cookie, "oidc")
    assert parties == {"rp-basic": {"sid": id_claims["sid"]}}


def test_rps_without_backchannel_uri_get_nothing(browser, rp, live, account, rp_backend):
    """LOGOUT03: only RPs that registered a backchannel_logout_uri are called."""
    party = rp("rp-post", auth="client_secret_post")
    sign_in_and_get_tokens(browser, party)
    browser.submit("/logout", page=browser.get("/logout"))
    run_mail_worker(live.app)
    assert rp_backend.tokens == []
    assert query(browser.go(party.authorization(prompt="none").url, email=None))["error"] == "login_required"


def test_a_code_is_worthless_once_the_session_has_ended(browser, rp, live, account):
    """OIDC Core §11, LOGOUT04: logout between the code and the token request -> invalid_grant."""
    party = rp("rp-basic")
    attempt = party.authorization()
    url = browser.go(attempt.url)
    browser.submit("/logout", page=browser.get("/logout"))
    auth = ("rp-basic", "basic-secret-0123456789")
    response = requests.post(live.endpoint("/oidc/token"), auth=auth, data={
        "grant_type": "authorization_code", "code": query(url)["code"], "redirect_uri": f"{RP}/cb",
        "code_verifier": attempt.verifier}, timeout=10)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_oversized_id_token_hint_is_refused(browser, rp, live, account):
    """SEC12, SEC13: JWTs the gateway reads are capped; an 8 KB+ hint is an error, and logs nobody out."""
    _signed_in(browser, rp)
    page = browser.get(_logout_url(live, id_token_hint="a" * 9000, post_logout_redirect_uri=LOGGED_OUT))
    assert page.status_code == 400 and browser.get("/account").status_code == 200


def test_signing_in_again_keeps_the_rp_for_logout(browser, rp, live, account, rp_backend):
    """LOGOUT03 after prompt=login: the new session id still knows the RP, so logout reaches it."""
    party, first, _ = _signed_in(browser, rp)
    attempt, again = sign_in_and_get_tokens(browser, party, prompt="login")
    id_claims = party.verify(again["id_token"], attempt)
    page = browser.get("/logout")
    browser.submit("/logout", page=page)
    tokens = _deliver(live, rp_backend)
    assert tokens, "no back-channel logout after signing in again"
    _check_logout_token(party, tokens[-1], id_claims)
    assert party.userinfo(first).status_code == 401 and party.userinfo(again).status_code == 401


def test_rp_initiated_logout_forgets_the_remembered_address(browser, rp, live, account):
    """A shared computer: an application's logout forgets the last address, as the logout button does."""
    signed_in = browser.sign_in(account.primary_email, remember=True)
    assert signed_in.status_code == 302 and browser.http.cookies.get(LAST_EMAIL_COOKIE)
    assert f'value="{account.primary_email}"' in browser.get("/login?force=1").text
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    url = _logout_url(live, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT, state="bye")
    assert browser.go(url, email=None) == f"{LOGGED_OUT}?state=bye"
    assert browser.http.cookies.get(LAST_EMAIL_COOKIE) is None
    assert f'value="{account.primary_email}"' not in browser.get("/login").text
