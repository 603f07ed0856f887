"""The SP oracles (tests/oracles, TST07) on real gateway Responses: the items of checklist C and D they
carry, and proof that each oracle fails where its SP would (an oracle that cannot fail proves nothing).

Broken Responses are real ones, changed and signed again with the gateway's own key, as a faulty IdP
would send them.
"""
from __future__ import annotations

import base64
import dataclasses
import re
import time
from collections.abc import Callable

import pytest
import xmlsec
from lxml import etree

from gateway.saml.wire.keys import DEV_KEY, pem_block
from tests.oracles.saml import IdpMetadata, Refused
from tests.oracles.shibsp3 import Rule, ShibbolethSP
from tests.oracles.ssp2 import SimpleSamlSP
from tests.saml.conftest import NS, FakeSP, Flow, Posted, response_root, re_person

ALICE = "alice@univ-exemple.fr"
IDP = "http://127.0.0.1:8000/saml/metadata"
Oracle = ShibbolethSP | SimpleSamlSP


def both(idp_metadata: str, sp: FakeSP, **shibboleth: object) -> tuple[ShibbolethSP, SimpleSamlSP]:
    """Fresh SPs (empty replay caches) that trust the gateway's metadata, with ``sp``'s entityID and key."""
    idp, keys = IdpMetadata.parse(idp_metadata), (sp.spec.key.key_pem,)
    return ShibbolethSP(idp, sp.spec.entity_id, keys, **shibboleth), SimpleSamlSP(idp, sp.spec.entity_id, keys)


def refusal(oracle: Oracle, saml_response: str, url: str) -> str:
    with pytest.raises(Refused) as refused:
        oracle.receive(saml_response, url)
    return refused.value.reason


def resigned(posted: Posted, change: Callable[[etree._Element], object], key_pem: bytes | None = None) -> str:
    """``posted`` (a plain assertion) changed, then its signatures made again, innermost first."""
    root = response_root(posted)
    change(root)
    xmlsec.tree.add_ids(root, ["ID"])
    key = key_pem or pem_block(DEV_KEY.read_text()).encode()
    for signature in sorted(root.iter(f"{{{NS['ds']}}}Signature"), key=lambda s: -len(list(s.iterancestors()))):
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(key, xmlsec.constants.KeyDataFormatPem)
        context.sign(signature)
    return base64.b64encode(etree.tostring(root)).decode()


@pytest.fixture
def plain(flow, make_sp, alice):
    """(SP, request ID, Posted): SIGNED has no encryption key, so its assertion is in clear."""
    sp = make_sp("SIGNED")
    request_id, how = sp.request()
    return sp, request_id, flow.sso(how, email=ALICE)


@pytest.fixture
def encrypted(flow, sp, alice):
    request_id, how = sp.request()
    return sp, request_id, flow.sso(how, email=ALICE)


def no_passive(flow: Flow, sp: FakeSP) -> tuple[str, Posted]:
    """An IsPassive request from a browser with no session: an error status (RSP10)."""
    request_id, how = sp.request(is_passive="true")
    return request_id, flow.sso(how)


# -- checklist C and D, as the SPs check them ------------------------------------------------------------

@pytest.mark.parametrize("name", ["MAIN", "SIGNED", "CBC", "EMAIL"])
def test_rsp02_destination_is_where_each_sp_receives_it(flow, make_sp, alice, idp_metadata, name):
    """RSP02 [BRK]: Destination is the ACS exactly, on success and on an error status: both SPs accept the
    Response at the ACS and refuse the same Response delivered anywhere else (SSP reports an error
    status before it looks at Destination; Shibboleth's decoder checks it first).
    """
    sp = make_sp(name)
    _, failed = no_passive(flow, sp)
    request_id, how = sp.request()
    posted = flow.sso(how, email=ALICE)
    for answer in (posted, failed):
        assert response_root(answer).get("Destination") == answer.action == sp.spec.acs_url
        for oracle in both(idp_metadata, sp):
            assert oracle.receive(answer.saml_response, answer.action).status
        shibboleth, simplesaml = both(idp_metadata, sp)
        assert "Destination" in refusal(shibboleth, answer.saml_response, answer.action + "-elsewhere")
        if answer is posted:
            assert "Destination" in refusal(simplesaml, answer.saml_response, answer.action + "-elsewhere")


