"""oidcc-basic-certification-test-plan: prompt, max_age and the hints (checklist OIDC05, CONF10-CONF18).

A sign-in page shown to the person is counted by the browser fixture
(``browser.login_pages``); "no UI" means that count did not move. Time moves
with time-machine (the server runs in this process, so its clock moves too).
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import time_machine

from tests.oidc.conftest import EMAIL, query, sign_in_and_get_tokens


def _first_sign_in(browser, party):
    attempt, token = sign_in_and_get_tokens(browser, party)
    return party.verify(token["id_token"], attempt)


def _later(seconds: int) -> time_machine.travel:
    return time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds), tick=True)


def test_oidcc_prompt_login(browser, rp, account):
    """CONF10 (OIDC05): prompt=login asks for the password again; auth_time2 > auth_time1."""
    party = rp("rp-basic")
    first = _first_sign_in(browser, party)
    with _later(5):
        attempt, token = sign_in_and_get_tokens(browser, party, prompt="login")
        second = party.verify(token["id_token"], attempt)
    assert browser.login_pages == 2
    assert second["auth_time"] > first["auth_time"] and second["sub"] == first["sub"]


def test_oidcc_prompt_none_not_logged_in(browser, rp, account):
    """CONF11 (OIDC05): no session + prompt=none -> error=login_required to the client, no page shown."""
    party = rp("rp-basic")
    attempt = party.authorization(prompt="none")
    url = browser.go(attempt.url, email=None)
    params = party.callback(url, attempt)  # state and iss present
    assert params["error"] == "login_required" and "code" not in params
    assert browser.login_pages == 0 and len(browser.history) == 1


def test_oidcc_prompt_none_logged_in(browser, rp, account):
    """CONF12 (OIDC05): signed in + prompt=none -> silent success; sub and auth_time unchanged."""
    party = rp("rp-basic")
    first = _first_sign_in(browser, party)
    attempt, token = sign_in_and_get_tokens(browser, party, prompt="none")
    second = party.verify(token["id_token"], attempt)
    assert browser.login_pages == 1
    assert (second["sub"], second["auth_time"]) == (first["sub"], first["auth_time"])


def test_prompt_none_with_an_expired_max_age_is_login_required(browser, rp, account):
    """OIDC05: prompt=none never shows a page, even when max_age asks for a new sign-in."""
    party = rp("rp-basic")
    _first_sign_in(browser, party)
    with _later(30):
        attempt = party.authorization(prompt="none", max_age="10")
        params = party.callback(browser.go(attempt.url, email=None), attempt)
    assert params["error"] == "login_required" and browser.login_pages == 1


def test_oidcc_max_age_1(browser, rp, account):
    """CONF13 (OIDC05, OIDC07): after more than 1 s, max_age=1 asks again; auth_time is present and newer."""
    party = rp("rp-basic")
    first = _first_sign_in(browser, party)
    with _later(5):
        attempt, token = sign_in_and_get_tokens(browser, party, max_age="1")
        second = party.verify(token["id_token"], attempt)
    assert browser.login_pages == 2 and second["auth_time"] > first["auth_time"]


def test_oidcc_max_age_10000(browser, rp, account):
    """CONF14 (OIDC05, OIDC07): max_age=10000 -> no new sign-in; auth_time present and unchanged."""
    party = rp("rp-basic")
    first = _first_sign_in(browser, party)
    attempt, token = sign_in_and_get_tokens(browser, party, max_age="10000")
    second = party.verify(token["id_token"], attempt)
    assert browser.login_pages == 1 and second["auth_time"] == first["auth_time"]


def test_oidcc_id_token_hint(browser, rp, account):
    """CONF16 (OIDC05): prompt=none with the first ID token as hint -> silent success, same sub."""
    party = rp("rp-basic")
    attempt, token = sign_in_and_get_tokens(browser, party)
    first = party.verify(token["id_token"], attempt)
    again, token2 = sign_in_and_get_tokens(browser, party, prompt="none", id_token_hint=token["id_token"])
    assert party.verify(token2["id_token"], again)["sub"] == first["sub"] and browser.login_pages == 1


def test_id_token_hint_for_someone_else_needs_a_new_sign_in(browser, rp, account, live):
    """OIDC05: prompt=none with the hint of another person -> login_required, never that person's code."""
    party = rp("rp-basic")
    _first_sign_in(browser, party)
    forged = live.provider.sign({"iss": live.issuer, "sub": "someone-else", "aud": "rp-basic",
                                 "iat": 0, "exp": 1}, "RS256")
    attempt = party.authorization(prompt="none", id_token_hint=forged)
    assert party.callback(browser.go(attempt.url, email=None), attempt)["error"] == "login_required"


