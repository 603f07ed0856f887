"""Signing and encrypting what the IdP sends (CRY01-CRY05), in-process or with the xmlsec1 program.

Algorithms are fixed here, never pysaml2's defaults (RSA-SHA1, 3DES): RSA-SHA256
(ECDSA-SHA256 for an EC key) with SHA-256 digests and exclusive c14n; RSA-OAEP
(MGF1, SHA-1 inside OAEP as XML Encryption 1.0 defines it) key transport, AES-GCM
content by default, AES-CBC per SP; never 3DES nor RSA 1.5.

Two implementations of :class:`Signer`, chosen by ``saml.crypto_backend``:

* :class:`InProcessSigner` (default) calls libxmlsec1 through the ``xmlsec``
  binding: the key is parsed once per process, nothing is spawned;
* :class:`ProgramSigner` runs the ``xmlsec1`` program per signature, as
  pysaml2's ``CryptoBackendXmlSec1`` does (kept for comparison and as a fallback).

:class:`XmlSecBindingBackend` plugs the in-process signer into pysaml2's
``SecurityContext`` (its ``CryptoBackend`` interface), so pysaml2 itself never
spawns xmlsec1 to sign either.
"""
from __future__ import annotations

import functools
from typing import Any, Protocol

import xmlsec
from lxml import etree
from saml2.sigver import CryptoBackend, CryptoBackendXmlSec1, make_temp

from .keys import Certificate, KeyPair
from .xml import DS, parse

C = xmlsec.constants
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_OAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
#: Block ciphers by their settings name: (algorithm URI, xmlsec transform, key bits).
CIPHERS: dict[str, tuple[str, Any, int]] = {
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", C.TransformAes256Gcm, 256),
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", C.TransformAes128Gcm, 128),
    "aes256-cbc": ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", C.TransformAes256Cbc, 256),
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", C.TransformAes128Cbc, 128),
}
_SIGN_METHODS = {"rsa": C.TransformRsaSha256, "ec": C.TransformEcdsaSha256}
SIGNATURE_URIS = {"rsa": RSA_SHA256, "ec": ECDSA_SHA256}


def add_signature_template(element: etree._Element, cert: Certificate, algorithm: str) -> etree._Element:
    """An empty enveloped ds:Signature over ``element`` (by its ID), right after its Issuer (CRY01, CRY03)."""
    signature = xmlsec.template.create(element, C.TransformExclC14N, _SIGN_METHODS[algorithm], ns="ds")
    reference = xmlsec.template.add_reference(signature, C.TransformSha256, uri="#" + element.get("ID", ""))
    xmlsec.template.add_transform(reference, C.TransformEnveloped)
    xmlsec.template.add_transform(reference, C.TransformExclC14N)
    x509_data = xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.template.x509_data_add_certificate(x509_data).text = cert.b64
    element[0].addnext(signature)  # element[0] is the Issuer
    return signature


@functools.lru_cache(maxsize=16)  # one per signing key (two during a rollover)
def signature_template_text(cert: Certificate, algorithm: str) -> tuple[str, str]:
    """:func:`add_signature_template`'s ds:Signature as XML text, cut where the signed element's ID goes
    (``before + ID + after``), for documents built as text; made once per key."""
    holder = etree.Element("holder", ID=_CUT)
    etree.SubElement(holder, "issuer")
    before, _, after = etree.tostring(add_signature_template(holder, cert, algorithm),
                                      encoding="unicode").partition(_CUT)
    return before, after


_CUT = "_cut-here"


def encryption_template(method: str) -> etree._Element:
    """An EncryptedData template: ``method`` content, RSA-OAEP key transport (CRY05)."""
    holder = etree.Element("holder")
    template = xmlsec.template.encrypted_data_create(holder, CIPHERS[method][1], type=C.TypeEncElement,
                                                     ns="xenc")
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, C.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    return template


