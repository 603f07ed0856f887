"""The Responses the IdP sends, read against the SAML 2.0 schemas (pysaml2's validator: saml, samlp,
xmldsig, xenc), and the values written into them as text reaching the SP unchanged.

The Response and its Assertion are written from string templates (:mod:`gateway.saml.sso.response`),
so these tests hold the text to the schema and to the escaping: a value with markup in it is data.
"""
from __future__ import annotations

from lxml import etree
from saml2.sigver import XMLSchemaError, validate_doc_with_schema

from tests.saml.conftest import ALICE, NS, assertion_of, re_person, status_codes

#: What a person may type as a name: markup, quotes, an ampersand, a CDATA end (control characters
#: are refused by the directory).
ODD = 'Alice <b>"&amp;\' ]]> Martin</saml:AttributeValue>'


def valid(document: bytes | str) -> bool:
    try:
        validate_doc_with_schema(document if isinstance(document, str) else document.decode())
    except XMLSchemaError:
        return False
    return True


def test_an_encrypted_signed_response_and_its_assertion_are_schema_valid(flow, sp, keys, make_account):
    make_account(ALICE, **re_person(display_name=ODD))
    request_id, how = sp.request()
    posted = flow.sso(how, email=ALICE)
    assert "EncryptedAssertion" in posted.xml  # MAIN has an encryption key
    assert valid(posted.xml)
    assertion = assertion_of(posted, keys["main"])
    assert valid(etree.tostring(assertion))
    assert sp.parse(posted.saml_response, request_id).ava["displayName"] == [ODD]


def test_a_signed_assertion_in_the_clear_is_schema_valid(flow, make_sp, make_account):
    make_account(ALICE, **re_person(display_name=ODD))
    signed = make_sp("SIGNED")  # no encryption key: the signed Assertion goes in the clear
    request_id, how = signed.request()
    posted = flow.sso(how, email=ALICE)
    assert "EncryptedAssertion" not in posted.xml and valid(posted.xml)
    values = assertion_of(posted).findall(".//saml:Attribute[@FriendlyName='displayName']/saml:AttributeValue",
                                          NS)
    assert [v.text for v in values] == [ODD] and not list(values[0])  # text, no element slipped in
    assert signed.parse(posted.saml_response, request_id).ava["displayName"] == [ODD]


def test_an_error_status_response_is_schema_valid(flow, sp):
    _, how = sp.request(is_passive="true")
    posted = flow.sso(how)
    assert status_codes(posted)[-1] == "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
    assert valid(posted.xml)


def test_the_validator_refuses_what_the_schema_refuses(flow, sp, alice):
    """The check above can fail: the same Response with its Issuer after its Status is refused."""
    posted = flow.sso(sp.request()[1], email=ALICE)
    root = etree.fromstring(posted.xml.encode())
    root.append(root.find("saml:Issuer", NS))
    assert valid(posted.xml) and not valid(etree.tostring(root))
