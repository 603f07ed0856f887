"""Receiving AuthnRequests: ACS choice, signatures, replay, time, and attacks (checklist B, N)."""
from __future__ import annotations

import base64
import copy
import datetime
import time
import zlib
from pathlib import Path
from html import unescape
from urllib.parse import quote_plus, urlencode

import pytest
from lxml import etree
from saml2 import BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from tests.saml.conftest import (
    Flow, authn_request_xml, deflate, read_form, redirect_query, sign_query, status_codes,
)

MAIN = "https://sp.example.org/shibboleth"
SIGNED = "https://signed.example.org/sp"
ACS = "https://sp.example.org/Shibboleth.sso/SAML2/"


def get(flow: Flow, query: str):
    return flow.client.get("/saml/sso?" + query)


def assert_refused(response, text: str | None = None) -> None:
    """A French page, 400, and no redirect anywhere (REQ02, REQ07, RSP10)."""
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 400, page[:300]
    assert "Location" not in response.headers
    assert "Connexion impossible" in page and "SAMLResponse" not in page and "Traceback" not in page
    if text:
        assert text in page


def signed_in(flow: Flow, sp, email: str = "alice@univ-exemple.fr") -> None:
    _, how = sp.request()
    flow.sso(how, email=email)


def now_minus(seconds: int) -> str:
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- REQ02 / REQ03: the AssertionConsumerService ---------------------------------------------------

def test_req02_acs_exact_match_by_value(flow, sp, alice):
    """REQ02: an ACS URL equal to a metadata Location is used, even the non-default one."""
    signed_in(flow, sp)
    posted = read_form(get(flow, redirect_query(authn_request_xml(MAIN, "_a1", acs=ACS + "POST-first"))))
    assert posted.action == ACS + "POST-first"
    assert 'Destination="https://sp.example.org/Shibboleth.sso/SAML2/POST-first"' in posted.xml


def test_req02_acs_by_index(flow, sp, alice):
    """REQ02: AssertionConsumerServiceIndex is matched against @index."""
    signed_in(flow, sp)
    xml = authn_request_xml(MAIN, "_a2", extra_attrs=' AssertionConsumerServiceIndex="1"')
    assert read_form(get(flow, redirect_query(xml))).action == ACS + "POST-first"


def test_req02_without_acs_the_is_default_endpoint_not_the_first(flow, sp, alice):
    """REQ02 [GW]: neither URL nor index -> isDefault="true" (index 2), not pysaml2's first endpoint."""
    signed_in(flow, sp)
    assert read_form(get(flow, redirect_query(authn_request_xml(MAIN, "_a3")))).action == ACS + "POST"


@pytest.mark.parametrize("url", [
    ACS.upper() + "POST", ACS + "post", ACS + "POST/", "https://sp.example.org:443/Shibboleth.sso/SAML2/POST",
    "https://evil.example.com/Shibboleth.sso/SAML2/POST",
])
def test_req02_acs_mismatch_is_an_error_page_not_a_redirect(flow, sp, alice, url):
    """REQ02: case, trailing slash, :443 or another host -> error page, no redirect, nothing posted."""
    signed_in(flow, sp)
    response = get(flow, redirect_query(authn_request_xml(MAIN, "_m", acs=url)))
    assert_refused(response, "adresse qui n'est pas déclarée")


def test_req02_unknown_index_is_refused(flow):
    xml = authn_request_xml(MAIN, "_i", extra_attrs=' AssertionConsumerServiceIndex="9"')
    assert_refused(get(flow, redirect_query(xml)))


def test_req02_url_and_index_together_are_refused(flow):
    xml = authn_request_xml(MAIN, "_ui", acs=ACS + "POST", extra_attrs=' AssertionConsumerServiceIndex="2"')
    assert_refused(get(flow, redirect_query(xml)))


