"""RP-Initiated Logout tells the SAML SPs of the session too (front-channel chain, then the RP).

One browser signs in to a real pysaml2 SP (HTTP-Redirect single logout) and to a
real OIDC relying party (authlib), on the gateway served live; the RP then sends
the person to ``end_session_endpoint``.
"""
from __future__ import annotations

import datetime
import secrets
from urllib.parse import quote_plus, urlencode

import pytest
import requests
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from tests.helpers.forms import page_form
from tests.oidc.conftest import EMAIL, RP, query
from tests.oidc.test_logout import LOGGED_OUT, _check_logout_token, _deliver, _logout_url, _signed_in
from tests.saml.conftest import NS, FakeSP, SpSpec, deflate, make_key, sign_query, sp_metadata
from tests.saml.test_slo_backchannel import audits  # noqa: F401 - a fixture

SP_SLO = "https://sp.example.org/Shibboleth.sso/SLO/Redirect"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


@pytest.fixture(scope="module")
def sp_spec(tmp_path_factory) -> SpSpec:
    key = make_key(tmp_path_factory.mktemp("sp-keys"), "slo-sp")
    return SpSpec("https://sp.example.org/shibboleth", (
        (BINDING_HTTP_POST, "https://sp.example.org/Shibboleth.sso/SAML2/POST", 0, None),), key)


@pytest.fixture
def oidc_config(oidc_config, sp_spec, tmp_path):
    """The OIDC test gateway, with the SP's metadata (a Redirect SingleLogoutService) for its IdP."""
    folder = tmp_path / "sp-metadata"
    folder.mkdir()
    service = f'<md:SingleLogoutService Binding="{BINDING_HTTP_REDIRECT}" Location="{SP_SLO}"/>'
    acs = "<md:AssertionConsumerService"
    (folder / "sp.xml").write_text(sp_metadata(sp_spec).replace(acs, service + acs, 1))
    return {**oidc_config, "saml": {**oidc_config.get("saml", {}), "sp_metadata_dir": str(folder)}}