def test_rsp03_in_response_to_issuer_and_ids(flow, plain, idp_metadata):
    """RSP03: InResponseTo is the request's ID, on success and on an error status (the SPs correlate);
    the Issuer is the gateway's entityID (no Format); IDs are xs:ID with >= 128 random bits, never reused.
    """
    sp, request_id, posted = plain
    passive_id, failed = no_passive(Flow(flow.client.application.test_client()), sp)  # no session there
    assert failed.xml.count(":NoPassive") == 1
    for expected, answer in ((request_id, posted), (passive_id, failed)):
        shibboleth, simplesaml = both(idp_metadata, sp, check_correlation=True)
        assert shibboleth.receive(answer.saml_response, answer.action, in_response_to=expected).status
        assert simplesaml.receive(answer.saml_response, answer.action, outstanding={expected}).solicited
    shibboleth = both(idp_metadata, sp, check_correlation=True)[0]
    with pytest.raises(Refused, match="correlation"):
        shibboleth.receive(posted.saml_response, posted.action, in_response_to="_another_request")
    stranger = dataclasses.replace(IdpMetadata.parse(idp_metadata), entity_id="https://idp.example.org/")
    for oracle in (ShibbolethSP(stranger, sp.spec.entity_id), SimpleSamlSP(stranger, sp.spec.entity_id)):
        assert re.search("Issuer|IdP with entity ID", refusal(oracle, posted.saml_response, posted.action))
    again = response_root(flow.sso(sp.request()[1]))
    ids = [e.get("ID") for answer in (posted, failed) for e in response_root(answer).iter() if e.get("ID")]
    ids += [e.get("ID") for e in again.iter() if e.get("ID")]
    assert len(ids) == len(set(ids)) == 5
    assert all(re.fullmatch(r"[A-Za-z_][\w.-]*", i) and len(i.lstrip("_")) * 4 >= 128 for i in ids)


def test_rsp04_one_assertion_with_one_authn_statement(encrypted, plain, idp_metadata):
    """RSP04: exactly one assertion (plain or encrypted) with one AuthnStatement and at most one
    AttributeStatement; without its AuthnStatement both SPs refuse it.
    """
    for sp, _, posted in (encrypted, plain):
        root = response_root(posted)
        assert len(root.findall("saml:Assertion", NS)) + len(root.findall("saml:EncryptedAssertion", NS)) == 1
        shibboleth, simplesaml = both(idp_metadata, sp)
        assert shibboleth.receive(posted.saml_response, posted.action).session_index
        assert simplesaml.receive(posted.saml_response, posted.action).session_index
    sp, _, posted = plain
    assertion = response_root(posted).find("saml:Assertion", NS)
    assert len(assertion.findall("saml:AuthnStatement", NS)) == 1
    assert len(assertion.findall("saml:AttributeStatement", NS)) == 1
    broken = resigned(posted, lambda root: root.find("saml:Assertion", NS).remove(
        root.find("saml:Assertion/saml:AuthnStatement", NS)))
    shibboleth, simplesaml = both(idp_metadata, sp)
    assert refusal(shibboleth, broken, posted.action) == \
        "A valid authentication statement was not found in the incoming message."
    assert refusal(simplesaml, broken, posted.action) == "No AuthnStatement found in assertion(s)."