def test_req03_artifact_binding_is_not_silently_replaced(flow, sp, alice):
    """REQ03: ProtocolBinding=Artifact at the Artifact endpoint -> no assertion, a local error."""
    signed_in(flow, sp)
    artifact = f' AssertionConsumerServiceURL="{ACS}Artifact" ProtocolBinding="{BINDING_HTTP_ARTIFACT}"'
    xml = authn_request_xml(MAIN, "_art", extra_attrs=artifact)
    assert_refused(get(flow, redirect_query(xml)), "méthode de réponse")


# -- REQ07: issuer, destination, time, version -----------------------------------------------------

def test_req07_unknown_issuer_is_an_error_page(flow):
    """REQ07: an Issuer without SPSSODescriptor in the metadata -> error page, no redirect."""
    query = redirect_query(authn_request_xml("https://unknown.example.org/sp"))
    assert_refused(get(flow, query), "pas connu")


def test_req07_wrong_destination(flow):
    """REQ07: Destination must be this SSO endpoint."""
    other = "https://other-idp.example.org/idp/profile/SAML2/Redirect/SSO"
    xml = authn_request_xml(MAIN, "_d", destination=other)
    assert_refused(get(flow, redirect_query(xml)), "autre fournisseur")


def test_req07_absent_destination_is_accepted(flow, sp, alice):
    signed_in(flow, sp)
    read_form(get(flow, redirect_query(authn_request_xml(MAIN, "_nd", destination=None))))


def test_rsp09_issue_instant_4_minutes_off_is_accepted(flow, sp, alice):
    """RSP09: 3-5 minutes of skew are tolerated."""
    signed_in(flow, sp)
    read_form(get(flow, redirect_query(authn_request_xml(MAIN, "_t4", issue_instant=now_minus(240)))))
    read_form(get(flow, redirect_query(authn_request_xml(MAIN, "_t4f", issue_instant=now_minus(-240)))))


@pytest.mark.parametrize("seconds", [600, -600])
def test_req07_old_or_future_issue_instant_is_refused(flow, seconds):
    """REQ07, RSP09: 10 minutes off -> refused."""
    xml = authn_request_xml(MAIN, f"_t{seconds}", issue_instant=now_minus(seconds))
    assert_refused(get(flow, redirect_query(xml)), "trop ancienne")


def test_req07_version_must_be_2_0(flow):
    xml = authn_request_xml(MAIN, "_v").replace('Version="2.0"', 'Version="1.1"')
    assert_refused(get(flow, redirect_query(xml)))


# -- SEC05: replay ---------------------------------------------------------------------------------

def test_sec05_replayed_request_is_refused(flow, sp, alice):
    """SEC05: the same request ID twice -> the second is refused (request IDs kept in Redis, SET NX + TTL)."""
    signed_in(flow, sp)
    query = redirect_query(authn_request_xml(MAIN, "_replay"))
    read_form(get(flow, query))
    assert_refused(get(flow, query), "déjà été utilisée")


def test_sec05_request_ids_expire(flow, redis_client):
    get(flow, redirect_query(authn_request_xml(MAIN, "_ttl")))
    keys = [k for k in redis_client.scan_iter("gw:saml:request-id:*")]
    assert len(keys) == 1 and 0 < redis_client.ttl(keys[0]) <= 2 * 300 + 60


# -- REQ04-REQ06, CRY06: signatures ----------------------------------------------------------------

def test_req04_unsigned_request_accepted(flow, sp, alice):
    """REQ04: unsigned requests are accepted from SPs that do not declare AuthnRequestsSigned."""
    signed_in(flow, sp)
    read_form(get(flow, redirect_query(authn_request_xml(MAIN, "_u"))))


