"""Full SSO with a real pysaml2 SP: bindings, sessions, ForceAuthn, IsPassive, RelayState (checklist B, C)."""
from __future__ import annotations

import time

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.samlp import NameIDPolicy

from tests.saml.conftest import NS, assertion_of, response_root, status_codes

ALICE = "alice@univ-exemple.fr"


def test_req01_redirect_binding_signs_in_then_posts_to_the_acs(flow, sp, alice):
    """REQ01 (HTTP-Redirect), RSP01: no session -> /login -> back -> auto-POST form to the validated ACS."""
    request_id, how = sp.request(BINDING_HTTP_REDIRECT)
    first = flow.send(how)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    assert "/saml/sso/resume" in first.headers["Location"] and "SAMLRequest" not in first.headers["Location"]
    response = flow.sign_in(ALICE, start=first.headers["Location"])
    posted_page = flow.client.get(response.headers["Location"])
    from tests.saml.conftest import read_form

    posted = read_form(posted_page)
    assert posted.action == sp.spec.acs_url
    assert posted.relay_state == "state-1"
    result = sp.parse(posted.saml_response, request_id)
    assert result.ava["mail"] == [ALICE]
    assert result.ava["displayName"] == ["Alice Martin"]
    assert result.ava["supannEtablissement"] == ["{UAI}0751717J"]  # ATT04: the SupAnn OID round-trips


def test_req01_post_binding(flow, sp, alice):
    """REQ01 (HTTP-POST, base64 not deflated)."""
    request_id, how = sp.request(BINDING_HTTP_POST)
    posted = flow.sso(how, email=ALICE)
    assert sp.parse(posted.saml_response, request_id).ava["givenName"] == ["Alice"]


def test_rsp01_post_form_works_without_javascript_and_has_its_own_csp(flow, sp, alice):
    """RSP01: a visible button in <noscript>; a CSP allowing form-action to the ACS and the static script."""
    _, how = sp.request()
    posted = flow.sso(how, email=ALICE)
    assert "<noscript>" in posted.html and '<button type="submit"' in posted.html
    assert "form-action https://sp.example.org/Shibboleth.sso/SAML2/POST;" in posted.csp
    assert "script-src 'self'" in posted.csp and "unsafe-inline" not in posted.csp
    assert "/saml/static/post.js" in posted.html
    with flow.client.get("/saml/static/post.js") as script:
        assert script.status_code == 200 and b"submit()" in script.data


def test_the_post_page_speaks_the_persons_language(flow, sp, alice):
    """The auto-POST page, like every page: English when the person chose it, the values still escaped."""
    flow.client.get("/login?lang=en")  # the language cookie, as the page's language link sets it
    _, how = sp.request()
    posted = flow.sso(how, email=ALICE)
    assert '<html lang="en">' in posted.html and "JavaScript is off" in posted.html
    assert ">Continue</button>" in posted.html and "en cours" not in posted.html


def test_answers_in_a_row_each_post_to_their_own_acs_in_the_language_of_the_moment(flow, sp, make_sp, alice):
    """The POST page's frame is escaped once per ACS and language, then reused: answers in a row to two SPs,
    then to the first in English, each post to their own ACS, in the page's language at that moment."""
    _, how = sp.request()
    first = flow.sso(how, email=ALICE)
    other = make_sp("SIGNED")
    _, how = other.request()
    second = flow.sso(how)
    flow.client.get("/login?lang=en")
    _, how = sp.request()
    third = flow.sso(how)
    assert (first.action, second.action, third.action) == (sp.spec.acs_url, other.spec.acs_url, sp.spec.acs_url)
    assert ['<html lang="fr">' in first.html, '<html lang="fr">' in second.html, '<html lang="en">' in third.html] \
        == [True, True, True]
    assert "Continuer" in second.html and ">Continue</button>" in third.html


def test_second_request_in_the_session_needs_no_sign_in_and_keeps_ids(flow, sp, alice):
    """NID01 (one transient per session and SP), RSP07 (SessionIndex per session and SP)."""
    first_id, how = sp.request()
    first = sp.parse(flow.sso(how, email=ALICE).saml_response, first_id)
    second_id, how = sp.request()
    second = sp.parse(flow.sso(how).saml_response, second_id)  # no email: no sign-in allowed
    assert first.name_id.text == second.name_id.text
    assert first.session_info()["session_index"] == second.session_info()["session_index"]


