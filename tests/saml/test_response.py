"""The Response and Assertion an SP validates, and how they are signed and encrypted (checklist C, D)."""
from __future__ import annotations

import re
import subprocess
from datetime import datetime

import pytest
import xmlsec
from lxml import etree
from saml2 import BINDING_HTTP_REDIRECT

from gateway.saml.wire.keys import DEV_CERT, pem_block
from tests.conftest import make_app
from tests.saml.conftest import NS, FakeSP, Flow, assertion_of, response_root

ALICE = "alice@univ-exemple.fr"
MAIN = "https://sp.example.org/shibboleth"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def instant(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


@pytest.fixture
def answered(flow, sp, alice):
    """(request ID, what was posted) for MAIN, a Shibboleth-like SP with an encryption key."""
    request_id, how = sp.request(BINDING_HTTP_REDIRECT)
    return request_id, flow.sso(how, email=ALICE)


@pytest.fixture
def answered_plain(flow, make_sp, alice):
    sp = make_sp("SIGNED")
    request_id, how = sp.request()
    return sp, request_id, flow.sso(how, email=ALICE)


def test_rsp02_destination_is_the_acs_exactly(answered, sp):
    _, posted = answered
    assert response_root(posted).get("Destination") == sp.spec.acs_url == posted.action


def test_rsp03_in_response_to_issuer_and_ids(answered):
    request_id, posted = answered
    root = response_root(posted)
    assert root.get("InResponseTo") == request_id
    issuer = root.find("saml:Issuer", NS)
    assert issuer.text == "http://127.0.0.1:8000/saml/metadata" and issuer.get("Format") is None
    assert re.fullmatch(r"_[0-9a-f]{40}", root.get("ID"))  # starts with "_", 160 random bits
    assert root.get("Version") == "2.0" and root.get("IssueInstant").endswith("Z")


def test_rsp04_exactly_one_assertion_with_one_authn_statement(answered, sp):
    _, posted = answered
    root = response_root(posted)
    assert len(root.findall("saml:EncryptedAssertion", NS)) + len(root.findall("saml:Assertion", NS)) == 1
    assertion = assertion_of(posted, sp.spec.key)
    assert len(assertion.findall("saml:AuthnStatement", NS)) == 1
    assert len(assertion.findall("saml:AttributeStatement", NS)) <= 1


def test_rsp05_bearer_subject_confirmation(answered, sp):
    """RSP05 [BRK]: Recipient = ACS, NotOnOrAfter (<= 5 min), InResponseTo; no NotBefore, no Address."""
    request_id, posted = answered
    assertion = assertion_of(posted, sp.spec.key)
    confirmation = assertion.find("saml:Subject/saml:SubjectConfirmation", NS)
    assert confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    data = confirmation.find("saml:SubjectConfirmationData", NS)
    assert data.get("Recipient") == sp.spec.acs_url
    assert data.get("InResponseTo") == request_id
    assert data.get("NotBefore") is None and data.get("Address") is None
    assert 0 < instant(data.get("NotOnOrAfter")) - instant(assertion.get("IssueInstant")) <= 300


def test_rsp06_conditions_and_audience(answered, sp):
    """RSP06 [BRK]: Conditions NotBefore/NotOnOrAfter, AudienceRestriction = the SP entityID."""
    _, posted = answered
    assertion = assertion_of(posted, sp.spec.key)
    conditions = assertion.find("saml:Conditions", NS)
    assert conditions.findtext("saml:AudienceRestriction/saml:Audience", namespaces=NS) == MAIN
    assert instant(conditions.get("NotBefore")) <= instant(assertion.get("IssueInstant"))
    assert instant(conditions.get("NotOnOrAfter")) - instant(conditions.get("NotBefore")) <= 300


def test_rsp06_another_sp_refuses_the_response(answered, sps, idp_metadata):
    """RSP06: an SP with another entityID (same ACS and keys) rejects it (audience)."""
    import dataclasses

    request_id, posted = answered
    other = FakeSP(dataclasses.replace(sps["MAIN"], entity_id="https://other.example.org/sp"), idp_metadata)
    with pytest.raises(Exception):
        other.parse(posted.saml_response, request_id)


def test_rsp07_authn_statement(flow, answered, sp, make_sp):
    """RSP07: AuthnInstant = the sign-in time (not later than IssueInstant); SessionIndex per
    (session, SP).
    """
    _, posted = answered
    assertion = assertion_of(posted, sp.spec.key)
    statement = assertion.find("saml:AuthnStatement", NS)
    assert instant(statement.get("AuthnInstant")) <= instant(assertion.get("IssueInstant"))
    assert statement.get("SessionIndex").startswith("_")
    other = make_sp("CBC")
    _, how = other.request()
    other_statement = assertion_of(flow.sso(how), other.spec.key).find("saml:AuthnStatement", NS)
    assert other_statement.get("SessionIndex") != statement.get("SessionIndex")
    assert other_statement.get("AuthnInstant") == statement.get("AuthnInstant")


def test_rsp08_session_not_on_or_after_absent_by_default(answered, sp):
    _, posted = answered
    statement = assertion_of(posted, sp.spec.key).find("saml:AuthnStatement", NS)
    assert statement.get("SessionNotOnOrAfter") is None


def test_rsp08_session_not_on_or_after_at_least_8_hours_when_set(saml_config, alice_in, sps, redis_client):
    config = {**saml_config, "saml": {**saml_config["saml"], "session_hours": 8}}
    flow, sp = alice_in(config)
    _, how = sp.request()
    assertion = assertion_of(flow.sso(how), sp.spec.key)
    statement = assertion.find("saml:AuthnStatement", NS)
    assert instant(statement.get("SessionNotOnOrAfter")) - instant(assertion.get("IssueInstant")) >= 8 * 3600


def test_rsp09_all_times_are_utc_z_without_fractions(answered, sp):
    _, posted = answered
    text = posted.xml + etree.tostring(assertion_of(posted, sp.spec.key)).decode()
    times = re.findall(r'(?:Instant|NotBefore|NotOnOrAfter)="([^"]+)"', text)
    assert len(times) >= 6 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in times)