def test_req05_unsigned_request_refused_when_metadata_says_authn_requests_signed(flow, make_sp):
    """REQ05 [GW]: per-SP AuthnRequestsSigned="true" -> unsigned requests refused (both bindings)."""
    sp = make_sp("SIGNED")
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        _, how = sp.request(binding, sign=False)
        assert_refused(flow.send(how), "signature")


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_req04_signed_request_verified(flow, make_sp, alice, binding):
    """REQ04, REQ05: a request signed with the metadata key is accepted (Redirect query signature, POST
    enveloped).
    """
    sp = make_sp("SIGNED")
    request_id, how = sp.request(binding)
    posted = flow.sso(how, email="alice@univ-exemple.fr")
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == ["alice@univ-exemple.fr"]


def test_req06_redirect_signature_over_the_raw_php_style_query(flow, keys, make_sp, alice):
    """REQ06 [GW]: '~' as %7E, space as '+', '/' as %2F and lowercase hex, signed as sent: verified."""
    signed_in(flow, make_sp("MAIN"))
    relay = "https://app.univ-exemple.fr/~dupont/mes cours/?a=1"
    encoded = quote_plus(relay, safe="").replace("~", "%7E").replace("%3F", "%3f")
    request = quote_plus(deflate(authn_request_xml(SIGNED, "_php")), safe="")
    query = f"SAMLRequest={request}&RelayState={encoded}"
    posted = read_form(get(flow, sign_query(query, keys["signed"].key_pem)))
    assert posted.relay_state == relay


def test_cry06_request_signed_with_the_second_metadata_key(flow, keys, make_sp, alice):
    """CRY06: every signing key of the SP metadata is tried (rollover)."""
    signed_in(flow, make_sp("MAIN"))
    query = redirect_query(authn_request_xml(SIGNED, "_k2"), relay_state="x")
    read_form(get(flow, sign_query(query, keys["signed2"].key_pem)))


def test_req04_signature_by_a_key_not_in_metadata_is_refused(flow, keys):
    """REQ04, CRY07: only metadata keys verify."""
    query = redirect_query(authn_request_xml(SIGNED, "_intruder"), relay_state="x")
    assert_refused(get(flow, sign_query(query, keys["intruder"].key_pem)), "signature")


def test_req04_altered_signature_is_refused(flow, keys):
    query = sign_query(redirect_query(authn_request_xml(SIGNED, "_alt"), relay_state="x"),
                       keys["signed"].key_pem)
    head, signature = query.rsplit("Signature=", 1)
    flipped = ("A" if signature[10] != "A" else "B")
    assert_refused(get(flow, head + "Signature=" + signature[:10] + flipped + signature[11:]), "signature")


def test_req04_tampered_request_with_a_valid_signature_is_refused(flow, keys):
    """REQ04: the signature of another SAMLRequest does not carry over."""
    signed = sign_query(redirect_query(authn_request_xml(SIGNED, "_orig"), relay_state="x"),
                        keys["signed"].key_pem)
    other = redirect_query(authn_request_xml(SIGNED, "_other"), relay_state="x").split("&", 1)[0]
    tampered = other + "&" + signed.split("&", 1)[1]
    assert_refused(get(flow, tampered), "signature")


def test_req04_tampered_relay_state_is_refused(flow, keys):
    signed = sign_query(redirect_query(authn_request_xml(SIGNED, "_rs"), relay_state="x"),
                        keys["signed"].key_pem)
    assert_refused(get(flow, signed.replace("RelayState=x", "RelayState=y")), "signature")


def test_req04_sha1_query_signature_is_refused(flow, keys):
    query = redirect_query(authn_request_xml(SIGNED, "_sha1"), relay_state="x")
    assert_refused(get(flow, sign_query(query, keys["signed"].key_pem,
                                        "http://www.w3.org/2000/09/xmldsig#rsa-sha1")), "signature")


# -- SEC01: signature wrapping on POST -------------------------------------------------------------

def signed_post_xml(make_sp, request_id: str = "_xsw") -> str:
    sp = make_sp("SIGNED")
    _, how = sp.request(BINDING_HTTP_POST)
    return base64.b64decode(how["data"]["SAMLRequest"]).decode()


