"""Single Logout (checklist G: SLO01-SLO09) with two real pysaml2 SPs that both signed in through the gateway.

* ``A`` is Shibboleth-like: SingleLogoutService SOAP first (skipped, SLO08), then Redirect, then POST.
* ``B`` has a POST SingleLogoutService only.

The IdP has a separate encryption key, so its metadata offers one (A05) and ``A`` may send an
EncryptedID (SLO05).
SP-initiated LogoutRequests are written by hand (EncryptedID, aslo:Asynchronous, tampering); the gateway's
LogoutRequests are parsed by the SPs' own pysaml2 clients (which check the IdP signature and the NameID).
"""
from __future__ import annotations

import base64
import datetime
import logging
import re
import time
import zlib
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import xmlsec
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP

from gateway import services
from gateway.saml.slo import chain
from gateway.saml.wire.crypto import add_signature_template, encryption_template
from gateway.saml.wire.keys import Certificate
from gateway.saml.wire.signatures import verify_redirect
from tests.helpers.forms import forms
from tests.saml.conftest import NS, FakeSP, SpSpec, deflate, sign_query, sp_metadata

ALICE = "alice@univ-exemple.fr"
SLO = "http://127.0.0.1:8000/saml/slo"
A_SLO = "https://a.example.org/Shibboleth.sso/SLO/Redirect"
B_SLO = "https://b.example.org/slo"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"


@pytest.fixture(scope="module")
def slo_specs(keys) -> dict[str, SpSpec]:
    return {
        "A": SpSpec("https://a.example.org/shibboleth", (
            (BINDING_HTTP_POST, "https://a.example.org/Shibboleth.sso/SAML2/POST", 0, None),), keys["main"]),
        "B": SpSpec("https://b.example.org/sp", (
            (BINDING_HTTP_POST, "https://b.example.org/acs", 0, None),), keys["signed"], key_use="signing"),
    }


SLO_ENDPOINTS = {
    "A": ((BINDING_SOAP, "https://a.example.org/Shibboleth.sso/SLO/SOAP"), (BINDING_HTTP_REDIRECT, A_SLO),
          (BINDING_HTTP_POST, "https://a.example.org/Shibboleth.sso/SLO/POST")),
    "B": ((BINDING_HTTP_POST, B_SLO),),
}


@pytest.fixture(scope="module")
def slo_dir(tmp_path_factory, slo_specs):
    directory = tmp_path_factory.mktemp("slo-sp-metadata")
    for name, spec in slo_specs.items():
        services = "".join(f'<md:SingleLogoutService Binding="{b}" Location="{u}"/>'
                           for b, u in SLO_ENDPOINTS[name])
        acs = "<md:AssertionConsumerService"
        xml = sp_metadata(spec).replace(acs, services + acs, 1)
        (directory / f"{name.lower()}.xml").write_text(xml)
    return directory


@pytest.fixture
def saml_config(base_config, slo_dir, keys):
    encryption = keys["idp-next"]
    return {**base_config, "saml": {
        "sp_metadata_dir": str(slo_dir),
        "encryption_key": encryption.key_pem.decode(),
        "encryption_cert": Path(encryption.cert_file).read_text(),
    }}


class Party:
    """A pysaml2 SP and what the gateway gave it."""

    def __init__(self, spec: SpSpec, idp_metadata: str, slo: tuple) -> None:
        endpoints = {"assertion_consumer_service": [(spec.acs_url, BINDING_HTTP_POST)],
                     "single_logout_service": [(url, binding) for binding, url in slo
                                               if binding != BINDING_SOAP]}
        self.sp = FakeSP(spec, idp_metadata, endpoints=endpoints)
        self.spec = spec
        self.name_id = None
        self.session_index = None

    def sign_in(self, flow) -> None:
        request_id, how = self.sp.request()
        result = self.sp.parse(flow.sso(how, email=ALICE).saml_response, request_id)
        self.name_id = result.name_id
        self.session_index = result.session_info()["session_index"]


@pytest.fixture
def parties(idp_metadata, slo_specs, flow, alice) -> dict[str, Party]:
    """A then B signed in, in the same browser."""
    found = {name: Party(spec, idp_metadata, SLO_ENDPOINTS[name]) for name, spec in slo_specs.items()}
    for party in found.values():
        party.sign_in(flow)
    assert flow.client.get("/account").status_code == 200
    return found


@pytest.fixture
def idp_cert(app) -> str:
    return app.extensions["gateway.saml"].keys.signing.cert.b64


