"""The code flow and RP-Initiated Logout in a real browser (headless system Chromium, Playwright).

A real browser enforces what ``requests`` does not: cookies' SameSite rules,
the Content-Security-Policy of the sign-in pages along the redirect chain,
and the form submissions. Skipped where Chromium or Playwright is missing.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.e2e.conftest import page  # noqa: F401  the headless Chromium fixture
from tests.oidc.conftest import EMAIL, PASSWORD, RelyingParty


def test_code_flow_and_logout_in_chromium(live, account, rp_backend, page):  # noqa: F811
    """CONF01 and LOGOUT01 as a person lives them: sign in, land on the RP with a code, log out."""
    callback = rp_backend.url.replace("/backchannel-logout", "/cb")
    party = RelyingParty(live, "rp-browser", "basic-secret-0123456789", redirect_uri=callback)
    try:
        attempt = party.authorization()
        page.goto(attempt.url)
        page.get_by_label("Adresse email").fill(EMAIL)
        page.get_by_role("button", name="Continuer").click()
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(re.compile(r"/cb\?"))
        params = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
        assert params["state"] == attempt.state and params["iss"] == live.issuer
        token = party.token(page.url, attempt)
        assert party.verify(token["id_token"], attempt)["sub"] == account.id
        bye = rp_backend.url.replace("/backchannel-logout", "/bye")
        page.goto(live.endpoint("/oidc/logout?") + urlencode({
            "id_token_hint": token["id_token"], "post_logout_redirect_uri": bye, "state": "x"}))
        page.wait_for_url(re.compile(r"/bye\?state=x$"))
        page.goto(live.endpoint("/account"))
        assert urlsplit(page.url).path == "/login"
    finally:
        party.close()


def test_confirmed_logout_reaches_the_rp_in_chromium(live, account, rp_backend, page):  # noqa: F811
    """LOGOUT01 without id_token_hint: the person confirms on our page, then lands on the RP's page."""
    callback = rp_backend.url.replace("/backchannel-logout", "/cb")
    party = RelyingParty(live, "rp-browser", "basic-secret-0123456789", redirect_uri=callback)
    try:
        page.goto(party.authorization().url)
        page.get_by_label("Adresse email").fill(EMAIL)
        page.get_by_role("button", name="Continuer").click()
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(re.compile(r"/cb\?"))
    finally:
        party.close()
    bye = rp_backend.url.replace("/backchannel-logout", "/bye")
    page.goto(live.endpoint("/oidc/logout?") + urlencode({
        "client_id": "rp-browser", "post_logout_redirect_uri": bye, "state": "y"}))
    page.get_by_role("button", name="Se déconnecter").last.click()
    page.wait_for_url(re.compile(r"/bye\?state=y$"))
    assert "/bye?state=y" in rp_backend.visits


def test_ambiguous_redirect_uri_never_takes_chromium_elsewhere(live, account, page):  # noqa: F811
    """Issue 9.1 in a real browser: the victim is signed in and follows the attacker's link, whose
    redirect_uri Python reads as loopback and Chromium as evil.example. The gateway answers with its
    French page, and Chromium never asks for anything but the gateway."""
    from tests.oidc.test_redirect_uris import ATTACKS, authorize_url

    elsewhere: list[str] = []

    def only_the_gateway(route):  # every request the page makes, redirects and Refresh included
        if not route.request.url.startswith(live.url + "/"):
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_the_gateway)
    page.goto(live.endpoint("/login"))
    page.get_by_label("Adresse email").fill(EMAIL)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r"/account$"))
    for uri in ATTACKS[:4]:
        answer = page.goto(live.endpoint(authorize_url(uri)))
        assert answer is not None and answer.status == 400  # a redirect would have been followed
        assert "refresh" not in answer.headers and page.url.startswith(live.url + "/oidc/authorize?")
        assert "Demande de connexion impossible" in page.content()
    assert elsewhere == []
