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
its ETag) changes at most daily, or when a scope appears.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from .crypto import CIPHERS, RSA_OAEP, SHA256
from .idp import IdentityProvider
from .keys import Certificate
from .nameids import FORMATS
from .xml import DS, DS_NS, MD, MD_NS

SHIBMD_NS = "urn:mace:shibboleth:metadata:1.0"
MDUI_NS = "urn:oasis:names:tc:SAML:metadata:ui"
ALG_NS = "urn:oasis:names:tc:SAML:metadata:algsupport"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
CONTENT_TYPE = "application/samlmetadata+xml"
NSMAP = {"md": MD_NS, "ds": DS_NS, "shibmd": SHIBMD_NS, "mdui": MDUI_NS, "alg": ALG_NS}


def build_metadata(idp: IdentityProvider, scopes: Sequence[str], now: datetime) -> bytes:
    """The metadata document (UTF-8, with an XML declaration, no DTD)."""
    settings = idp.settings
    day = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    valid_until = (day + timedelta(days=settings.metadata_valid_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = etree.Element(MD + "EntityDescriptor", nsmap=NSMAP, entityID=idp.entity_id,
                         validUntil=valid_until, cacheDuration=f"PT{settings.metadata_cache_hours}H")
    extensions = etree.SubElement(root, MD + "Extensions")
    etree.SubElement(extensions, f"{{{ALG_NS}}}DigestMethod", Algorithm=SHA256)
    etree.SubElement(extensions, f"{{{ALG_NS}}}SigningMethod", Algorithm=idp.signature_algorithm)
    root.append(_idp_descriptor(idp, scopes))
    root.append(_organization(idp))
    if settings.technical_contact:
        contact = etree.SubElement(root, MD + "ContactPerson", contactType="technical")
        etree.SubElement(contact, MD + "EmailAddress").text = _mailto(settings.technical_contact)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def etag(document: bytes) -> str:
    return '"' + hashlib.sha256(document).hexdigest()[:32] + '"'


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
    if any(sp.policy.email_name_id for sp in idp.providers.values()):
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