# -- writing the SP's messages ------------------------------------------------------------------------------

def now_instant() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_id_xml(name_id, value: str | None = None) -> str:
    attrs = f' Format="{name_id.format}"'
    if name_id.name_qualifier:
        attrs += f' NameQualifier="{name_id.name_qualifier}"'
    if name_id.sp_name_qualifier:
        attrs += f' SPNameQualifier="{name_id.sp_name_qualifier}"'
    return f'<saml:NameID xmlns:saml="{NS["saml"]}"{attrs}>{value or name_id.text}</saml:NameID>'


def encrypted_id_xml(name_id, cert_file: str) -> str:
    """What Shibboleth SP sends when the IdP metadata has an encryption key (SLO05)."""
    element = etree.fromstring(name_id_xml(name_id))
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_file(cert_file, xmlsec.constants.KeyDataFormatCertPem))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession)
    data = context.encrypt_xml(encryption_template("aes256-cbc"), element)
    return f'<saml:EncryptedID xmlns:saml="{NS["saml"]}">{etree.tostring(data).decode()}</saml:EncryptedID>'


def logout_request_xml(party: Party, request_id: str = "_logout1", asynchronous: bool = False,
                       subject: str | None = None, session_index: str | None = None) -> str:
    extensions = ('<samlp:Extensions><aslo:Asynchronous xmlns:aslo="urn:oasis:names:tc:SAML:2.0:protocol:ext:'
                  'async-slo"/></samlp:Extensions>') if asynchronous else ""
    return (f'<samlp:LogoutRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{request_id}" '
            f'Version="2.0" IssueInstant="{now_instant()}" Destination="{SLO}">'
            f'<saml:Issuer>{party.spec.entity_id}</saml:Issuer>{extensions}'
            f'{subject or name_id_xml(party.name_id)}'
            f'<samlp:SessionIndex>{session_index or party.session_index}</samlp:SessionIndex>'
            f'</samlp:LogoutRequest>')


def logout_response_xml(party: Party, in_response_to: str, status: str = SUCCESS) -> str:
    return (f'<samlp:LogoutResponse xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="_r{id(party)}x'
            f'{in_response_to[1:12]}" Version="2.0" IssueInstant="{now_instant()}" Destination="{SLO}" '
            f'InResponseTo="{in_response_to}"><saml:Issuer>{party.spec.entity_id}</saml:Issuer>'
            f'<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>')


def signed_redirect(xml: str, party: Party, relay_state: str | None = "rs-1",
                    field: str = "SAMLRequest") -> str:
    query = f"{field}={quote_plus(deflate(xml))}"
    if relay_state is not None:
        query += f"&RelayState={quote_plus(relay_state)}"
    return "/saml/slo?" + sign_query(query, party.spec.key.key_pem)


def signed_post(xml: str, party: Party) -> str:
    root = etree.fromstring(xml)
    add_signature_template(root, Certificate.load(Path(party.spec.key.cert_file).read_text(), "sp"), "rsa")
    xmlsec.tree.add_ids(root, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(party.spec.key.key_pem, xmlsec.constants.KeyDataFormatPem)
    context.sign(root.find("{%s}Signature" % NS["ds"]))
    return base64.b64encode(etree.tostring(root)).decode()


# -- reading what the gateway sent --------------------------------------------------------------------------

def form_of(response) -> dict[str, str]:
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:600]
    form = next((f for f in forms(html) if {"SAMLRequest", "SAMLResponse"} & set(f.fields)), None)
    assert form is not None and form.method == "post", html[:600]
    return {"action": form.action, **form.fields, "csp": response.headers.get("Content-Security-Policy", "")}


def redirect_of(response, after_form: bool = False) -> tuple[str, dict[str, str], str]:
    """A 302 to another site; ``after_form``: the page of ours that goes there by itself instead (after a
    form, CSP form-action would refuse the 302: identity.flaskglue.logout.moving_on_page), its link
    included."""
    if after_form:
        assert response.status_code == 200, response.get_data(as_text=True)[:600]
        delay, location = response.headers["Refresh"].split(";url=")
        links = re.findall(r'<a href="([^"]*)" class="button-primary">', response.get_data(as_text=True))
        assert delay == "0" and [unescape(link) for link in links] == [location]
    else:
        assert response.status_code == 302, response.get_data(as_text=True)[:600]
        location = response.headers["Location"]
    parts = urlsplit(location)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", params, parts.query