def test_rsp11_values_at_most_256_characters_and_no_dtd(flow, make_sp, make_account, idp_metadata):
    """RSP11: values of at most 256 characters (the directory holds no longer one), seen whole by both SPs;
    no DTD, and a DOCTYPE is refused by both.
    """
    make_account(ALICE, **re_person(given_name="G" * 256))
    sp = make_sp("SIGNED")
    _, how = sp.request()
    posted = flow.sso(how, email=ALICE)
    shibboleth, simplesaml = both(idp_metadata, sp)
    seen = shibboleth.receive(posted.saml_response, posted.action)
    assert seen.attributes["givenName"] == ["G" * 256] and seen.attributes["sn"] == ["Martin"]
    assert all(len(v) <= 256 for values in seen.attributes.values() for v in values)
    assert len(seen.name_id.value) <= 256
    assert simplesaml.receive(posted.saml_response, posted.action).attributes["urn:oid:2.5.4.42"] == ["G" * 256]
    assert "<!DOCTYPE" not in posted.xml
    with_dtd = base64.b64encode(posted.xml.replace("?>", "?><!DOCTYPE r [<!ENTITY x 'y'>]>", 1).encode()).decode()
    for oracle in both(idp_metadata, sp):
        assert "DOCTYPE" in refusal(oracle, with_dtd, posted.action)


def test_cry03_one_reference_to_the_signed_element(plain, idp_metadata, keys):
    """CRY03: each Signature has one Reference to its own element's ID, enveloped + exc-c14n; its KeyInfo
    is ignored (metadata keys only). A Reference to another element, or another key, is refused by both.
    """
    sp, _, posted = plain
    root = response_root(posted)
    for element in (root, root.find("saml:Assertion", NS)):
        references = element.findall("ds:Signature/ds:SignedInfo/ds:Reference", NS)
        assert [r.get("URI") for r in references] == ["#" + element.get("ID")]

    def foreign_key_info(root: etree._Element) -> None:
        for cert in root.iter(f"{{{NS['ds']}}}X509Certificate"):
            cert.text = keys["intruder"].cert_b64

    def to_the_assertion(root: etree._Element) -> None:
        reference = root.find("ds:Signature/ds:SignedInfo/ds:Reference", NS)
        reference.set("URI", "#" + root.find("saml:Assertion", NS).get("ID"))

    for oracle in both(idp_metadata, sp):
        assert oracle.receive(resigned(posted, foreign_key_info), posted.action).status
    for oracle in both(idp_metadata, sp):
        assert "Reference URI" in refusal(oracle, resigned(posted, to_the_assertion), posted.action)
    intruder = resigned(posted, lambda root: None, key_pem=keys["intruder"].key_pem)
    for oracle in both(idp_metadata, sp):
        assert re.search("signature|Signature", refusal(oracle, intruder, posted.action))


# -- the oracles fail where their SPs would -----------------------------------------------------------

def test_undeclared_scope_drops_eppn_and_remote_user_falls_back(encrypted, idp_metadata):
    """A03, NID07 [BRK]: with the scope missing from the metadata, Shibboleth SP drops eppn, scoped
    affiliations, subject-id and pairwise-id, and REMOTE_USER silently becomes the persistent-id.
    """
    sp, _, posted = encrypted
    idp = IdpMetadata.parse(idp_metadata)
    seen = ShibbolethSP(idp, sp.spec.entity_id, (sp.spec.key.key_pem,)).receive(posted.saml_response, posted.action)
    assert seen.remote_user == seen.attributes["eppn"][0] == "alice@uness.fr" and not seen.dropped
    blind = ShibbolethSP(dataclasses.replace(idp, scopes=frozenset({"other.fr"})), sp.spec.entity_id,
                         (sp.spec.key.key_pem,))
    seen = blind.receive(posted.saml_response, posted.action)
    assert {d.attribute for d in seen.dropped if d.rule is Rule.SCOPE} == {
        "eppn", "affiliation", "subject-id", "pairwise-id"}
    assert "eppn" not in seen.attributes and seen.remote_user == seen.attributes["persistent-id"][0]
    assert seen.remote_user.startswith(f"{IDP}!{sp.spec.entity_id}!")


def test_affiliations_outside_the_whitelist_are_dropped(plain, idp_metadata):
    """ATT05: SupAnn affiliations such as "teacher" are dropped by the default SP policy (the directory
    refuses them; an IdP sending one anyway is made here).
    """
    sp, _, posted = plain

    def teacher(root: etree._Element) -> None:
        for value in root.iterfind(".//saml:Attribute[@FriendlyName='eduPersonScopedAffiliation']/"
                                   "saml:AttributeValue", NS):
            value.text = value.text.replace("student@", "teacher@")

    seen = both(idp_metadata, sp)[0].receive(resigned(posted, teacher), posted.action)
    assert seen.attributes["affiliation"] == ["member@uness.fr"]
    assert [(d.attribute, d.value, d.rule) for d in seen.dropped] == [
        ("affiliation", "teacher@uness.fr", Rule.VALUES)]


