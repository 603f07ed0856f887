"""Verifying signed requests: with the SP's metadata keys only, and nothing clever.

* HTTP-Redirect (Bind §3.4.4.1, REQ06): the signature covers the *raw*
  ``SAMLRequest=…&RelayState=…&SigAlg=…`` substrings exactly as they were
  received, never re-encoded (pysaml2's ``verify_redirect_signature`` rebuilds
  them with ``urlencode`` and fails on PHP's ``%7E``, lowercase hex…).
* HTTP-POST (enveloped ds:Signature): exactly one Signature, a child of the
  root, one Reference to the root's ID, unique IDs, only enveloped-signature +
  c14n transforms and SHA-2 algorithms (SEC01, SEC03). Since the verified element
  *is* the root that is then read, a wrapped copy cannot be substituted (XSW).

Keys come only from metadata, every one is tried (rollover, CRY06); a KeyInfo in
the message is ignored (CRY07). SHA-1 is refused.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from urllib.parse import unquote_plus

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree

from ..errors import SignatureRejected
from .xml import DS

C = xmlsec.constants
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
#: SigAlg / SignatureMethod URIs accepted on requests, with their hash.
SIGNATURE_HASHES: dict[str, hashes.HashAlgorithm] = {
    _MORE + "rsa-sha256": hashes.SHA256(), _MORE + "rsa-sha384": hashes.SHA384(),
    _MORE + "rsa-sha512": hashes.SHA512(), _MORE + "ecdsa-sha256": hashes.SHA256(),
    _MORE + "ecdsa-sha384": hashes.SHA384(), _MORE + "ecdsa-sha512": hashes.SHA512(),
}
_REFERENCE_TRANSFORMS = (C.TransformEnveloped, C.TransformExclC14N, C.TransformExclC14NWithComments,
                         C.TransformInclC14N, C.TransformInclC14N11, C.TransformSha256, C.TransformSha384,
                         C.TransformSha512)
_SIGNATURE_TRANSFORMS = (C.TransformExclC14N, C.TransformExclC14NWithComments, C.TransformInclC14N,
                         C.TransformInclC14N11, C.TransformRsaSha256, C.TransformRsaSha384,
                         C.TransformRsaSha512, C.TransformEcdsaSha256, C.TransformEcdsaSha384,
                         C.TransformEcdsaSha512)
_ALLOWED_TRANSFORM_URIS = {
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature", "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
}
_REDIRECT_FIELDS = (b"SAMLRequest", b"SAMLResponse", b"RelayState", b"SigAlg")


# -- HTTP-Redirect --------------------------------------------------------------------------

def signed_octets(raw_query: bytes) -> bytes:
    """``SAMLRequest=…[&RelayState=…]&SigAlg=…`` from the query string as received (REQ06).

    Raises SignatureRejected when a field is repeated or SigAlg is missing.
    """
    found: dict[bytes, bytes] = {}
    for part in raw_query.split(b"&"):
        name = part.split(b"=", 1)[0]
        if name in _REDIRECT_FIELDS:
            if name in found:
                raise SignatureRejected(f"{name.decode()} repeated in the query string")
            found[name] = part
    if (b"SAMLRequest" in found) == (b"SAMLResponse" in found) or b"SigAlg" not in found:
        raise SignatureRejected("SAMLRequest (or SAMLResponse) or SigAlg missing from the signed query string")
    return b"&".join(found[name] for name in _REDIRECT_FIELDS if name in found)


def verify_redirect(raw_query: bytes, sig_alg: str, signature: str, certs: Sequence[str]) -> None:
    """Check the query-string signature against each metadata certificate. Raises SignatureRejected."""
    digest = SIGNATURE_HASHES.get(sig_alg)
    if digest is None:
        raise SignatureRejected(f"SigAlg {sig_alg!r} not accepted")
    try:
        value = base64.b64decode(signature.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRejected("Signature is not base64") from None
    octets = signed_octets(raw_query)
    for cert in certs:
        if _verify_raw(_public_key(cert), value, octets, digest):
            return
    raise SignatureRejected("no metadata key verifies the query-string signature")


def query_value(raw_query: bytes, name: str) -> str | None:
    """A query parameter decoded once, read from the raw query (the same bytes that are verified)."""
    for part in raw_query.split(b"&"):
        key, _, value = part.partition(b"=")
        if key == name.encode():
            return unquote_plus(value.decode("utf-8", "replace"))
    return None


def _public_key(cert_b64: str) -> object:
    return x509.load_der_x509_certificate(base64.b64decode(cert_b64)).public_key()


def _verify_raw(key: object, value: bytes, data: bytes, digest: hashes.HashAlgorithm) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), digest)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(value) == 2 * size:  # XML DSig's r || s
                value = utils.encode_dss_signature(int.from_bytes(value[:size], "big"),
                                                   int.from_bytes(value[size:], "big"))
            key.verify(value, data, ec.ECDSA(digest))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


# -- HTTP-POST (enveloped) ------------------------------------------------------------------

def has_signature(root: etree._Element) -> bool:
    return root.find(".//" + DS + "Signature") is not None


def verify_enveloped(root: etree._Element, certs: Sequence[str]) -> None:
    """Verify the root's enveloped signature with a metadata key (SEC01, SEC03). Raises SignatureRejected."""
    signature = _the_signature(root)
    for cert in certs:
        context = xmlsec.SignatureContext()
        for transform in _REFERENCE_TRANSFORMS:
            context.enable_reference_transform(transform)
        for transform in _SIGNATURE_TRANSFORMS:
            context.enable_signature_transform(transform)
        context.key = xmlsec.Key.from_memory(base64.b64decode(cert), C.KeyDataFormatCertDer)
        try:
            context.verify(signature)
            return
        except xmlsec.Error:
            continue
    raise SignatureRejected("no metadata key verifies the enveloped signature")


def _the_signature(root: etree._Element) -> etree._Element:
    """The one acceptable Signature of ``root``, IDs registered. Raises SignatureRejected."""
    signatures = root.findall(".//" + DS + "Signature")
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise SignatureRejected("exactly one Signature, a child of the message, is accepted")
    ids = [element.get("ID") for element in root.iter(etree.Element) if element.get("ID") is not None]
    if not root.get("ID") or len(ids) != len(set(ids)):
        raise SignatureRejected("missing or repeated ID")
    signature = signatures[0]
    references = signature.findall(DS + "SignedInfo/" + DS + "Reference")
    if len(references) != 1 or references[0].get("URI") != "#" + root.get("ID", ""):
        raise SignatureRejected("the signature must reference the message itself, once")
    method = signature.find(DS + "SignedInfo/" + DS + "SignatureMethod")
    if method is None or method.get("Algorithm") not in SIGNATURE_HASHES:
        raise SignatureRejected("signature algorithm not accepted")
    transforms = references[0].findall(DS + "Transforms/" + DS + "Transform")
    if any(t.get("Algorithm") not in _ALLOWED_TRANSFORM_URIS for t in transforms):
        raise SignatureRejected("transform not accepted")
    xmlsec.tree.add_ids(root, ["ID"])
    return signature
