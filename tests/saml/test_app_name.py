"""The sign-in pages name the application a SAML request comes from: its mdui:DisplayName (issue 12 §1).

The SP metadata is written by pysaml2 itself (``create_metadata_string``) from an SP
configuration with ``ui_info``, as a pysaml2 SP would publish it; a real Saml2Client
sends the AuthnRequest.
"""
from __future__ import annotations

from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from saml2 import BINDING_HTTP_POST
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string

from tests.conftest import make_app
from tests.conftest import PASSWORD
from tests.saml.conftest import FakeSP, Flow, SpSpec, read_form
from tests.conftest import Browser

FORMATION = "https://formation.uness.fr/sp"
ENGLISH_ONLY = "https://english.uness.fr/sp"
NAMELESS = "https://nameless.uness.fr/sp"


def pysaml2_metadata(spec: SpSpec, ui_info: dict | None) -> str:
    """The SP's metadata as pysaml2 writes it, mdui:UIInfo included."""
    service = {"endpoints": {"assertion_consumer_service": [(spec.acs_url, BINDING_HTTP_POST)]}}
    if ui_info:
        service["ui_info"] = ui_info
    config = SPConfig().load({"entityid": spec.entity_id, "cert_file": spec.key.cert_file,
                              "key_file": spec.key.key_file, "xmlsec_binary": "/usr/bin/xmlsec1",
                              "service": {"sp": service}})
    return create_metadata_string(None, config=config, sign=False).decode()


@pytest.fixture(scope="module")
def specs(keys) -> dict[str, SpSpec]:
    return {entity: SpSpec(entity, ((BINDING_HTTP_POST, entity.replace("/sp", "/acs"), 0, None),),
                           keys["main"]) for entity in (FORMATION, ENGLISH_ONLY, NAMELESS)}


@pytest.fixture
def app(base_config, redis_client, tmp_path: Path, specs):
    names = {
        FORMATION: {"display_name": [{"text": "UNESS Formation", "lang": "fr"},
                                     {"text": "UNESS Training", "lang": "en"}]},
        ENGLISH_ONLY: {"display_name": [{"text": "Clinical Cases", "lang": "en-GB"}]},
        NAMELESS: None,
    }
    for number, (entity, ui_info) in enumerate(names.items()):
        (tmp_path / f"sp{number}.xml").write_text(pysaml2_metadata(specs[entity], ui_info))
    return make_app({**base_config, "saml": {"sp_metadata_dir": str(tmp_path)}})


def to_login(flow: Flow, sp: FakeSP, lang: str = "fr") -> tuple[str, str]:
    """Send the SP's request; (the sign-in page's text, its URL)."""
    flow.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    _, how = sp.request()
    sent = flow.send(how)
    assert sent.status_code == 302 and "/login" in sent.headers["Location"]
    start = urlsplit(sent.headers["Location"])
    url = f"{start.path}?{start.query}"
    return unescape(flow.client.get(url).get_data(as_text=True)), url


def test_every_sign_in_step_names_the_sp_in_french_then_the_error_page(flow, specs, idp_metadata, alice):
    sp = FakeSP(specs[FORMATION], idp_metadata)
    page, start = to_login(flow, sp)
    assert "Vous vous connectez à « UNESS Formation »" in page and FORMATION not in page
    browser = Browser(flow.client)
    browser.submit("/login", {"email": "alice@univ-exemple.fr"}, form_page=start)
    password_page = unescape(flow.client.get("/login/password").get_data(as_text=True))
    assert "Vous vous connectez à « UNESS Formation »" in password_page
    resume = browser.submit("/login/password", {"password": PASSWORD}).headers["Location"]
    read_form(flow.client.get(resume))
    again = flow.client.get(resume)  # the way back, used twice: the error page still names the application
    assert again.status_code == 400 and "« UNESS Formation »" in unescape(again.get_data(as_text=True))
    account = unescape(flow.client.get("/account").get_data(as_text=True))
    assert "UNESS Formation" not in account  # once there, the sign-in is over


def test_the_english_page_names_it_in_english(flow, specs, idp_metadata):
    page, _ = to_login(flow, FakeSP(specs[FORMATION], idp_metadata), lang="en")
    assert "You are signing in to “UNESS Training”" in page and "UNESS Formation" not in page


def test_a_name_in_one_language_serves_both(flow, specs, idp_metadata):
    page, _ = to_login(flow, FakeSP(specs[ENGLISH_ONLY], idp_metadata))
    assert "Vous vous connectez à « Clinical Cases »" in page
    page, _ = to_login(flow, FakeSP(specs[ENGLISH_ONLY], idp_metadata), lang="en")
    assert "You are signing in to “Clinical Cases”" in page


def test_no_display_name_no_line_and_never_the_entity_id(flow, specs, idp_metadata):
    page, _ = to_login(flow, FakeSP(specs[NAMELESS], idp_metadata))
    assert "Vous vous connectez à" not in page and NAMELESS not in page and "nameless" not in page


def test_a_plain_visit_to_the_sign_in_page_names_nothing(flow, specs, idp_metadata, client):
    to_login(flow, FakeSP(specs[FORMATION], idp_metadata))
    other_browser = client.application.test_client()
    assert "Vous vous connectez à" not in other_browser.get("/login").get_data(as_text=True)


def test_the_page_expired_and_the_code_pages_name_it_too(flow, specs, idp_metadata, alice):
    page, start = to_login(flow, FakeSP(specs[FORMATION], idp_metadata))
    expired = flow.client.post("/login", data={"csrf_token": "old-tab", "email": "alice@univ-exemple.fr"})
    assert expired.status_code == 400
    assert "Vous vous connectez à « UNESS Formation »" in unescape(expired.get_data(as_text=True))
    browser = Browser(flow.client)
    browser.submit("/login", {"email": "alice@univ-exemple.fr"}, form_page=start)
    browser.submit("/login/code/send", form_page="/login/password")
    code_page = unescape(flow.client.get("/login/code").get_data(as_text=True))
    assert "Vous vous connectez à « UNESS Formation »" in code_page
