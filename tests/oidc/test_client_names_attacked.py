"""An application's name as an attacker would choose it: registered with bidi overrides, invisible or
control characters, very long, or not text; or published in SP metadata (the SAML side: tests/saml)."""
from __future__ import annotations

from html import unescape
from urllib.parse import urlsplit

import pytest
import requests

from tests.oidc.conftest import RelyingParty
from tests.oidc.test_registration import METADATA, NEW_CB

SPOOFS = {
    "bidi": "UNESS \u202eeértnoc\u202c",
    "zero-width": "UNESS\u200b Formation",
    "control": "UNESS\x07\x1b[2J Formation",
    "newline": "UNESS\u2028Vous êtes déconnecté",
    "long": "Vous êtes déconnecté. Saisissez à nouveau votre mot de passe. " * 20,
    "not-text": ["UNESS", "Formation"],
}


def register(live, name) -> requests.Response:
    return requests.post(live.endpoint("/oidc/register"), json={**METADATA, "client_name": name}, timeout=10)


@pytest.mark.parametrize("name", SPOOFS.values(), ids=SPOOFS.keys())
def test_a_misleading_client_name_is_refused_at_registration(live, name):
    response = register(live, name)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert "client_name" in response.json()["error_description"]


def test_an_ordinary_name_with_accents_is_registered_and_shown(live, browser):
    body = register(live, "Cas cliniques — Santé (Île-de-France)").json()
    party = RelyingParty(live, body["client_id"], body["client_secret"], redirect_uri=NEW_CB)
    try:
        sent = browser.get(party.authorization().url)
        page = browser.get(sent.headers["Location"])
        assert "Vous vous connectez à « Cas cliniques — Santé (Île-de-France) »" in unescape(page.text)
    finally:
        party.close()


def test_a_name_stored_before_the_rule_is_shown_cleaned_and_short(live, browser):
    """A client registered before names were checked: the page shows its visible characters only."""
    body = register(live, "Appli").json()
    store = live.app.extensions["gateway.store"].redis
    name = f"gw:oidc:client:{body['client_id']}"
    stored = store.get(name)
    store.set(name, stored.replace('"Appli"', '"UNESS \\u202eeértnoc\\u202c ' + "x" * 300 + '"'),
              keepttl=True)
    party = RelyingParty(live, body["client_id"], body["client_secret"], redirect_uri=NEW_CB)
    try:
        sent = browser.get(party.authorization().url)
        assert urlsplit(sent.headers["Location"]).path == "/login"
        page = unescape(browser.get(sent.headers["Location"]).text)
        assert "\u202e" not in page and "x" * 101 not in page
        assert "Vous vous connectez à « UNESS eértnoc xxx" in page and "x…" in page
    finally:
        party.close()