class SamlParty:
    """The pysaml2 SP, and the NameID and SessionIndex the gateway gave it."""

    def __init__(self, live, spec: SpSpec) -> None:
        idp_metadata = requests.get(live.endpoint("/saml/metadata"), timeout=10).text
        endpoints = {"assertion_consumer_service": [(spec.acs_url, BINDING_HTTP_POST)],
                     "single_logout_service": [(SP_SLO, BINDING_HTTP_REDIRECT)]}
        self.live, self.spec = live, spec
        self.sp = FakeSP(spec, idp_metadata, sso_url=live.endpoint("/saml/sso"), endpoints=endpoints)
        self.name_id = self.session_index = None

    def sign_in(self, browser) -> None:
        request_id, how = self.sp.request()
        page = browser.go(how["url"], email=EMAIL)
        assert page.status_code == 200, page.text[:500]
        result = self.sp.parse(page_form(page, field="SAMLResponse").fields["SAMLResponse"], request_id)
        self.name_id, self.session_index = result.name_id, result.session_info()["session_index"]

    def receive_logout(self, url: str):
        """The gateway's LogoutRequest, checked by pysaml2 (IdP signature, NameID): its message."""
        params = query(url)
        parsed = self.sp.client.parse_logout_request(
            params["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=params["RelayState"],
            sigalg=params["SigAlg"], signature=params["Signature"])
        return parsed.message, params["RelayState"]

    def answer(self, in_response_to: str, relay_state: str) -> str:
        """A signed Redirect LogoutResponse (Success) to the gateway, as Shibboleth SP sends it."""
        slo = self.live.endpoint("/saml/slo")
        instant = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        xml = (f'<samlp:LogoutResponse xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
               f'ID="_r{secrets.token_hex(8)}" Version="2.0" IssueInstant="{instant}" Destination="{slo}" '
               f'InResponseTo="{in_response_to}"><saml:Issuer>{self.spec.entity_id}</saml:Issuer>'
               f'<samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status></samlp:LogoutResponse>')
        signed = sign_query(f"SAMLResponse={quote_plus(deflate(xml))}&RelayState={quote_plus(relay_state)}",
                            self.spec.key.key_pem)
        return f"{slo}?{signed}"


@pytest.fixture
def saml_party(live, sp_spec) -> SamlParty:
    return SamlParty(live, sp_spec)


def _signed_in_both(browser, rp, saml_party):
    saml_party.sign_in(browser)
    return _signed_in(browser, rp)


def test_rp_initiated_logout_takes_the_browser_through_the_saml_sps_then_to_the_rp(
        browser, rp, live, account, rp_backend, saml_party, audits):
    """The SP gets its LogoutRequest (its exact NameID and SessionIndex); its answer leads on to the
    RP's post_logout_redirect_uri with state; the RP's back end gets its Logout Token."""
    party, token, id_claims = _signed_in_both(browser, rp, saml_party)
    url = _logout_url(live, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT, state="bye")
    at_sp = browser.go(url, stop=SP_SLO, email=None)
    assert isinstance(at_sp, str), getattr(at_sp, "text", "")[:500]
    assert browser.get("/account").status_code == 302  # the session ended before the chain started
    message, relay_state = saml_party.receive_logout(at_sp)
    assert message.name_id.text == saml_party.name_id.text
    assert message.name_id.format == saml_party.name_id.format
    assert message.name_id.sp_name_qualifier == saml_party.name_id.sp_name_qualifier
    assert [index.text for index in message.session_index] == [saml_party.session_index]
    assert browser.go(saml_party.answer(message.id, relay_state), email=None) == f"{LOGGED_OUT}?state=bye"
    sp = saml_party.spec.entity_id
    events = [(r.getMessage(), getattr(r, "sp", None)) for r in audits
              if r.getMessage().startswith("saml.slo.")]
    assert events == [("saml.slo.sent", sp), ("saml.slo.answered", sp), ("saml.slo.completed", None)]
    [logout_token] = _deliver(live, rp_backend)
    _check_logout_token(party, logout_token, id_claims)
    assert party.userinfo(token).status_code == 401


def test_an_sp_that_does_not_answer_does_not_keep_the_person_from_the_rp(
        browser, rp, live, account, saml_party):
    """The wait page's "Continuer" (or its timeout) moves on to the RP, state kept."""
    _, token, _ = _signed_in_both(browser, rp, saml_party)
    url = _logout_url(live, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT, state="s1")
    _, relay_state = saml_party.receive_logout(browser.go(url, stop=SP_SLO, email=None))
    waiting = browser.get("/saml/slo/chain?" + urlencode({"token": relay_state}))
    assert waiting.status_code == 200 and "Refresh" in waiting.headers
    skipped = browser.get("/saml/slo/chain?" + urlencode({"token": relay_state, "skip": 1}))
    assert skipped.status_code == 302 and skipped.headers["Location"] == f"{LOGGED_OUT}?state=s1"


def test_confirmed_logout_without_hint_goes_through_the_saml_sps(browser, rp, live, account, saml_party):
    """Without id_token_hint the person confirms first; the page after the form starts the chain
    (a new navigation, as CSP form-action requires), and the chain ends at the RP."""
    _signed_in_both(browser, rp, saml_party)
    url = _logout_url(live, client_id="rp-basic", post_logout_redirect_uri=LOGGED_OUT, state="s2")
    page = browser.go(url, email=None)
    assert page.status_code == 200 and "Se déconnecter ?" in page.text
    done = browser.submit("/oidc/logout", {"confirm": "1", "client_id": "rp-basic",
                                           "post_logout_redirect_uri": LOGGED_OUT, "state": "s2"}, page=page)
    assert done.status_code == 200 and done.headers["Refresh"].startswith("0;url=/saml/slo/chain?token=")
    message, relay_state = saml_party.receive_logout(
        browser.go(done.headers["Refresh"].split("url=", 1)[1], stop=SP_SLO, email=None))
    assert browser.go(saml_party.answer(message.id, relay_state), email=None) == f"{LOGGED_OUT}?state=s2"


def test_without_a_saml_sp_the_rp_gets_the_person_back_at_once(browser, rp, live, account, rp_backend):
    """Nothing changes when the session had no SAML SP: one redirect, straight to the RP."""
    party, token, id_claims = _signed_in(browser, rp)
    url = _logout_url(live, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT, state="s3")
    answer = browser.get(url)
    assert answer.status_code == 302 and answer.headers["Location"] == f"{LOGGED_OUT}?state=s3"
    assert answer.headers["Location"].startswith(RP)
    [logout_token] = _deliver(live, rp_backend)
    _check_logout_token(party, logout_token, id_claims)