def test_name_id_values_that_shibboleth_loses(plain, idp_metadata):
    """NID06, NID02 [BRK]: an ePTID sent as a string, or with another SPNameQualifier, is dropped."""
    sp, _, posted = plain
    eptid = "saml:Assertion/saml:AttributeStatement/saml:Attribute[@FriendlyName='eduPersonTargetedID']"

    def as_string(root: etree._Element) -> None:
        value = root.find(eptid + "/saml:AttributeValue", NS)
        value.text = value[0].text
        value.remove(value[0])

    def other_qualifier(root: etree._Element) -> None:
        root.find(eptid + "/saml:AttributeValue/saml:NameID", NS).set("SPNameQualifier", "https://else.org/sp")

    for change, rule in ((as_string, Rule.DECODER), (other_qualifier, Rule.QUALIFIERS)):
        seen = both(idp_metadata, sp)[0].receive(resigned(posted, change), posted.action)
        assert [(d.attribute, d.rule) for d in seen.dropped] == [("persistent-id", rule)]


@pytest.mark.parametrize("change, shibboleth, simplesaml", [
    (lambda r: r.find("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData",
                      NS).set("Recipient", "https://signed.example.org/other"), "recipient mismatch", "Recipient"),
    (lambda r: r.find("saml:Assertion/saml:Conditions/saml:AudienceRestriction/saml:Audience", NS).__setattr__(
        "text", "https://other.example.org/sp"), "AudienceRestriction", "not a valid audience"),
    (lambda r: [s.getparent().remove(s) for s in list(r.iter(f"{{{NS['ds']}}}Signature"))],
     "neither it nor the Response is signed", "Neither the assertion nor the response was signed."),
])
def test_broken_responses_are_refused(plain, idp_metadata, change, shibboleth, simplesaml):
    """A wrong Recipient (RSP05), a wrong Audience (RSP06), no signature at all (CRY01): both SPs refuse."""
    sp, _, posted = plain
    broken = resigned(posted, change)
    shib, ssp = both(idp_metadata, sp)
    assert shibboleth in refusal(shib, broken, posted.action)
    assert simplesaml in refusal(ssp, broken, posted.action)


def test_tampered_late_replayed_or_unencrypted_responses_are_refused(plain, encrypted, idp_metadata):
    """A value changed after signing, a Response received 10 minutes late, the same Response twice,
    a plain assertion where SSP wants encryption, an encrypted one without the SP's key: all refused.
    """
    sp, _, posted = plain
    tampered = base64.b64encode(posted.xml.replace(ALICE, "mallory@univ-exemple.fr").encode()).decode()
    shibboleth, simplesaml = both(idp_metadata, sp)
    for oracle in (shibboleth, simplesaml):
        with pytest.raises(Refused):
            oracle.receive(tampered, posted.action)
        with pytest.raises(Refused, match="expired|past|IssueInstant"):
            oracle.receive(posted.saml_response, posted.action, now=time.time() + 600)
        oracle.receive(posted.saml_response, posted.action)
        with pytest.raises(Refused, match="replay|duplicate"):
            oracle.receive(posted.saml_response, posted.action)
    wants_encryption = SimpleSamlSP(IdpMetadata.parse(idp_metadata), sp.spec.entity_id, assertion_encryption=True)
    assert refusal(wants_encryption, posted.saml_response, posted.action) == \
        "Received unencrypted assertion, but encryption was enabled."
    main, _, sealed = encrypted
    for oracle in (ShibbolethSP(IdpMetadata.parse(idp_metadata), main.spec.entity_id),
                   SimpleSamlSP(IdpMetadata.parse(idp_metadata), main.spec.entity_id)):
        assert "no SP key decrypts" in refusal(oracle, sealed.saml_response, sealed.action)