def inflate(value: str) -> bytes:
    return zlib.decompress(base64.b64decode(value), -15)


def answer_b_by_post(flow, parties, form: dict[str, str], status: str = SUCCESS):
    """B checks the gateway's LogoutRequest with pysaml2; answers by POST."""
    b = parties["B"]
    assert form["action"] == B_SLO and "form-action " + B_SLO in form["csp"] and "'self'" in form["csp"]
    parsed = b.sp.client.parse_logout_request(form["SAMLRequest"], BINDING_HTTP_POST)
    message = parsed.message
    assert message.name_id.text == b.name_id.text and message.name_id.format == b.name_id.format
    assert message.name_id.sp_name_qualifier == b.name_id.sp_name_qualifier
    assert message.name_id.name_qualifier == b.name_id.name_qualifier
    assert [s.text for s in message.session_index] == [b.session_index]
    assert message.not_on_or_after
    data = {"SAMLResponse": signed_post(logout_response_xml(b, message.id, status), b),
            "RelayState": form["RelayState"]}
    return flow.client.post("/saml/slo", data=data)


def logout_response_at_a(response, idp_cert: str, in_response_to: str, after_form: bool = False) -> list[str]:
    """SLO07, SLO09: the initiator's LogoutResponse, Redirect to its metadata endpoint, signature checked."""
    url, params, raw = redirect_of(response, after_form)
    assert url == A_SLO and params["RelayState"] == "rs-1"
    verify_redirect(raw.encode(), params["SigAlg"], params["Signature"], [idp_cert])
    root = etree.fromstring(inflate(params["SAMLResponse"]))
    assert root.tag == "{%s}LogoutResponse" % NS["samlp"] and root.get("InResponseTo") == in_response_to
    assert root.get("Destination") == A_SLO
    return [code.get("Value") for code in root.iter("{%s}StatusCode" % NS["samlp"])]


def signed_out(flow) -> bool:
    answer = flow.client.get("/account")
    return answer.status_code == 302 and "/login" in answer.headers["Location"]


# -- SP-initiated -------------------------------------------------------------------------------------------

def test_slo01_slo04_slo07_redirect_request_chains_to_the_other_sp_then_success(flow, parties, idp_cert):
    """SLO01 (Redirect), SLO02, SLO04, SLO07, SLO09: A logs out; B gets its own NameID, SessionIndex."""
    a = parties["A"]
    step = flow.client.get(signed_redirect(logout_request_xml(a), a))
    assert signed_out(flow)
    back = answer_b_by_post(flow, parties, form_of(step))  # B's answer is a form: a page, then A
    assert logout_response_at_a(back, idp_cert, "_logout1", after_form=True) == [SUCCESS]


def test_slo01_slo05_post_request_with_encrypted_id(flow, parties, idp_cert, keys):
    """SLO01 (POST, enveloped signature), SLO05: an EncryptedID to the IdP's encryption key is decrypted."""
    a = parties["A"]
    xml = logout_request_xml(a, "_logout2", subject=encrypted_id_xml(a.name_id, keys["idp-next"].cert_file))
    step = flow.client.post("/saml/slo", data={"SAMLRequest": signed_post(xml, a), "RelayState": "rs-1"})
    assert signed_out(flow)
    back = answer_b_by_post(flow, parties, form_of(step))
    assert logout_response_at_a(back, idp_cert, "_logout2", after_form=True) == [SUCCESS]


def test_slo04_sp_not_answering_gives_partial_logout(flow, parties, idp_cert):
    """SLO04: B never answers; once the wait is over (or "Continuer"), A gets Responder/PartialLogout."""
    a = parties["A"]
    form = form_of(flow.client.get(signed_redirect(logout_request_xml(a, "_logout3"), a)))
    waiting = flow.client.get(f"/saml/slo/chain?token={form['RelayState']}")
    assert waiting.status_code == 200 and "Refresh" in waiting.headers
    assert "slo-continue" in waiting.get_data(as_text=True)
    back = flow.client.get(f"/saml/slo/chain?token={form['RelayState']}&skip=1")
    codes = logout_response_at_a(back, idp_cert, "_logout3")
    assert codes == [STATUS + "Responder", STATUS + "PartialLogout"]
    assert signed_out(flow)