def post(flow: Flow, xml: str | bytes):
    document = xml if isinstance(xml, bytes) else xml.encode()
    return flow.client.post("/saml/sso", data={"SAMLRequest": base64.b64encode(document).decode()})


def test_sec01_second_signature_is_refused(flow, make_sp):
    root = etree.fromstring(signed_post_xml(make_sp).encode())
    signature = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    signature.addnext(copy.deepcopy(signature))
    assert_refused(post(flow, etree.tostring(root).decode()))


def test_sec01_wrapped_copy_is_refused(flow, make_sp):
    """XSW: the genuine signed request moved inside the Extensions of a forged one -> refused."""
    genuine = etree.fromstring(signed_post_xml(make_sp).encode())
    forged = etree.fromstring(authn_request_xml(SIGNED, "_forged").encode())
    extensions = etree.SubElement(forged, "{urn:oasis:names:tc:SAML:2.0:protocol}Extensions")
    extensions.append(genuine)
    forged.insert(1, extensions)
    assert_refused(post(flow, etree.tostring(forged).decode()))


def test_sec01_forged_root_wrapping_the_signature_is_refused(flow, make_sp):
    """XSW: a forged request carrying the genuine Signature (its Reference points elsewhere) -> refused."""
    genuine = etree.fromstring(signed_post_xml(make_sp).encode())
    forged = etree.fromstring(authn_request_xml(SIGNED, "_forged2").encode())
    forged.insert(1, genuine.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    assert_refused(post(flow, etree.tostring(forged).decode()))


def test_sec01_changed_id_breaks_the_reference(flow, make_sp):
    xml = signed_post_xml(make_sp)
    import re

    request_id = re.search(r' ID="([^"]+)"', xml).group(1)
    assert_refused(post(flow, xml.replace(f' ID="{request_id}"', ' ID="_changed"', 1)), "signature")


def test_sec01_content_changed_after_signing(flow, make_sp):
    xml = signed_post_xml(make_sp).replace('IssueInstant="', 'ForceAuthn="true" IssueInstant="', 1)
    assert_refused(post(flow, xml), "signature")


def test_sec04_comment_in_issuer_is_read_whole(flow):
    """SEC04: 'https://signed.example.org/sp<!---->.evil' is read as the full string, an unknown SP."""
    xml = authn_request_xml("https://signed.example.org/sp<!---->.evil")
    assert_refused(get(flow, redirect_query(xml)), "pas connu")


# -- SEC02, SEC13: hostile XML ---------------------------------------------------------------------

XXE = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       + authn_request_xml(MAIN, "_xxe").replace("</saml:Issuer>", "&x;</saml:Issuer>"))
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
          + ']>' + authn_request_xml(MAIN, "_lol").replace("</saml:Issuer>", "&j;</saml:Issuer>"))
PARAMETER = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
             + authn_request_xml(MAIN, "_pe"))
#: A DOCTYPE with only an external subset (no declaration for the entity handlers to see), and the XXE in
#: UTF-16 with its BOM (the gate and lxml must read the same characters).
EXTERNAL_DTD = ('<?xml version="1.0"?><!DOCTYPE samlp:AuthnRequest SYSTEM "http://127.0.0.1:9/x.dtd">'
                + authn_request_xml(MAIN, "_dtd"))
UTF16 = XXE.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")


@pytest.mark.parametrize("document", [XXE, LAUGHS, PARAMETER, EXTERNAL_DTD],
                         ids=["xxe", "billion-laughs", "parameter-entity", "external-dtd"])
@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_sec02_dtd_entities_and_bombs_are_refused_quickly(flow, document, binding):
    """SEC02: external entity, billion laughs, parameter entity: refused, fast, nothing read or fetched."""
    started = time.perf_counter()
    if binding == "redirect":
        response = get(flow, urlencode({"SAMLRequest": deflate(document)}))
    else:
        response = post(flow, document)
    assert time.perf_counter() - started < 0.5
    assert_refused(response, "éléments interdits")
    assert "root:" not in response.get_data(as_text=True)


