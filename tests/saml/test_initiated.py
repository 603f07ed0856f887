"""IdP-initiated SSO for portal links: GET /saml/sso/init?sp=…&target=… (checklist REQ13), with a real
pysaml2 SP that accepts unsolicited Responses (allow_unsolicited)."""
from __future__ import annotations

from urllib.parse import urlencode

from saml2 import BINDING_HTTP_POST

from tests.saml.conftest import NS, read_form, response_root

ALICE = "alice@univ-exemple.fr"
TARGET = "https://sp.example.org/cours/42?onglet=notes"


def init_url(sp: str, target: str) -> str:
    return "/saml/sso/init?" + urlencode({"sp": sp, "target": target})


def parse_unsolicited(sp, saml_response: str):
    return sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={})


def test_req13_no_session_signs_in_then_posts_an_unsolicited_response(flow, make_sp, sps, alice):
    sp = make_sp("MAIN", allow_unsolicited=True)
    first = flow.client.get(init_url(sps["MAIN"].entity_id, TARGET))
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    assert first.headers["Location"].startswith("/login?next=/saml/sso/init?")  # back here after the sign-in
    response = flow.sign_in(ALICE, start=first.headers["Location"])
    assert response.status_code == 302
    posted = read_form(flow.client.get(response.headers["Location"]))
    assert posted.action == sps["MAIN"].acs_url  # the default ACS (index 2, isDefault)
    assert posted.relay_state == TARGET
    root = response_root(posted)
    assert root.get("InResponseTo") is None
    assert "InResponseTo" not in posted.xml
    result = parse_unsolicited(sp, posted.saml_response)
    assert result.ava["mail"] == [ALICE]
    assert result.name_id.format.endswith(":transient")


def test_req13_with_a_session_answers_at_once_with_the_same_name_id(flow, make_sp, sps, alice):
    sp = make_sp("MAIN", allow_unsolicited=True)
    request_id, how = sp.request()
    solicited = sp.parse(flow.sso(how, email=ALICE).saml_response, request_id)
    posted = read_form(flow.client.get(init_url(sps["MAIN"].entity_id, "https://sp.example.org/")))
    result = parse_unsolicited(sp, posted.saml_response)
    assert result.name_id.text == solicited.name_id.text
    assert result.session_info()["session_index"] == solicited.session_info()["session_index"]
    assert posted.relay_state == "https://sp.example.org/"


def test_req13_the_sp_refuses_it_unless_allow_unsolicited(flow, make_sp, sps, alice):
    import pytest
    from saml2.response import UnsolicitedResponse

    sp = make_sp("MAIN")
    flow.sign_in(ALICE)
    posted = read_form(flow.client.get(init_url(sps["MAIN"].entity_id, TARGET)))
    with pytest.raises(UnsolicitedResponse):
        parse_unsolicited(sp, posted.saml_response)


def test_req13_encrypted_assertion_for_an_sp_with_an_encryption_key(flow, make_sp, sps, alice):
    sp = make_sp("CBC", allow_unsolicited=True)
    flow.sign_in(ALICE)
    target = "https://legacy-ssp.example.org/cours"
    posted = read_form(flow.client.get(init_url(sps["CBC"].entity_id, target)))
    assert response_root(posted).find("saml:EncryptedAssertion", NS) is not None
    assert parse_unsolicited(sp, posted.saml_response).ava["mail"] == [ALICE]


def test_req13_unknown_sp_is_a_french_error_page(flow, alice):
    flow.sign_in(ALICE)
    page = flow.client.get(init_url("https://unknown.example.org/sp", "https://unknown.example.org/"))
    assert page.status_code == 400
    assert "n'est pas connu de la passerelle" in page.get_data(as_text=True).replace("&#39;", "'")


def test_req13_target_must_be_on_the_sps_host(flow, sps, alice):
    flow.sign_in(ALICE)
    for target in ("https://evil.example.net/", "http://sp.example.org/", "https://sp.example.org:8443/",
                   "https://sp.example.org.evil.net/", "javascript:alert(1)", "//sp.example.org/", "",
                   "https://user@sp.example.org/"):
        page = flow.client.get(init_url(sps["MAIN"].entity_id, target))
        assert page.status_code == 400, target
        assert "destination" in page.get_data(as_text=True), target


def test_req13_target_a_browser_reads_elsewhere_is_refused(flow, sps, alice):
    """Issue 9.1: Python reads these as on sp.example.org, a browser (after the SP's redirect to the
    RelayState) as evil.example.net; none is posted to the SP."""
    flow.sign_in(ALICE)
    for target in ("https://evil.example.net\\@sp.example.org/", "https://evil.example.net%5C@sp.example.org/",
                   "https://sp.example.org\\evil.example.net/", "https://sp.example.org/\\evil.example.net",
                   "https://sp.example.org\t/", "https://ѕp.example.org/"):
        page = flow.client.get(init_url(sps["MAIN"].entity_id, target))
        assert page.status_code == 400, target
        assert "SAMLResponse" not in page.get_data(as_text=True), target


def test_req13_target_is_posted_re_serialised(flow, sps, alice):
    flow.sign_in(ALICE)
    posted = read_form(flow.client.get(init_url(sps["MAIN"].entity_id, 'https://sp.example.org/é?q="x"')))
    assert posted.relay_state == "https://sp.example.org/%C3%A9?q=%22x%22"


def test_req13_bad_target_is_refused_before_any_sign_in(flow, sps):
    page = flow.client.get(init_url(sps["MAIN"].entity_id, "https://evil.example.net/"))
    assert page.status_code == 400