def test_slo04_timeout_does_not_block_the_chain(flow, parties, idp_cert, monkeypatch):
    """SLO04: back on the chain after the timeout without an answer, B counts as failed."""
    a = parties["A"]
    form = form_of(flow.client.get(signed_redirect(logout_request_xml(a, "_logout4"), a)))
    monkeypatch.setattr(chain, "STEP_TIMEOUT", 0)
    back = flow.client.get(f"/saml/slo/chain?token={form['RelayState']}")
    assert logout_response_at_a(back, idp_cert, "_logout4")[-1] == STATUS + "PartialLogout"


RECORD = {"name_id": "_n1", "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
          "name_qualifier": None, "sp_name_qualifier": None, "session_index": "_s1"}


def no_soap(entity_id: str, record: dict) -> bool:
    return False


def test_slo04_the_chain_decides_each_step_itself(app, slo_specs):
    """SLO04, the chain's state machine alone (no request): B's LogoutRequest, a wait for B's answer, B
    skipped, then the LogoutResponse to the initiator A (Responder/PartialLogout); then the chain is gone."""
    a, b = slo_specs["A"].entity_id, slo_specs["B"].entity_id
    idp, store, now = app.extensions["gateway.saml"], services.store(app), time.time()
    initiator = {"sp": a, "request_id": "_req1", "relay_state": "rs-1", "asynchronous": False}
    token = chain.start_chain(idp, store, {a: RECORD, b: RECORD}, initiator, no_soap)
    first = chain.next_step(idp, store, token, now)
    assert isinstance(first, chain.SendRequest) and first.sp.entity_id == b
    assert (first.message.binding, first.message.url) == (BINDING_HTTP_POST, B_SLO)
    assert chain.next_step(idp, store, token, now + 1) == chain.Wait(b, chain.STEP_TIMEOUT)
    end = chain.next_step(idp, store, token, now + 1, skip=True)
    assert isinstance(end, chain.AnswerInitiator) and end.sp.entity_id == a
    answer = etree.fromstring(inflate(parse_qs(urlsplit(end.message.url).query)["SAMLResponse"][0]))
    assert answer.get("InResponseTo") == "_req1"
    codes = [c.get("Value") for c in answer.iter("{*}StatusCode")]
    assert codes == [STATUS + "Responder", STATUS + "PartialLogout"]
    assert chain.next_step(idp, store, token, now + 2) is None


@pytest.mark.parametrize("return_to", ["https://rp.example.org/bye?state=1", None])
def test_slo04_the_chain_ends_where_it_was_asked_to_return_else_on_its_page(app, slo_specs, return_to):
    """SLO04: no SP asked; B does not answer in time: the chain ends at the return URL (an OIDC RP's), else
    on the "déconnecté" page with B unconfirmed."""
    b = slo_specs["B"].entity_id
    idp, store, now = app.extensions["gateway.saml"], services.store(app), time.time()
    token = chain.start_chain(idp, store, {b: RECORD}, None, no_soap, return_to)
    assert isinstance(chain.next_step(idp, store, token, now), chain.SendRequest)
    end = chain.next_step(idp, store, token, now + chain.STEP_TIMEOUT)
    assert end == (chain.ReturnTo(return_to) if return_to else chain.ShowResults({b: "failed"}))


def test_slo06_asynchronous_request_gets_no_response(flow, parties):
    """SLO06: aslo:Asynchronous -> the session ends, B is told, and a page (no SAMLResponse) is shown."""
    a = parties["A"]
    step = flow.client.get(signed_redirect(logout_request_xml(a, "_logout5", asynchronous=True), a))
    assert signed_out(flow)
    page = answer_b_by_post(flow, parties, form_of(step))
    assert page.status_code == 302 and page.headers["Location"].endswith("/login?logged_out=1")
    html = flow.client.get(page.headers["Location"]).get_data(as_text=True)  # the sign-in page (issue 12)
    assert "SAMLResponse" not in html and "Vous êtes déconnecté" in html and 'name="email"' in html
    assert "b.example.org" in re.search(r'<ul id="slo-done">(.*?)</ul>', html, re.S).group(1)


# -- the logout button --------------------------------------------------------------------------------------

