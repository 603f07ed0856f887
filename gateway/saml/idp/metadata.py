"""The IdP's metadata, what every SP loads (A: A01-A10; saml2int SDP-IDP33; Meta §2.3, §2.4.3).

One EntityDescriptor: SHA-256 algorithm support (MDAlg, A09), an
IDPSSODescriptor with a shibmd:Scope (regexp="false") for every scope the IdP
asserts (A03), mdui in French and English, signing KeyDescriptors (the current
certificate and the next one during a rollover, A04), an encryption
KeyDescriptor only when a separate encryption key is configured (A05),
SingleLogoutService and SingleSignOnService for Redirect and POST (A02), the
NameID formats actually issued (A08), errorURL (A07); Organization and the
technical ContactPerson. No WantAuthnRequestsSigned (A06), no DTD (A10).

``validUntil`` counts from the start of the current UTC day, so the document (and
its ETag) changes at most daily, or when the configured scopes change.

Three shapes, one per way an unmodified SP comes to trust the gateway (REN02):

* :meth:`MetadataPublisher.entity` -- the EntityDescriptor of ``/saml/metadata``,
  for an SP's own MetadataProvider;
* :meth:`MetadataPublisher.aggregate` -- an md:EntitiesDescriptor holding it, for a
  local federation whose aggregate the SPs already load;
* :meth:`MetadataPublisher.for_registry` -- the entity, unsigned and without
  validUntil, for the Renater registry (the federation signs its own aggregate and
  sets its validity).

The first two carry ``validUntil`` and, unless ``saml.metadata_signing`` is false, an
enveloped ds:Signature (first child, one Reference to the root's ``ID``, RSA-SHA256
or ECDSA-SHA256, SHA-256 digest, exc-c14n; A10, saml2int SDP-MD02/MD03) by
``saml.metadata_key`` (else the IdP signing key), always in-process. Each process
signs a shape once per change (day, scopes) and keeps it; the ``ID`` is a digest of
the content, so with an RSA key every worker serves the same bytes (one ETag).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ..sp.nameids import FORMATS
from ..wire.crypto import CIPHERS, RSA_OAEP, SHA256, InProcessSigner, add_signature_template
from ..wire.keys import Certificate, KeyPair
from ..wire.xml import DS, DS_NS, MD, MD_NS, parse
from .build import IdentityProvider

SHIBMD_NS = "urn:mace:shibboleth:metadata:1.0"
MDATTR_NS = "urn:oasis:names:tc:SAML:metadata:attribute"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
REMD_NS = "http://refeds.org/metadata"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#: Entity attributes (REN04): the IdP releases the R&S bundle (ATT06); SIRTFI when configured.
CATEGORY_SUPPORT = "http://macedir.org/entity-category-support"
RESEARCH_AND_SCHOLARSHIP = "http://refeds.org/category/research-and-scholarship"
ASSURANCE_CERTIFICATION = "urn:oasis:names:tc:SAML:attribute:assurance-certification"
SIRTFI = "https://refeds.org/sirtfi"
SECURITY_CONTACT = "http://refeds.org/metadata/contactType/security"
MDUI_NS = "urn:oasis:names:tc:SAML:metadata:ui"
ALG_NS = "urn:oasis:names:tc:SAML:metadata:algsupport"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
CONTENT_TYPE = "application/samlmetadata+xml"
NSMAP = {"md": MD_NS, "ds": DS_NS, "shibmd": SHIBMD_NS, "mdui": MDUI_NS, "alg": ALG_NS, "mdattr": MDATTR_NS,
         "saml": SAML_NS, "remd": REMD_NS}
AGGREGATE_PATH = "/saml/metadata/aggregate"


class MetadataPublisher:
    """The IdP's metadata in each shape, signed once per change and kept in this process."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.idp = idp
        self.key_pair = idp.keys.metadata_signing
        self.signer = InProcessSigner(self.key_pair) if idp.settings.metadata_signing else None
        #: shape -> (what it was built from, the document)
        self._kept: dict[str, tuple[tuple[object, ...], bytes]] = {}

    def entity(self, scopes: Sequence[str], now: datetime) -> bytes:
        """The EntityDescriptor of /saml/metadata, with validUntil, signed unless configured off."""
        return self._kept_or_built("entity", (tuple(scopes), _day(now)), lambda: self._signed(
            entity_descriptor(self.idp, scopes, _validity(self.idp, now))))

    def aggregate(self, scopes: Sequence[str], now: datetime, name: str = "") -> bytes:
        """An md:EntitiesDescriptor (``name``, else saml.metadata_aggregate_name, else its URL)."""
        name = name or self.idp.settings.metadata_aggregate_name or self.idp.public_url + AGGREGATE_PATH
        return self._kept_or_built("aggregate", (tuple(scopes), _day(now), name), lambda: self._signed(
            entities_descriptor(entity_descriptor(self.idp, scopes), name, _validity(self.idp, now))))

    def for_registry(self, scopes: Sequence[str]) -> bytes:
        """The EntityDescriptor, unsigned and without validUntil/cacheDuration (Renater's registry)."""
        return serialize(entity_descriptor(self.idp, scopes))

    def _kept_or_built(self, shape: str, inputs: tuple[object, ...], build: Callable[[], bytes]) -> bytes:
        kept = self._kept.get(shape)
        if kept is None or kept[0] != inputs:
            kept = (inputs, build())
            self._kept[shape] = kept  # one assignment: threads see the old or the new document
        return kept[1]

    def _signed(self, root: etree._Element) -> bytes:
        if self.signer is None:
            return serialize(root)
        return serialize(sign(root, self.key_pair, self.signer), pretty=False)