def test_rsp11_no_dtd_and_short_values(answered, sp):
    _, posted = answered
    assert "<!DOCTYPE" not in posted.xml
    assertion = assertion_of(posted, sp.spec.key)
    assert all(len("".join(v.itertext())) <= 256 for v in assertion.iter("{%s}AttributeValue" % NS["saml"]))


# -- D: signatures ---------------------------------------------------------------------------------

def xmlsec1_verifies(document: bytes, node: str, node_id: str, tmp_path) -> bool:
    """The xmlsec1 program, with the IdP certificate from the metadata only (CRY01)."""
    cert = tmp_path / "idp.crt"
    cert.write_text(pem_block(DEV_CERT.read_text()))
    data = tmp_path / "doc.xml"
    data.write_bytes(document)
    command = ["xmlsec1", "--verify", "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem", str(cert),
               "--id-attr:ID", node, "--node-id", node_id, str(data)]
    result = subprocess.run(command, capture_output=True, text=True)
    return result.returncode == 0


def test_cry01_response_and_assertion_both_signed(answered_plain, tmp_path):
    """CRY01: the Response and the Assertion carry a signature each, verified by xmlsec1 with the
    metadata cert.
    """
    sp, request_id, posted = answered_plain
    root = response_root(posted)
    document = posted.xml.encode()
    response_node = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
    assert xmlsec1_verifies(document, response_node, root.get("ID"), tmp_path)
    assertion = root.find("saml:Assertion", NS)
    assert xmlsec1_verifies(document, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", assertion.get("ID"),
                            tmp_path)
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]


def test_cry01_signature_directly_after_issuer(answered_plain):
    _, _, posted = answered_plain
    root = response_root(posted)
    for element in (root, root.find("saml:Assertion", NS)):
        assert [etree.QName(c).localname for c in element][:2] == ["Issuer", "Signature"]


def test_cry02_sha256_everywhere_and_no_sha1(answered, answered_plain, sp):
    """CRY02 [GW]: RSA-SHA256, SHA-256 digests, exclusive c14n on every signature; no SHA-1 anywhere."""
    _, posted = answered
    _, _, plain = answered_plain
    documents = [posted.xml, etree.tostring(assertion_of(posted, sp.spec.key)).decode(), plain.xml]
    for text in documents:
        tree = etree.fromstring(text.encode())
        for method in tree.iter("{%s}SignatureMethod" % DSIG):
            assert method.get("Algorithm") == RSA_SHA256
        for method in tree.iter("{%s}DigestMethod" % DSIG):
            assert method.get("Algorithm") == SHA256
        for method in tree.iter("{%s}CanonicalizationMethod" % DSIG):
            assert method.get("Algorithm") == EXC_C14N
        assert "sha1" not in text.lower()


def test_cry03_one_reference_to_the_signed_element(answered_plain):
    _, _, posted = answered_plain
    root = response_root(posted)
    cert = "".join(pem_block(DEV_CERT.read_text()).split("-----")[2].split())
    for element in (root, root.find("saml:Assertion", NS)):
        signature = element.find("ds:Signature", NS)
        references = signature.findall("ds:SignedInfo/ds:Reference", NS)
        assert len(references) == 1 and references[0].get("URI") == "#" + element.get("ID")
        transforms = [t.get("Algorithm") for t in references[0].iterfind("ds:Transforms/ds:Transform", NS)]
        assert transforms == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", EXC_C14N]
        assert signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) == cert


# -- D: encryption ---------------------------------------------------------------------------------

def test_cry04_encrypted_when_the_sp_metadata_has_an_encryption_key(answered, sp):
    """CRY04 [BRK]: EncryptedAssertion only; decrypted on its own it is a signed, verifiable assertion."""
    _, posted = answered
    root = response_root(posted)
    assert root.find("saml:Assertion", NS) is None
    encrypted = root.find("saml:EncryptedAssertion", NS)
    assert len(encrypted) == 1 and etree.QName(encrypted[0]).localname == "EncryptedData"
    assertion = assertion_of(posted, sp.spec.key)  # standalone decryption: every namespace declared inside
    assert assertion.find("saml:Subject/saml:EncryptedID", NS) is None
    assert not list(assertion.iter("{%s}EncryptedAttribute" % NS["saml"]))
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_file(str(DEV_CERT), xmlsec.constants.KeyDataFormatCertPem)
    xmlsec.tree.add_ids(assertion, ["ID"])
    context.verify(assertion.find("ds:Signature", NS))  # raises if wrong