def test_a_broken_id_token_hint_causes_no_error(browser, rp, account):
    """OIDC05 (§15.1): id_token_hint must never cause an error; an unverifiable one is ignored."""
    party = rp("rp-basic")
    _first_sign_in(browser, party)
    attempt, token = sign_in_and_get_tokens(browser, party, id_token_hint="not.a.jwt")
    assert token["id_token"]


def test_oidcc_login_hint(browser, rp, account):
    """CONF17 (OIDC05): login_hint causes no error and prefills the address on the sign-in page."""
    party = rp("rp-basic")
    attempt = party.authorization(login_hint=EMAIL)
    page = browser.go(attempt.url, email=None)
    assert page.status_code == 200
    assert re.search(rf'name="email"[^>]*value="{re.escape(EMAIL)}"', page.text) or \
        re.search(rf'value="{re.escape(EMAIL)}"[^>]*name="email"', page.text)
    url = browser.go(browser.sign_in(start=page).headers["Location"])
    assert party.token(url, attempt)["id_token"]


def test_oidcc_ui_locales(browser, rp, account):
    """CONF18 (OIDC05): ui_locales causes no error; the pages stay in French."""
    party = rp("rp-basic")
    attempt = party.authorization(ui_locales="fr-FR fr")
    page = browser.go(attempt.url, email=None)
    assert page.status_code == 200 and "Connexion à UNESS" in page.text
    url = browser.go(browser.sign_in(start=page).headers["Location"])
    assert party.token(url, attempt)["id_token"]


def test_oidcc_claims_locales(browser, rp, account):
    """CONF18 (OIDC05): claims_locales causes no error."""
    _, token = sign_in_and_get_tokens(browser, rp("rp-basic"), claims_locales="fr")
    assert token["id_token"]


def test_an_answered_request_cannot_be_resumed_twice(browser, rp, account):
    """The pending request kept during sign-in is single use: replaying its resume URL shows a page."""
    party = rp("rp-basic")
    attempt = party.authorization()
    url = browser.go(attempt.url)
    assert query(url)["code"]
    resume = next(r.url for r in browser.history if urlsplit(r.url).path.startswith("/oidc/authorize/"))
    again = browser.get(resume)
    assert again.status_code == 400 and "Location" not in again.headers


def test_a_nonce_is_answered_once(browser, rp, account):
    """LIB03: OpenIDCode.exists_nonce refuses a nonce this client already used (replay)."""
    party = rp("rp-basic")
    first = party.authorization()
    assert "code" in query(browser.go(first.url))
    url = first.url.replace(f"state={first.state}", "state=again")  # the same nonce again
    params = query(browser.go(url))
    assert params["error"] == "invalid_request" and "code" not in params


def test_a_replayed_nonce_goes_back_with_its_state_and_iss(browser, rp, live, account):
    """LIB03, RFC 9207 §2 (OIDC04): the error of a replayed nonce (found as the code is issued) goes back to
    the client with the request's state and the issuer, and no code."""
    party = rp("rp-basic")
    first = party.authorization()
    assert "code" in query(browser.go(first.url))
    params = query(browser.go(first.url.replace(f"state={first.state}", "state=again")))
    assert params == {"error": "invalid_request", "error_description": "This nonce was already used.",
                      "state": "again", "iss": live.issuer}


def test_pages_on_the_way_protect_the_code(browser, rp, account):
    """BCP04, BCP05: the page that carries the code back is not framable, not cached, sends no Referer."""
    party = rp("rp-basic")
    browser.go(party.authorization().url)
    page = next(r for r in browser.history if "Refresh" in r.headers)
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in \
        page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