def test_slo04_slo08_logout_button_logs_out_every_sp(flow, parties, idp_cert):
    """The button: A (Redirect chosen over SOAP, SLO08) then B (POST) get LogoutRequests; both listed."""
    a = parties["A"]
    started = flow.submit("/logout")
    # A page of its own, not a 302: CSP form-action would refuse the chain's redirect to A (tests/e2e).
    assert started.status_code == 200
    refresh, chain_url = started.headers["Refresh"].split(";url=")
    assert refresh == "0" and chain_url.startswith("/saml/slo/chain?token=")
    assert f'href="{chain_url}"' in started.get_data(as_text=True)
    assert signed_out(flow)
    url, params, raw = redirect_of(flow.client.get(chain_url))
    assert url == A_SLO
    verify_redirect(raw.encode(), params["SigAlg"], params["Signature"], [idp_cert])  # SLO07
    parsed = a.sp.client.parse_logout_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT,
                                              relay_state=params["RelayState"], sigalg=params["SigAlg"],
                                              signature=params["Signature"])
    message = parsed.message
    assert message.name_id.text == a.name_id.text and message.name_id.format == a.name_id.format
    assert [s.text for s in message.session_index] == [a.session_index]
    step = flow.client.get(signed_redirect(logout_response_xml(a, message.id), a, params["RelayState"],
                                           field="SAMLResponse"))
    page = answer_b_by_post(flow, parties, form_of(step))
    assert page.status_code == 302 and page.headers["Location"].endswith("/login?logged_out=1")
    html = flow.client.get(page.headers["Location"]).get_data(as_text=True)
    assert "Vous êtes déconnecté" in html and 'name="email"' in html
    done = re.search(r'<ul id="slo-done">(.*?)</ul>', html, re.S).group(1)
    assert "a.example.org" in done and "b.example.org" in done and "slo-unconfirmed" not in html
    assert signed_out(flow)


def test_logout_button_without_saml_parties_goes_to_login(flow, alice):
    """No SAML participant: the button lands on /login?logged_out=1 as before."""
    flow.sign_in(ALICE)
    done = flow.submit("/logout")
    assert done.status_code == 302 and done.headers["Location"].startswith("/login")
    assert "logged_out=1" in done.headers["Location"]


# -- refusals -----------------------------------------------------------------------------------------------

def test_slo02_altered_signed_request_refused(flow, parties):
    """SLO02: a signed Redirect LogoutRequest altered after signing -> 400; the session is untouched."""
    a = parties["A"]
    url = signed_redirect(logout_request_xml(a, "_logout6"), a)
    other = quote_plus(deflate(logout_request_xml(a, "_logout7")))
    altered = re.sub(r"SAMLRequest=[^&]+", "SAMLRequest=" + other, url)
    assert flow.client.get(altered).status_code == 400
    assert flow.client.get("/account").status_code == 200


def test_slo02_unsigned_request_refused(flow, parties):
    """SLO02: unsigned -> 400 (Shibboleth SP always signs); the session is untouched."""
    a = parties["A"]
    answer = flow.client.post("/saml/slo", data={
        "SAMLRequest": base64.b64encode(logout_request_xml(a, "_logout8").encode()).decode()})
    assert answer.status_code == 400
    assert flow.client.get("/account").status_code == 200


def test_slo02_signed_by_another_sp_refused(flow, parties):
    """SLO02: A's request signed with B's key -> 400."""
    a, b = parties["A"], parties["B"]
    query = f"SAMLRequest={quote_plus(deflate(logout_request_xml(a, '_logout9')))}"
    assert flow.client.get("/saml/slo?" + sign_query(query, b.spec.key.key_pem)).status_code == 400
    assert flow.client.get("/account").status_code == 200


def test_sec05_replayed_logout_request_refused(flow, parties, alice):
    """SEC05 for SLO: the same LogoutRequest ID twice -> the second is refused (400)."""
    a = parties["A"]
    url = signed_redirect(logout_request_xml(a, "_logout10"), a)
    assert flow.client.get(url).status_code == 200  # the chain's form for B
    assert flow.client.get(url).status_code == 400


def test_slo03_name_id_of_another_person_refused(flow, parties, idp_cert):
    """SLO03: A sends a NameID it was not given (or B's) -> Requester/UnknownPrincipal, nobody logged out."""
    a, b = parties["A"], parties["B"]
    bob = name_id_xml(a.name_id, "bob")
    back = flow.client.get(signed_redirect(logout_request_xml(a, "_logout11", subject=bob), a))
    codes = logout_response_at_a(back, idp_cert, "_logout11")
    assert codes == [STATUS + "Requester", STATUS + "UnknownPrincipal"]
    theirs = name_id_xml(b.name_id)
    back = flow.client.get(signed_redirect(logout_request_xml(a, "_logout12", subject=theirs), a))
    assert logout_response_at_a(back, idp_cert, "_logout12")[-1] == STATUS + "UnknownPrincipal"
    back = flow.client.get(signed_redirect(logout_request_xml(a, "_logout13", session_index="_other"), a))
    assert logout_response_at_a(back, idp_cert, "_logout13")[-1] == STATUS + "UnknownPrincipal"
    assert flow.client.get("/account").status_code == 200


