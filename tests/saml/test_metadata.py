"""GET /saml/metadata: what every SP loads (checklist A)."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from saml2.xml.schema import _create_xml_schema_validator
from importlib.resources import files

import saml2.data.schemas
from tests.conftest import make_app
from tests.saml.conftest import NS, Flow, re_person

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
SHIBMD = "{urn:mace:shibboleth:metadata:1.0}"
MDUI = "{urn:oasis:names:tc:SAML:metadata:ui}"
ALG = "{urn:oasis:names:tc:SAML:metadata:algsupport}"
LANG = "{http://www.w3.org/XML/1998/namespace}lang"
IDP = "http://127.0.0.1:8000/saml/metadata"


@pytest.fixture
def legacy_account(make_account):
    """An account with a legacy eppn: its scope is configured, not read from the directory."""
    return make_account("jean@univ-exemple.fr", **re_person(eppn="jean@univ-exemple.fr"))


@pytest.fixture
def response(legacy_account, client):
    return client.get("/saml/metadata")


@pytest.fixture
def root(response):
    return etree.fromstring(response.data)


@pytest.fixture
def descriptor(root):
    return root.find(f"{{{MD}}}IDPSSODescriptor")


def test_a01_entity_id(root):
    """A01 [BRK]: one EntityDescriptor, absolute entityID <= 256 chars, <public_url>/saml/metadata by
    default.
    """
    assert etree.QName(root).localname == "EntityDescriptor"
    assert root.get("entityID") == IDP and len(IDP) <= 256


def test_a01_entity_id_from_settings(saml_config, redis_client):
    app = make_app({**saml_config, "saml": {**saml_config["saml"], "entity_id": "https://idp.uness.fr/idp"}})
    assert etree.fromstring(app.test_client().get("/saml/metadata").data).get("entityID") == \
        "https://idp.uness.fr/idp"


MDATTR = "{urn:oasis:names:tc:SAML:metadata:attribute}"
SAML_ATTR = "{urn:oasis:names:tc:SAML:2.0:assertion}Attribute"


def entity_attributes(root) -> dict[str, list[str]]:
    holder = root.find(f"{{{MD}}}Extensions/{MDATTR}EntityAttributes")
    return {a.get("Name"): [v.text for v in a] for a in holder.iter(SAML_ATTR)}


def test_ren04_research_and_scholarship_support_no_sirtfi_by_default(root):
    """REN04: the entity category support Renater IdPs publish for R&S (ATT06 is released);
    SIRTFI and the security contact only when the operator says so."""
    assert entity_attributes(root) == {
        "http://macedir.org/entity-category-support": ["http://refeds.org/category/research-and-scholarship"]}
    assert all(c.get("contactType") == "technical" for c in root.iter(f"{{{MD}}}ContactPerson"))
    assert b"refeds.org/sirtfi" not in etree.tostring(root)


def test_ren04_security_contact_and_sirtfi(saml_config, redis_client):
    """REN04: a REFEDS security contact (remd:contactType) and the SIRTFI assurance certification."""
    settings = {**saml_config["saml"], "security_contact": "securite@uness.fr", "sirtfi": True}
    root = etree.fromstring(make_app({**saml_config, "saml": settings}).test_client().get("/saml/metadata").data)
    assert entity_attributes(root)["urn:oasis:names:tc:SAML:attribute:assurance-certification"] == [
        "https://refeds.org/sirtfi"]
    security = [c for c in root.iter(f"{{{MD}}}ContactPerson") if c.get("contactType") == "other"]
    assert security[0].get("{http://refeds.org/metadata}contactType") == \
        "http://refeds.org/metadata/contactType/security"
    assert security[0].findtext(f"{{{MD}}}EmailAddress") == "mailto:securite@uness.fr"


def test_a02_sso_and_slo_on_redirect_and_post(descriptor):
    assert descriptor.get("protocolSupportEnumeration") == "urn:oasis:names:tc:SAML:2.0:protocol"
    for service in ("SingleSignOnService", "SingleLogoutService"):
        found = {(e.get("Binding"), e.get("Location")) for e in descriptor.iterfind(f"{{{MD}}}{service}")}
        path = "/saml/sso" if service.startswith("SingleSign") else "/saml/slo"
        bindings = "urn:oasis:names:tc:SAML:2.0:bindings:"
        assert found == {(bindings + "HTTP-Redirect", "http://127.0.0.1:8000" + path),
                         (bindings + "HTTP-POST", "http://127.0.0.1:8000" + path)}


def test_a03_scopes_with_regexp_false(descriptor):
    """A03 [BRK]: the gateway's scope and the configured extra ones, nothing else."""
    scopes = descriptor.findall(f"{{{MD}}}Extensions/{SHIBMD}Scope")
    assert {s.text for s in scopes} == {"uness.fr", "univ-prevue.fr", "Univ-Exemple.fr", "univ-exemple.fr", "univ.fr"}
    assert all(s.get("regexp") == "false" for s in scopes)


def test_a04_signing_key_descriptor(descriptor):
    """A04: use="signing", X.509, RSA >= 2048 bits."""
    keys = descriptor.findall(f"{{{MD}}}KeyDescriptor")
    assert [k.get("use") for k in keys] == ["signing"]
    der = base64.b64decode(keys[0].findtext(".//ds:X509Certificate", namespaces=NS))
    cert = x509.load_der_x509_certificate(der)
    assert cert.public_key().key_size >= 2048