def test_transient_differs_between_sessions(flow, sp, alice, app):
    """NID01: random per (user, SP, login)."""
    first_id, how = sp.request()
    first = sp.parse(flow.sso(how, email=ALICE).saml_response, first_id)
    other = type(flow)(app.test_client())
    second_id, how = sp.request()
    second = sp.parse(other.sso(how, email=ALICE).saml_response, second_id)
    assert first.name_id.text != second.name_id.text
    assert len(first.name_id.text) >= 32


def test_parties_record_what_slo_will_need(flow, sp, alice, app):
    """Sessions groundwork: the SP, NameID, Format and SessionIndex recorded with identity.parties."""
    request_id, how = sp.request()
    result = sp.parse(flow.sso(how, email=ALICE).saml_response, request_id)
    sid = flow.client.get_cookie("uness_session").value
    recorded = app.extensions["gateway.parties"].of(sid, "saml")[sp.spec.entity_id]
    assert recorded["name_id"] == result.name_id.text
    assert recorded["name_id_format"] == result.name_id.format
    assert recorded["session_index"] == result.session_info()["session_index"]
    assert recorded["sp_name_qualifier"] == sp.spec.entity_id


def test_logout_hook_sees_the_saml_parties(flow, sp, alice, app, caplog):
    """identity.logout hooks: the SAML hook reads the SPs of the ended session (SLO comes next)."""
    from gateway.identity.flaskglue.logout import end_account_sessions

    _, how = sp.request()
    flow.sso(how, email=ALICE)
    with app.app_context(), caplog.at_level("INFO", logger="gateway.saml"):
        assert end_account_sessions(alice.id, reason="account.disabled") == 1
    assert "1 SAML SP(s) not notified" in caplog.text


def test_req08_force_authn_asks_for_the_password_again(flow, sp, alice):
    """REQ08: ForceAuthn="true" re-prompts even with a session; the new AuthnInstant is later."""
    first_id, how = sp.request()
    first = assertion_of(flow.sso(how, email=ALICE), sp.spec.key)
    time.sleep(1.1)
    request_id, how = sp.request(force_authn="true")
    prompt = flow.send(how)
    assert prompt.status_code == 302 and "force=1" in prompt.headers["Location"]
    login_page = flow.client.get(prompt.headers["Location"])
    assert login_page.status_code == 200 and 'name="email"' in login_page.get_data(as_text=True)
    back = flow.sign_in(ALICE, start=prompt.headers["Location"])
    from tests.saml.conftest import read_form

    again = read_form(flow.client.get(back.headers["Location"]))
    second = assertion_of(again, sp.spec.key)
    before = first.find("saml:AuthnStatement", NS).get("AuthnInstant")
    after = second.find("saml:AuthnStatement", NS).get("AuthnInstant")
    assert after > before
    assert sp.parse(again.saml_response, request_id).ava["mail"] == [ALICE]


def test_req08_force_authn_resume_without_signing_in_again_is_not_enough(flow, sp, alice):
    """REQ08: coming back to the resume URL without a new sign-in does not release an assertion."""
    _, how = sp.request()
    flow.sso(how, email=ALICE)
    _, how = sp.request(force_authn="1")
    prompt = flow.send(how)
    resume = prompt.headers["Location"].split("next=", 1)[1]
    from urllib.parse import unquote

    again = flow.client.get(unquote(resume))
    assert again.status_code == 302 and "/login" in again.headers["Location"]


def test_req09_is_passive_without_session_answers_no_passive(flow, sp):
    """REQ09: IsPassive and no session -> Responder/NoPassive POSTed to the ACS, no page asking anything."""
    _, how = sp.request(is_passive="true")
    posted = flow.sso(how)
    assert posted.action == sp.spec.acs_url
    assert status_codes(posted) == ["urn:oasis:names:tc:SAML:2.0:status:Responder",
                                    "urn:oasis:names:tc:SAML:2.0:status:NoPassive"]
    root = response_root(posted)
    assert root.find("saml:Assertion", NS) is None and root.find("saml:EncryptedAssertion", NS) is None
    assert 'name="password"' not in posted.html and 'name="email"' not in posted.html


def test_req09_is_passive_with_session_signs_in_silently(flow, sp, alice):
    """REQ09: with a session, IsPassive gets a normal assertion."""
    _, how = sp.request()
    flow.sso(how, email=ALICE)
    request_id, how = sp.request(is_passive="1")
    assert sp.parse(flow.sso(how).saml_response, request_id).ava["sn"] == ["Martin"]


def test_req09_is_passive_with_force_authn_cannot_ask_so_answers_no_passive(flow, sp, alice):
    """REQ08 + REQ09: re-authenticating would need a page, which IsPassive forbids."""
    _, how = sp.request()
    flow.sso(how, email=ALICE)
    _, how = sp.request(is_passive="true", force_authn="true")
    assert status_codes(flow.sso(how))[-1] == "urn:oasis:names:tc:SAML:2.0:status:NoPassive"