# -- where every logout ends (issue 12): the sign-in page, in the person's language ------------------------

def test_asynchronous_logout_with_an_sp_not_answering_lands_on_the_english_sign_in_page(flow, parties):
    """Shibboleth SP 3's asynchronous LogoutRequest, B never confirms: the sign-in page, in English (and
    declared so), says the person is signed out and lists B as not confirmed."""
    a = parties["A"]
    flow.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB,en;q=0.9"
    step = flow.client.get(signed_redirect(logout_request_xml(a, "_logout9", asynchronous=True), a))
    assert signed_out(flow) and "SAMLRequest" in step.get_data(as_text=True)  # on to B
    token = form_of(step)["RelayState"]
    end = flow.client.get(f"/saml/slo/chain?token={token}&skip=1")  # "Continuer": B did not answer
    assert end.status_code == 302 and end.headers["Location"].endswith("/login?logged_out=1")
    html = flow.client.get(end.headers["Location"]).get_data(as_text=True)
    assert '<html lang="en">' in html and "You are now signed out." in html and 'name="email"' in html
    assert "b.example.org" in re.search(r'<ul id="slo-unconfirmed">(.*?)</ul>', html, re.S).group(1)
    assert "a.example.org" not in html  # A asked: it is not "told", nor listed


def test_the_sp_that_wants_a_logout_response_gets_it_not_the_sign_in_page(flow, parties, idp_cert):
    a = parties["A"]
    form = form_of(flow.client.get(signed_redirect(logout_request_xml(a, "_logout10"), a)))
    back = answer_b_by_post(flow, parties, form)
    assert logout_response_at_a(back, idp_cert, "_logout10", after_form=True) == [SUCCESS]


def test_the_outcome_is_shown_once_and_cannot_be_forged(flow, parties, client):
    a = parties["A"]
    step = flow.client.get(signed_redirect(logout_request_xml(a, "_logout11", asynchronous=True), a))
    end = flow.client.get(f"/saml/slo/chain?token={form_of(step)['RelayState']}&skip=1")
    assert "slo-unconfirmed" in flow.client.get(end.headers["Location"]).get_data(as_text=True)
    assert "slo-unconfirmed" not in flow.client.get(end.headers["Location"]).get_data(as_text=True)
    forged = flow.client.get("/login?logged_out=1&unconfirmed=Appelez+le+0800")
    assert "0800" not in forged.get_data(as_text=True)


def test_the_sp_display_name_and_its_wait_page_in_english(flow, parties):
    a = parties["A"]
    flow.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    step = flow.client.get(signed_redirect(logout_request_xml(a, "_logout12", asynchronous=True), a))
    waiting = flow.client.get(f"/saml/slo/chain?token={form_of(step)['RelayState']}")
    html = waiting.get_data(as_text=True)
    assert '<html lang="en">' in html and "has not confirmed your sign-out yet" in html
    assert ">Continue<" in html


def test_rejected_logout_request_page_in_english(flow, parties):
    flow.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = flow.client.get("/saml/slo?SAMLRequest=bm90IHNhbWw%3D")
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and '<html lang="en">' in html and "Cannot sign in" in html
    assert "The sign-out request received is not valid" in html


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)) + "]>",
], ids=["xxe", "billion-laughs"])
def test_sec02_a_logout_request_with_a_dtd_is_refused_by_the_gate(flow, parties, doctype, caplog):
    """SEC02 for SLO: a LogoutRequest signed with the SP's own key but carrying a DTD (an entity in its
    Issuer) is refused by the XML gate before it is parsed (the audit line says so); the session is
    untouched and nothing of the entity is shown."""
    a = parties["A"]
    entity = "&x;" if "passwd" in doctype else "&j;"
    xml = '<?xml version="1.0"?>' + doctype + logout_request_xml(a, "_logout_dtd").replace(
        "</saml:Issuer>", entity + "</saml:Issuer>")
    with caplog.at_level(logging.INFO):
        answer = flow.client.get(signed_redirect(xml, a))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "root:" not in page and "aaaa" not in page
    assert [(r.reason, r.detail) for r in caplog.records if r.getMessage() == "saml.slo.rejected"] == [
        ("UnsafeXml", "DTDForbidden")]
    assert flow.client.get("/account").status_code == 200