def test_a04_next_certificate_published_but_not_used(saml_config, redis_client, keys, sps, make_account):
    """A04, SDP-IDP32: the next signing cert is in the metadata; responses are still signed with the
    current key.
    """
    next_cert = Path(keys["idp-next"].cert_file).read_text()
    app = make_app({**saml_config, "saml": {**saml_config["saml"], "next_signing_cert": next_cert}})
    client = app.test_client()
    metadata = client.get("/saml/metadata").data
    certs = etree.fromstring(metadata).findall(
        f".//{{{MD}}}KeyDescriptor[@use='signing']//ds:X509Certificate", NS)
    assert len(certs) == 2 and certs[1].text == keys["idp-next"].cert_b64
    make_account("alice@univ-exemple.fr")
    from tests.saml.conftest import FakeSP

    sp = FakeSP(sps["SIGNED"], metadata.decode())
    request_id, how = sp.request()
    posted = Flow(client).sso(how, email="alice@univ-exemple.fr")
    assert keys["idp-next"].cert_b64 not in posted.xml
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == ["alice@univ-exemple.fr"]


def test_a05_no_encryption_key_unless_configured(saml_config, redis_client, keys, descriptor):
    """A05 [BRK]: every KeyDescriptor is use="signing" unless a separate encryption key is configured."""
    assert all(k.get("use") == "signing" for k in descriptor.iterfind(f"{{{MD}}}KeyDescriptor"))
    pair = keys["idp-next"]
    app = make_app({**saml_config, "saml": {**saml_config["saml"], "encryption_key": pair.key_pem.decode(),
                                            "encryption_cert": Path(pair.cert_file).read_text()}})
    metadata = etree.fromstring(app.test_client().get("/saml/metadata").data)
    found = metadata.findall(f".//{{{MD}}}KeyDescriptor")
    assert [k.get("use") for k in found] == ["signing", "encryption"]
    assert found[1].find(f"{{{MD}}}EncryptionMethod") is not None


def test_a06_no_want_authn_requests_signed(descriptor):
    assert descriptor.get("WantAuthnRequestsSigned") is None


def test_a07_error_url_mdui_organization(descriptor, root):
    """A07: errorURL, mdui DisplayName/Description/InformationURL in fr and en, a Logo; Organization."""
    assert descriptor.get("errorURL") == "http://127.0.0.1:8000/saml/error"
    ui = descriptor.find(f"{{{MD}}}Extensions/{MDUI}UIInfo")
    for name in ("DisplayName", "Description", "InformationURL"):
        assert {e.get(LANG) for e in ui.iterfind(f"{MDUI}{name}")} == {"fr", "en"}
    logo = ui.find(f"{MDUI}Logo")
    assert logo.text == "http://127.0.0.1:8000/saml/static/logo.png"
    assert logo.get("width") and logo.get("height")
    organization = root.find(f"{{{MD}}}Organization")
    for name in ("OrganizationName", "OrganizationDisplayName", "OrganizationURL"):
        assert {e.get(LANG) for e in organization.iterfind(f"{{{MD}}}{name}")} == {"fr", "en"}


def test_a07_technical_contact(saml_config, redis_client):
    saml = {**saml_config["saml"], "technical_contact": "technique@uness.fr"}
    app = make_app({**saml_config, "saml": saml})
    root = etree.fromstring(app.test_client().get("/saml/metadata").data)
    contact = root.find(f"{{{MD}}}ContactPerson[@contactType='technical']")
    assert contact.findtext(f"{{{MD}}}EmailAddress") == "mailto:technique@uness.fr"


def test_a07_logo_and_error_page_are_served(client):
    with client.get("/saml/static/logo.png") as logo:
        assert logo.status_code == 200 and logo.mimetype == "image/png"
    assert client.get("/saml/error").status_code == 200


def test_a08_name_id_formats(descriptor, base_config, redis_client, sp_dir):
    """A08: transient and persistent; emailAddress only because an SP is configured for it."""
    formats = [e.text for e in descriptor.iterfind(f"{{{MD}}}NameIDFormat")]
    assert formats == ["urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
                       "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                       "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"]
    plain = make_app({**base_config, "saml": {"sp_metadata_dir": str(sp_dir)}})
    assert b"emailAddress" not in plain.test_client().get("/saml/metadata").data
    assert b"ArtifactResolutionService" not in plain.test_client().get("/saml/metadata").data


def test_a09_algorithms(root):
    """A09: alg:SigningMethod rsa-sha256 and alg:DigestMethod sha256 only."""
    extensions = root.find(f"{{{MD}}}Extensions")
    assert [e.get("Algorithm") for e in extensions.iterfind(f"{ALG}SigningMethod")] == [
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert [e.get("Algorithm") for e in extensions.iterfind(f"{ALG}DigestMethod")] == [
        "http://www.w3.org/2001/04/xmlenc#sha256"]
    assert b"sha1" not in etree.tostring(root).lower()


def test_a10_content_type_no_dtd_caching(response, client):
    """A10: application/samlmetadata+xml, no DTD, validUntil and cacheDuration, ETag (304 when unchanged)."""
    assert response.mimetype == "application/samlmetadata+xml"
    assert b"<!DOCTYPE" not in response.data
    root = etree.fromstring(response.data)
    assert root.get("validUntil").endswith("T00:00:00Z") and root.get("cacheDuration") == "PT6H"
    assert response.headers["ETag"]
    again = client.get("/saml/metadata", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_metadata_is_schema_valid(response):
    schemas = files(saml2.data.schemas)
    validator = _create_xml_schema_validator(str(schemas.joinpath("saml-schema-metadata-2.0.xsd")))
    validator.validate(response.data.decode())