def test_sec02_an_xxe_in_utf16_is_refused_by_the_gate(flow):
    """SEC02: the gate reads the UTF-16 document as lxml would, and finds its DOCTYPE (Redirect; by POST,
    what does not start with "<" is taken for DEFLATE and refused as malformed)."""
    assert_refused(get(flow, urlencode({"SAMLRequest": deflate(UTF16)})), "éléments interdits")
    assert_refused(post(flow, UTF16))


def test_sec13_deflate_bomb_is_refused_before_inflating_it_all(flow):
    """SEC13: ~10 KB that would inflate to 10 MB."""
    padding = "<!--" + " " * 10_000_000 + "-->"
    bomb = authn_request_xml(MAIN, "_bomb").replace("</saml:Issuer>", "</saml:Issuer>" + padding)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(bomb.encode()) + compressor.flush()
    assert len(data) < 20_000
    started = time.perf_counter()
    assert_refused(get(flow, urlencode({"SAMLRequest": base64.b64encode(data).decode()})))
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("query", [
    "", "SAMLRequest=", "SAMLRequest=%%%",
    "SAMLRequest=" + quote_plus(base64.b64encode(b"not deflate").decode()),
    "SAMLRequest=" + quote_plus(deflate("<notxml")), "SAMLRequest=" + quote_plus(deflate("<x/>")),
    "SAMLRequest=" + quote_plus(deflate("<samlp:AuthnRequest/>")),  # a prefix never declared
    "SAMLRequest=a&SAMLRequest=b",
])
def test_req01_malformed_requests_get_the_error_page(flow, query):
    assert_refused(get(flow, query))


NAME_ID_POLICY = '<samlp:NameIDPolicy AllowCreate="true"/>'
CONTEXT = ('<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>'
           'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>'
           '</samlp:RequestedAuthnContext>')


@pytest.mark.parametrize(("request_id", "extra_attrs", "body"), [
    ("1starts-with-a-digit", "", ""),
    ("_ok", ' ForceAuthn="yes"', ""),
    ("_ok", ' IsPassive="TRUE"', ""),
    ("_ok", ' AssertionConsumerServiceIndex="-1"', ""),
    ("_ok", ' AssertionConsumerServiceIndex="70000"', ""),
    ("_ok", ' AttributeConsumingServiceIndex="x"', ""),
    ("_ok", ' Surprise="1"', ""),
    ("_ok", "", "<saml:Issuer>https://sp.example.org/shibboleth</saml:Issuer>"),
    ("_ok", "", CONTEXT + NAME_ID_POLICY),
    ("_ok", "", '<samlp:Unknown/>'),
    ("_ok", "", '<samlp:NameIDPolicy AllowCreate="maybe"/>'),
    ("_ok", "", CONTEXT.replace("exact", "roughly")),
    ("_ok", "", '<samlp:RequestedAuthnContext/>'),
], ids=["id-digit", "force-authn", "is-passive", "index-negative", "index-too-big", "attribute-index",
        "unknown-attribute", "two-issuers", "children-out-of-order", "unknown-child", "allow-create",
        "comparison", "empty-context"])
def test_req01_requests_the_schema_refuses_get_the_error_page(flow, request_id, extra_attrs, body):
    """REQ01: what samlp:AuthnRequestType forbids is refused before anything else is read."""
    xml = authn_request_xml(MAIN, request_id, extra_attrs=extra_attrs, body=body)
    assert_refused(get(flow, redirect_query(xml)), "illisible")