def test_req12_relay_state_500_chars_echoed_exactly_and_escaped(flow, sp, alice):
    """REQ12: a long RelayState with "<>&' comes back byte for byte, HTML-escaped in the form."""
    relay = ("https://app.univ-exemple.fr/course?id=42&x=\"<script>alert('x')</script>&y=" * 8)[:500]
    assert len(relay) == 500
    _, how = sp.request(relay_state=relay)
    posted = flow.sso(how, email=ALICE)
    assert posted.relay_state == relay  # the form's value, HTML-unescaped as a browser sends it
    assert "<script>alert" not in posted.html and "&#39;" in posted.html and "&#34;" in posted.html


def test_req12_relay_state_absent_is_not_invented(flow, sp, alice):
    request_id, how = sp.request(BINDING_HTTP_POST)
    del how["data"]["RelayState"]
    posted = flow.sso(how, email=ALICE)
    assert posted.relay_state is None and 'name="RelayState"' not in posted.html


def test_req12_relay_state_over_4kb_is_refused(flow, sp):
    _, how = sp.request(BINDING_HTTP_POST, relay_state="r" * 5000)
    response = flow.send(how)
    assert response.status_code == 400 and "Connexion impossible" in response.get_data(as_text=True)


def test_req10_shibboleth_allow_create_without_format_gets_transient(flow, sp, alice):
    """REQ10: Shibboleth SP 3 sends <NameIDPolicy AllowCreate="1"/>."""
    request_id, how = sp.request(name_id_policy=NameIDPolicy(allow_create="1"))
    result = sp.parse(flow.sso(how, email=ALICE).saml_response, request_id)
    assert result.name_id.format == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


def test_req10_simplesamlphp_transient_allow_create_false(flow, sp, alice):
    """REQ10: SimpleSAMLphp 2 sends Format=transient AllowCreate=false: AllowCreate is irrelevant for
    transient.
    """
    policy = NameIDPolicy(format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient", allow_create="false")
    request_id, how = sp.request(name_id_policy=policy)
    result = sp.parse(flow.sso(how, email=ALICE).saml_response, request_id)
    assert result.name_id.format.endswith(":transient")


def test_req10_absent_name_id_policy(flow, sp, alice):
    """REQ10 (saml2int SPs may omit the element) and NID03 (then transient)."""
    request_id, how = sp.request()
    result = sp.parse(flow.sso(how, email=ALICE).saml_response, request_id)
    assert result.name_id.format.endswith(":transient")


def test_req11_requested_authn_context_exact_password_protected_transport(flow, sp, alice):
    """REQ11: PasswordProtectedTransport asked exactly is met."""
    from saml2.samlp import RequestedAuthnContext
    from saml2.saml import AuthnContextClassRef

    ppt = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    context = RequestedAuthnContext(authn_context_class_ref=[AuthnContextClassRef(ppt)], comparison="exact")
    _, how = sp.request(requested_authn_context=context)
    assertion = assertion_of(flow.sso(how, email=ALICE), sp.spec.key)
    path = "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"
    assert assertion.findtext(path, namespaces=NS) == ppt


def test_req11_unknown_class_gets_no_authn_context(flow, sp, alice):
    """REQ11: an unmet requested class -> Responder/NoAuthnContext to the ACS."""
    from saml2.samlp import RequestedAuthnContext
    from saml2.saml import AuthnContextClassRef

    mfa = "https://refeds.org/profile/mfa"
    context = RequestedAuthnContext(authn_context_class_ref=[AuthnContextClassRef(mfa)], comparison="exact")
    _, how = sp.request(requested_authn_context=context)
    posted = flow.sso(how, email=ALICE)
    assert status_codes(posted)[-1] == "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"


def test_disabled_account_gets_request_denied(flow, sp, alice, app):
    """A session whose account was disabled meanwhile: RequestDenied, no assertion."""
    _, how = sp.request()
    flow.sso(how, email=ALICE)
    app.extensions["gateway.directory"].disable(alice.id)
    _, how = sp.request()
    response = flow.send(how)
    if response.status_code == 200:  # the session is still there: the SP hears RequestDenied
        from tests.saml.conftest import read_form

        assert status_codes(read_form(response))[-1].endswith(":RequestDenied")
    else:  # or the session was ended with the account: sign in again
        assert response.status_code == 302 and "/login" in response.headers["Location"]