def entity_descriptor(idp: IdentityProvider, scopes: Sequence[str],
                      validity: dict[str, str] | None = None) -> etree._Element:
    """The md:EntityDescriptor; ``validity``: its validUntil and cacheDuration attributes, if any."""
    settings = idp.settings
    root = etree.Element(MD + "EntityDescriptor", nsmap=NSMAP, entityID=idp.entity_id, **(validity or {}))
    extensions = etree.SubElement(root, MD + "Extensions")
    extensions.append(_entity_attributes(idp))
    etree.SubElement(extensions, f"{{{ALG_NS}}}DigestMethod", Algorithm=SHA256)
    etree.SubElement(extensions, f"{{{ALG_NS}}}SigningMethod", Algorithm=idp.signature_algorithm)
    root.append(_idp_descriptor(idp, scopes))
    root.append(_organization(idp))
    if settings.technical_contact:
        contact = etree.SubElement(root, MD + "ContactPerson", contactType="technical")
        etree.SubElement(contact, MD + "EmailAddress").text = _mailto(settings.technical_contact)
    if settings.security_contact:
        contact = etree.SubElement(root, MD + "ContactPerson", contactType="other")
        contact.set(f"{{{REMD_NS}}}contactType", SECURITY_CONTACT)
        etree.SubElement(contact, MD + "EmailAddress").text = _mailto(settings.security_contact)
    return root


def _entity_attributes(idp: IdentityProvider) -> etree._Element:
    """mdattr:EntityAttributes (REN04): R&S support, and SIRTFI when the operator asserts it."""
    values = {CATEGORY_SUPPORT: [RESEARCH_AND_SCHOLARSHIP]}
    if idp.settings.sirtfi:
        values[ASSURANCE_CERTIFICATION] = [SIRTFI]
    holder = etree.Element(f"{{{MDATTR_NS}}}EntityAttributes")
    for name, texts in values.items():
        attribute = etree.SubElement(holder, f"{{{SAML_NS}}}Attribute", Name=name, NameFormat=URI_FORMAT)
        for text in texts:
            etree.SubElement(attribute, f"{{{SAML_NS}}}AttributeValue").text = text
    return holder


def entities_descriptor(entity: etree._Element, name: str, validity: dict[str, str]) -> etree._Element:
    """An md:EntitiesDescriptor holding ``entity``, as a local federation publishes (Meta §2.3.1)."""
    root = etree.Element(MD + "EntitiesDescriptor", nsmap=NSMAP, Name=name, **validity)
    root.append(entity)
    return root


def sign(root: etree._Element, key_pair: KeyPair, signer: InProcessSigner) -> etree._Element:
    """Sign ``root`` (enveloped, one Reference to its ID) with ``key_pair``; Meta §3, A10.

    The ID is a digest of the unsigned content, so the same content gives the same document.
    The ds:Signature is the first child, where the metadata schema puts it. Returns a new,
    indented root: serialize it as is (indenting it afterwards would break the signature).
    """
    root = parse(serialize(root))
    root.set("ID", "_" + hashlib.sha256(etree.tostring(root, method="c14n")).hexdigest()[:40])
    signature = add_signature_template(root, key_pair.cert, key_pair.algorithm)
    root.insert(0, signature)  # moved there from after the first child, where messages put it
    return signer.sign(root, root.get("ID", ""))