def test_req01_schema_valid_optional_parts_are_accepted(flow, sp, alice):
    """REQ01: Extensions, NameIDPolicy, RequestedAuthnContext, Scoping in schema order: answered."""
    signed_in(flow, sp)
    body = ('<samlp:Extensions><x:y xmlns:x="urn:example:ext"/></samlp:Extensions>' + NAME_ID_POLICY + CONTEXT
            + '<samlp:Scoping ProxyCount="1"/>')
    xml = authn_request_xml(MAIN, "_schema_ok", extra_attrs=' ForceAuthn="0" IsPassive="false"', body=body)
    response = get(flow, redirect_query(xml))
    assert response.status_code == 200 and "SAMLResponse" in response.get_data(as_text=True)


# -- REQ14: Subject in the request -----------------------------------------------------------------

def test_req14_subject_in_the_request_is_not_answered_for_someone_else(flow, sp, alice):
    """REQ14: a Subject naming another person -> RequestUnsupported, no assertion about anyone."""
    signed_in(flow, sp)
    subject = '<saml:Subject><saml:NameID>bob@univ-exemple.fr</saml:NameID></saml:Subject>'
    posted = read_form(get(flow, redirect_query(authn_request_xml(MAIN, "_subj", body=subject))))
    assert status_codes(posted)[-1] == "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported"
    assert "Assertion" not in posted.xml


def signed_by(key_pair, xml: str) -> str:
    """``xml`` signed (enveloped, with its certificate in KeyInfo) by ``key_pair``, as an attacker could."""
    from gateway.saml.wire.crypto import InProcessSigner, add_signature_template
    from gateway.saml.wire.keys import KeyPair

    pair = KeyPair.load(key_pair.key_pem.decode(), Path(key_pair.cert_file).read_text(), "test")
    root = etree.fromstring(xml.encode())
    add_signature_template(root, pair.cert, pair.algorithm)
    return etree.tostring(InProcessSigner(pair).sign(root, root.get("ID"))).decode()


def test_cry07_embedded_certificate_is_ignored(flow, keys):
    """CRY07: a POST request signed by a key not in the metadata, its cert in KeyInfo -> refused."""
    forged = signed_by(keys["intruder"], authn_request_xml(SIGNED, "_embedded"))
    assert_refused(post(flow, forged), "signature")


def test_cry07_metadata_key_in_post_is_accepted(flow, keys, make_sp, alice):
    signed_in(flow, make_sp("MAIN"))
    read_form(post(flow, signed_by(keys["signed"], authn_request_xml(SIGNED, "_genuine"))))


def test_cry07_hmac_signature_method_is_refused(flow, keys):
    xml = signed_by(keys["signed"], authn_request_xml(SIGNED, "_hmac"))
    hmac = xml.replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                       "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    assert_refused(post(flow, hmac), "signature")


# -- SEC03: only enveloped-signature and c14n transforms, same-document references ------------------

XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"


def test_sec03_xslt_transform_in_a_signature_is_refused(flow, make_sp):
    """SEC03: a Reference carrying an XSLT transform (SAML Raider's ApplyXsltTest) is refused unevaluated."""
    root = etree.fromstring(signed_post_xml(make_sp).encode())
    transforms = root.find(".//{http://www.w3.org/2000/09/xmldsig#}Transforms")
    xslt = etree.SubElement(transforms, "{http://www.w3.org/2000/09/xmldsig#}Transform", Algorithm=XSLT)
    etree.SubElement(xslt, "{http://www.w3.org/1999/XSL/Transform}stylesheet", version="1.0")
    assert_refused(post(flow, etree.tostring(root).decode()))


def test_sec03_reference_to_a_remote_uri_is_refused(flow, make_sp):
    """SEC03: a Reference URI that is not '#<the request's ID>' (SSRF vector) is refused, never fetched."""
    root = etree.fromstring(signed_post_xml(make_sp).encode())
    reference = root.find(".//{http://www.w3.org/2000/09/xmldsig#}Reference")
    reference.set("URI", "http://127.0.0.1:9/steal")
    assert_refused(post(flow, etree.tostring(root).decode()))