class Signer(Protocol):
    """Fills signature templates and encrypts elements."""

    def sign(self, root: etree._Element, element_id: str) -> etree._Element:
        """Sign the template inside the element with this ID; returns the (maybe new) root."""

    def encrypt(self, element: etree._Element, cert: Certificate, method: str) -> etree._Element:
        """Encrypt ``element`` (the root of its own document) for ``cert``; returns xenc:EncryptedData."""


class InProcessSigner:
    """libxmlsec1 through the ``xmlsec`` binding; keys parsed once per process."""

    def __init__(self, key_pair: KeyPair) -> None:
        self.key = xmlsec.Key.from_memory(key_pair.key_pem, C.KeyDataFormatPem)
        #: One keys manager per SP certificate: making one costs ~15 ms (it loads the X.509 store).
        #: It holds the certificate's public key alone: xmlsec copies the key it finds for each
        #: EncryptedKey, and copying the certificate with it cost ~0.08 ms per Response (the
        #: EncryptedKey carries no KeyInfo: the output is the same).
        self._recipients: dict[str, xmlsec.KeysManager] = {}

    def sign(self, root: etree._Element, element_id: str) -> etree._Element:
        xmlsec.tree.add_ids(root, ["ID"])
        element = root if root.get("ID") == element_id else root.xpath("//*[@ID=$i]", i=element_id)[0]
        context = xmlsec.SignatureContext()
        context.key = self.key
        context.sign(element.find(DS + "Signature"))
        return root

    def encrypt(self, element: etree._Element, cert: Certificate, method: str) -> etree._Element:
        context = xmlsec.EncryptionContext(self._recipient(cert))
        context.key = xmlsec.Key.generate(C.KeyDataAes, CIPHERS[method][2], C.KeyDataTypeSession)
        return context.encrypt_xml(encryption_template(method), element)

    def _recipient(self, cert: Certificate) -> xmlsec.KeysManager:
        if cert.pem not in self._recipients:
            manager = xmlsec.KeysManager()
            manager.add_key(xmlsec.Key.from_memory(cert.public_key_pem, C.KeyDataFormatPem))
            self._recipients[cert.pem] = manager
        return self._recipients[cert.pem]


class ProgramSigner:
    """The xmlsec1 program, one process per signature (pysaml2's CryptoBackendXmlSec1)."""

    def __init__(self, key_file: str, binary: str = "xmlsec1") -> None:
        self.key_file = key_file
        self.backend = CryptoBackendXmlSec1(binary)

    def sign(self, root: etree._Element, element_id: str) -> etree._Element:
        element = root if root.get("ID") == element_id else root.xpath("//*[@ID=$i]", i=element_id)[0]
        name = etree.QName(element)
        signed = self.backend.sign_statement(
            etree.tostring(root).decode(), f"{name.namespace}:{name.localname}", self.key_file, element_id)
        return parse(signed.encode())

    def encrypt(self, element: etree._Element, cert: Certificate, method: str) -> etree._Element:
        cert_file = make_temp(cert.pem.encode(), suffix=".pem", decode=False)
        template = make_temp(etree.tostring(encryption_template(method)), suffix=".xml", decode=False)
        out = self.backend.encrypt(etree.tostring(element).decode(), cert_file.name, template.name,
                                   f"aes-{CIPHERS[method][2]}", xpath="/*")
        return parse(out)


class XmlSecBindingBackend(CryptoBackend):  # type: ignore[misc]
    """pysaml2's CryptoBackend over :class:`InProcessSigner` (signing only; the gateway verifies
    and encrypts through :mod:`.signatures` and :class:`Signer`)."""

    def __init__(self, signer: InProcessSigner) -> None:
        self.signer = signer

    @property
    def version(self) -> str:
        return ".".join(str(n) for n in xmlsec.get_libxmlsec_version())  # type: ignore[attr-defined]

    def sign_statement(self, statement: Any, node_name: str, key_file: str, node_id: str) -> str:
        """Sign the template of the element ``node_id`` with the IdP key (``key_file`` is ignored)."""
        root = self.signer.sign(parse(str(statement).encode()), node_id)
        return str(etree.tostring(root, encoding="unicode"))