def test_cry04_plain_assertion_without_encryption_key(answered_plain):
    _, _, posted = answered_plain
    root = response_root(posted)
    assert root.find("saml:EncryptedAssertion", NS) is None and root.find("saml:Assertion", NS) is not None


def test_cry05_rsa_oaep_and_aes256_gcm_by_default(answered):
    """CRY05 [GW]: RSA-OAEP key transport, AES-256-GCM content; never 3DES or RSA 1.5."""
    _, posted = answered
    methods = [m.get("Algorithm") for m in response_root(posted).iter("{%s}EncryptionMethod" % NS["xenc"])]
    assert methods == ["http://www.w3.org/2009/xmlenc11#aes256-gcm",
                       "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"]
    assert "tripledes" not in posted.xml and "rsa-1_5" not in posted.xml


def test_cry05_aes_cbc_when_the_sp_metadata_lists_only_cbc(flow, make_sp, alice):
    """CRY05: an SP whose md:EncryptionMethod lists only AES-256-CBC (old xmlseclibs) gets CBC."""
    sp = make_sp("CBC")
    request_id, how = sp.request()
    posted = flow.sso(how, email=ALICE)
    methods = [m.get("Algorithm") for m in response_root(posted).iter("{%s}EncryptionMethod" % NS["xenc"])]
    assert methods[0] == "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
    assert sp.parse(posted.saml_response, request_id).ava["sn"] == ["Martin"]


# -- per-SP policy and the xmlsec1 program backend -------------------------------------------------

@pytest.fixture
def alice_in(redis_client, sps, make_account):
    """An app built from ``config`` with alice signed in: (flow, MAIN's FakeSP)."""
    def start(config: dict, **sp_options):
        app = make_app(config)
        client = app.test_client()
        metadata = client.get("/saml/metadata").get_data(as_text=True)
        make_account(ALICE, given_name="Alice", family_name="Martin")
        flow = Flow(client)
        flow.sign_in(ALICE)
        return flow, FakeSP(sps["MAIN"], metadata, **sp_options)
    return start


@pytest.mark.parametrize("option, signed", [("sign_response", ["Assertion"]),
                                            ("sign_assertion", ["Response"])])
def test_cry01_per_sp_signing_policy(saml_config, alice_in, option, signed):
    """CRY01: both signed by default; one can be turned off per SP (never both)."""
    config = {**saml_config, "saml": {**saml_config["saml"], "sp": {MAIN: {option: False, "encrypt": False}}}}
    flow, sp = alice_in(config, want_response_signed=option != "sign_response",
                        want_assertions_signed=option != "sign_assertion")
    request_id, how = sp.request()
    posted = flow.sso(how)
    root = response_root(posted)
    found = [etree.QName(s.getparent()).localname for s in root.iter("{%s}Signature" % DSIG)]
    assert found == signed
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]


def test_cry04_per_sp_opt_out_of_encryption(saml_config, alice_in):
    config = {**saml_config, "saml": {**saml_config["saml"], "sp": {MAIN: {"encrypt": False}}}}
    flow, sp = alice_in(config)
    request_id, how = sp.request()
    posted = flow.sso(how)
    assert response_root(posted).find("saml:Assertion", NS) is not None
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]


def test_want_assertions_signed_in_metadata_wins_over_the_policy(app, sps):
    """CRY01, SDP-MD01: WantAssertionsSigned="true" keeps the assertion signed whatever the policy says."""
    import dataclasses

    from gateway.saml.sp.nameids import IssuedNameId
    from gateway.saml.sp.policy import SpPolicy
    from gateway.saml.sso.response import Addressee, AssertionContent, build_success

    idp = app.extensions["gateway.saml"]
    sp = dataclasses.replace(idp.providers[MAIN], want_assertions_signed=True, encryption_certs=(),
                             policy=SpPolicy(sign_assertion=False))
    transient = IssuedNameId("x", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient")
    ppt = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    content = AssertionContent(transient, "_s", 1_700_000_000, ppt, {})
    document = build_success(idp, Addressee(sp, sps["MAIN"].acs_url, "_r"), content, 1_700_000_001)
    root = etree.fromstring(document)
    assert root.find("saml:Assertion/ds:Signature", NS) is not None


def test_the_xmlsec1_program_backend_gives_the_same_result(saml_config, alice_in):
    """saml.crypto_backend = "xmlsec1": pysaml2's one-process-per-signature way, still a valid
    encrypted answer.
    """
    config = {**saml_config, "saml": {**saml_config["saml"], "crypto_backend": "xmlsec1"}}
    flow, sp = alice_in(config)
    request_id, how = sp.request()
    posted = flow.sso(how)
    assert response_root(posted).find("saml:EncryptedAssertion", NS) is not None
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]