def serialize(root: etree._Element, pretty: bool = True) -> bytes:
    """UTF-8, with an XML declaration, no DTD."""
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty))


def etag(document: bytes) -> str:
    return '"' + hashlib.sha256(document).hexdigest()[:32] + '"'


def _day(now: datetime) -> datetime:
    return now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def _validity(idp: IdentityProvider, now: datetime) -> dict[str, str]:
    settings = idp.settings
    valid_until = _day(now) + timedelta(days=settings.metadata_valid_days)
    return {"validUntil": valid_until.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cacheDuration": f"PT{settings.metadata_cache_hours}H"}


def _idp_descriptor(idp: IdentityProvider, scopes: Sequence[str]) -> etree._Element:
    descriptor = etree.Element(MD + "IDPSSODescriptor", protocolSupportEnumeration=PROTOCOL,
                               errorURL=idp.settings.error_url or idp.public_url + "/saml/error")
    extensions = etree.SubElement(descriptor, MD + "Extensions")
    for scope in scopes:
        etree.SubElement(extensions, f"{{{SHIBMD_NS}}}Scope", regexp="false").text = scope
    extensions.append(_ui_info(idp))
    for cert in idp.keys.published_signing:
        descriptor.append(_key_descriptor(cert, "signing"))
    if idp.keys.encryption is not None:
        descriptor.append(_key_descriptor(idp.keys.encryption.cert, "encryption", encryption_methods=True))
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        etree.SubElement(descriptor, MD + "SingleLogoutService", Binding=binding, Location=idp.slo_url)
    for name_format in _name_id_formats(idp):
        etree.SubElement(descriptor, MD + "NameIDFormat").text = name_format
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        etree.SubElement(descriptor, MD + "SingleSignOnService", Binding=binding, Location=idp.sso_url)
    return descriptor


def _ui_info(idp: IdentityProvider) -> etree._Element:
    settings = idp.settings
    ui = etree.Element(f"{{{MDUI_NS}}}UIInfo")
    for name, values in (("DisplayName", settings.display_name), ("Description", settings.description),
                         ("InformationURL", _per_language(settings.information_url, idp.public_url + "/"))):
        for lang in ("fr", "en"):
            if values.get(lang):
                etree.SubElement(ui, f"{{{MDUI_NS}}}{name}", {XML_LANG: lang}).text = values[lang]
    logo = etree.SubElement(ui, f"{{{MDUI_NS}}}Logo", height=str(settings.logo_height),
                            width=str(settings.logo_width))
    logo.text = settings.logo_url or idp.public_url + "/saml/static/logo.png"
    return ui


def _key_descriptor(cert: Certificate, use: str, encryption_methods: bool = False) -> etree._Element:
    descriptor = etree.Element(MD + "KeyDescriptor", use=use)
    data = etree.SubElement(etree.SubElement(descriptor, DS + "KeyInfo"), DS + "X509Data")
    etree.SubElement(data, DS + "X509Certificate").text = cert.b64
    if encryption_methods:
        for uri in [uri for uri, _, _ in CIPHERS.values()] + [RSA_OAEP]:
            etree.SubElement(descriptor, MD + "EncryptionMethod", Algorithm=uri)
    return descriptor


def _name_id_formats(idp: IdentityProvider) -> list[str]:
    """Transient and persistent; emailAddress only when some SP may get it (A08, NID08)."""
    formats = [FORMATS["transient"], FORMATS["persistent"]]
    if any(sp.policy.email_name_id for sp in idp.providers.configured()):
        formats.append(FORMATS["email"])
    return formats


def _organization(idp: IdentityProvider) -> etree._Element:
    settings = idp.settings
    organization = etree.Element(MD + "Organization")
    for name, values in (("OrganizationName", settings.organization_name),
                         ("OrganizationDisplayName", settings.organization_display_name),
                         ("OrganizationURL", settings.organization_url)):
        for lang in ("fr", "en"):
            if values.get(lang):
                etree.SubElement(organization, MD + name, {XML_LANG: lang}).text = values[lang]
    return organization


def _per_language(values: dict[str, str], default: str) -> dict[str, str]:
    return {lang: values.get(lang) or default for lang in ("fr", "en")}


def _mailto(address: str) -> str:
    return address if address.startswith("mailto:") else "mailto:" + address
