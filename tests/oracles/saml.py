"""What both SP oracles do alike: read the IdP metadata, parse and decrypt, check XML signatures.

Signatures are verified with the python-xmlsec binding against the signing
certificates of the IdP *metadata* only (the KeyInfo a message carries is
ignored, as both SPs do: CRY07), after the signature-profile checks of
OpenSAML's ``SignatureProfileValidator`` and simplesamlphp/saml2's
``Utils::validateElement`` (one Reference, to the signed element's ID; only the
enveloped and c14n transforms; no ds:Object: CRY03).
"""
from __future__ import annotations

import base64
import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

import xmlsec
from lxml import etree

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
SHIBMD_NS = "urn:mace:shibboleth:metadata:1.0"
NS = {"samlp": SAMLP_NS, "saml": SAML_NS, "ds": DS_NS, "xenc": XENC_NS, "md": MD_NS, "shibmd": SHIBMD_NS}

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
RSA_1_5 = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
_SIGNATURE_TRANSFORMS = {
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
}


class Refused(Exception):
    """The SP would refuse the Response and show an error page; ``reason`` is what it would log."""

    def __init__(self, sp: str, reason: str) -> None:
        super().__init__(f"{sp} would refuse the Response: {reason}")
        self.sp = sp
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class IdpMetadata:
    """What an SP takes from the IdP's metadata: entityID, signing certificates, shibmd:Scope values."""

    entity_id: str
    signing_certs: tuple[str, ...]  # base64 DER
    scopes: frozenset[str]

    @classmethod
    def parse(cls, document: str | bytes) -> IdpMetadata:
        """Read an EntityDescriptor; keys with no ``use`` or ``use="signing"`` verify (Meta §2.4.1.1)."""
        root = parse_xml(document.encode() if isinstance(document, str) else document)
        descriptor = root.find("md:IDPSSODescriptor", NS)
        certs = tuple("".join(cert.text.split()) for key in descriptor.iterfind("md:KeyDescriptor", NS)
                      if key.get("use") in (None, "signing")
                      for cert in key.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS))
        # Shibboleth reads Scope from both Extensions; regexp="true" scopes are not modelled here.
        scopes = frozenset(scope.text.strip() for extensions in (root, descriptor)
                           for scope in extensions.iterfind("md:Extensions/shibmd:Scope", NS)
                           if scope.get("regexp", "false") == "false")
        return cls(root.get("entityID"), certs, scopes)


@dataclasses.dataclass(frozen=True)
class NameId:
    """A saml:NameID as both SPs hold it."""

    value: str
    format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None

    @classmethod
    def of(cls, element: etree._Element) -> NameId:
        return cls((element.text or "").strip(), element.get("Format"), element.get("NameQualifier"),
                   element.get("SPNameQualifier"))


def parse_xml(document: bytes) -> etree._Element:
    """Parse without a DTD, entities or network (both SPs refuse a DOCTYPE: RSP11, SDP-G03)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    root = etree.fromstring(document, parser)
    if root.getroottree().docinfo.doctype:
        raise ValueError("DOCTYPE in a SAML message")
    return root


def decode_response(saml_response: str, sp: str) -> etree._Element:
    """The samlp:Response of an HTTP-POST ``SAMLResponse`` field (Bind §3.5.4)."""
    try:
        root = parse_xml(base64.b64decode(saml_response, validate=True))
    except (ValueError, etree.XMLSyntaxError) as problem:
        raise Refused(sp, f"unparseable message: {problem}") from None
    if root.tag != f"{{{SAMLP_NS}}}Response":
        raise Refused(sp, f"not a samlp:Response but {root.tag}")
    duplicated = [i for i, n in Counter(e.get("ID") for e in root.iter() if e.get("ID")).items() if n > 1]
    if duplicated:
        raise Refused(sp, f"duplicate ID attributes {duplicated} (signature wrapping)")
    return root


def epoch(value: str) -> float:
    """An xs:dateTime (UTC ``Z`` or with an offset) as seconds since the epoch."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def status_codes(response: etree._Element) -> tuple[str, ...]:
    """The top-level StatusCode value and its nested ones, outermost first."""
    return tuple(code.get("Value") or "" for code in response.iterfind("samlp:Status//samlp:StatusCode", NS))


def decrypt_assertion(encrypted: etree._Element, keys: Sequence[bytes], forbidden: Iterable[str]) -> etree._Element:
    """The saml:Assertion of a saml:EncryptedAssertion, decrypted *on its own* with the first key that
    works. Raises ValueError (a forbidden algorithm, no key, nothing inside).
    """
    data = encrypted.find("xenc:EncryptedData", NS)
    if data is None:
        raise ValueError("EncryptedAssertion without xenc:EncryptedData")
    used = {method.get("Algorithm") for method in data.iter(f"{{{XENC_NS}}}EncryptionMethod")}
    if used & set(forbidden):
        raise ValueError(f"forbidden algorithm(s) {sorted(used & set(forbidden))}")
    for key_pem in keys:
        standalone = etree.fromstring(etree.tostring(data))
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem))
        try:
            assertion = xmlsec.EncryptionContext(manager).decrypt(standalone)
        except xmlsec.Error:
            continue
        if assertion.tag != f"{{{SAML_NS}}}Assertion":
            raise ValueError(f"EncryptedAssertion holds {assertion.tag}")
        return assertion
    raise ValueError("no SP key decrypts the assertion")


def is_signed(element: etree._Element, certs: Sequence[str], sp: str) -> bool:
    """Whether ``element`` carries its own ds:Signature: False when it has none; Refused when there are
    several, when it breaks the SAML signature profile, or when no metadata certificate verifies it.
    """
    name = etree.QName(element).localname
    found = element.findall("ds:Signature", NS)
    if len(found) > 1:
        raise Refused(sp, f"{name}: more than one ds:Signature")
    if not found:
        return False
    problem = signature_profile_problem(element, found[0])
    if problem:
        raise Refused(sp, f"{name} signature: {problem}")
    if not verifies(found[0], certs):
        raise Refused(sp, f"{name} was signed, but the signature could not be verified with the metadata keys")
    return True


def signature_profile_problem(element: etree._Element, signature: etree._Element) -> str | None:
    """Why the signature breaks the SAML signature profile (Core §5.4), or None (CRY03)."""
    if signature.find("ds:Object", NS) is not None:
        return "Signature contains an embedded <Object> element"
    references = signature.findall("ds:SignedInfo/ds:Reference", NS)
    if len(references) != 1:
        return f"{len(references)} References in the Signature, exactly one expected"
    uri = references[0].get("URI")
    if uri and uri != "#" + (element.get("ID") or ""):
        return f"Reference URI {uri!r} is not the signed element's ID {element.get('ID')!r}"
    transforms = [t.get("Algorithm") for t in references[0].iterfind("ds:Transforms/ds:Transform", NS)]
    if len(transforms) > 2 or not set(transforms) <= _SIGNATURE_TRANSFORMS:
        return f"invalid transforms {transforms}"
    return None


def verifies(signature: etree._Element, certs: Sequence[str]) -> bool:
    """Whether one of the metadata certificates (base64 DER) verifies ``signature``."""
    xmlsec.tree.add_ids(signature.getroottree().getroot(), ["ID"])
    for cert in certs:
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(base64.b64decode(cert), xmlsec.constants.KeyDataFormatCertDer)
        try:
            context.verify(signature)
        except xmlsec.Error:
            continue
        return True
    return False
