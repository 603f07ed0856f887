"""Single Logout (checklist G: SLO01-SLO09): receiving, propagating and answering logout.

* :func:`receive_request` checks an SP's LogoutRequest (Redirect or POST): safe
  XML, a known Issuer, a signature that is *required* (SLO02) and verified with
  the SP's metadata keys (over the raw query for Redirect), Destination,
  IssueInstant / NotOnOrAfter, the ID never seen before, the NameID (an
  ``saml:EncryptedID`` is decrypted with the IdP's keys, SLO05) and the
  ``aslo:Asynchronous`` extension (SLO06).
* :func:`matches` compares the NameID and SessionIndex with what *that* SP got
  in this session (SLO03): never log out someone else.
* The front-channel chain (:mod:`.chain`, its pages in :mod:`gateway.saml.views`) sends
  the browser to each SP in turn with an IdP-signed LogoutRequest carrying the
  exact NameID and SessionIndex it got (:func:`logout_request`; SLO04, SLO07),
  Redirect by preference, else POST, SOAP skipped (:func:`slo_endpoint`, SLO08).
  The SP's LogoutResponse comes back to ``/saml/slo`` (:func:`receive_response`:
  signature and InResponseTo checked).
* At the end, the initiator gets a signed LogoutResponse (Success or
  Responder/PartialLogout) at its metadata SLO endpoint (:func:`logout_response`,
  SLO09), unless the request was asynchronous.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import zlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote_plus

import xmlsec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ...identity.parties import Parties
from ...store import Store, key
from ..errors import (
    MalformedRequest,
    ReplayedRequest,
    SignatureRejected,
    StaleRequest,
    UnknownServiceProvider,
    WrongDestination,
)
from ..idp.build import IdentityProvider
from ..sp.attributes import name_id_element
from ..sp.nameids import IssuedNameId
from ..sp.providers import Endpoint, ServiceProvider
from ..sso.response import SUCCESS, cipher_for, instant, new_id
from ..wire.bindings import InboundMessage
from ..wire.crypto import add_signature_template
from ..wire.keys import private_key
from ..wire.signatures import has_signature, verify_enveloped, verify_redirect
from ..wire.xml import SAML, SAML_NS, SAMLP, SAMLP_NS, check_safe, parse, text_of
from .participants import PROTOCOL, participation_of

log = logging.getLogger("gateway.saml")

ASYNC_NS = "urn:oasis:names:tc:SAML:2.0:protocol:ext:async-slo"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
PARTIAL_LOGOUT = STATUS + "PartialLogout"
UNKNOWN_PRINCIPAL = STATUS + "UnknownPrincipal"
REQUESTER = STATUS + "Requester"
RESPONDER = STATUS + "Responder"
XENC = "{http://www.w3.org/2001/04/xmlenc#}"
#: Logout messages the IdP sends are valid this long (NotOnOrAfter, SLO04).
MESSAGE_LIFETIME = 300


# -- receiving a LogoutRequest ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LogoutRequestIn:
    """A verified LogoutRequest; ``name_id`` is None when the EncryptedID could not be decrypted."""

    id: str
    sp_entity_id: str
    name_id: IssuedNameId | None
    session_indexes: tuple[str, ...]
    relay_state: str | None
    asynchronous: bool


def _checked_message(idp: IdentityProvider, message: InboundMessage, store: Store, now: float,
                     tag: str) -> tuple[Any, ServiceProvider]:
    """The checks a LogoutRequest and a LogoutResponse share: safe XML, kind, issuer, signature,
    Destination, times, and no replay of its ID. Raises RequestRejected subclasses."""
    check_safe(message.xml)
    root = parse(message.xml)
    if root.tag != SAMLP + tag or root.get("Version") != "2.0" or not root.get("ID"):
        raise MalformedRequest(f"not a SAML 2.0 {tag}: {root.tag!r}")
    sp = _issuer(idp, root)
    _check_signature(message, root, sp)
    destination = root.get("Destination")
    if destination is not None and destination != idp.slo_url:
        raise WrongDestination(f"Destination {destination[:200]!r}", sp.entity_id)
    _check_times(idp, root, now, sp.entity_id)
    kind = "slo-request-id" if tag == "LogoutRequest" else "slo-response-id"
    _remember(store, kind, sp.entity_id, root.get("ID", ""), 2 * idp.settings.clock_skew + 60)
    return root, sp


def receive_request(idp: IdentityProvider, message: InboundMessage, store: Store,
                    now: float) -> LogoutRequestIn:
    """Every check of SLO01-SLO03, SLO05, SLO06. Raises RequestRejected subclasses."""
    root, sp = _checked_message(idp, message, store, now, "LogoutRequest")
    extensions = root.find(SAMLP + "Extensions")
    asynchronous = extensions is not None and extensions.find("{%s}Asynchronous" % ASYNC_NS) is not None
    indexes = tuple(text_of(e) for e in root.findall(SAMLP + "SessionIndex"))
    return LogoutRequestIn(root.get("ID", ""), sp.entity_id, _name_id(idp, root), indexes,
                           message.relay_state, asynchronous)


def _issuer(idp: IdentityProvider, root: etree._Element) -> ServiceProvider:
    issuer = text_of(root.find(SAML + "Issuer"))
    sp = idp.provider(issuer)
    if sp is None:
        raise UnknownServiceProvider(f"unknown Issuer {issuer[:200]!r}")
    return sp


def _check_signature(message: InboundMessage, root: etree._Element, sp: ServiceProvider) -> None:
    """SLO02: always required, on the query string (Redirect) or enveloped (POST)."""
    if message.has_query_signature:
        if not message.sig_alg:
            raise SignatureRejected("Signature without SigAlg", sp.entity_id)
        try:
            verify_redirect(message.raw_query, message.sig_alg, message.signature or "", sp.signing_certs)
        except SignatureRejected as exc:
            raise SignatureRejected(exc.detail, sp.entity_id) from None
        return
    if message.binding == BINDING_HTTP_POST and has_signature(root):
        try:
            verify_enveloped(root, sp.signing_certs)
        except SignatureRejected as exc:
            raise SignatureRejected(exc.detail, sp.entity_id) from None
        return
    log.warning("unsigned logout message from %s", sp.entity_id)
    raise SignatureRejected(f"unsigned logout message from {sp.entity_id}", sp.entity_id)


def _check_times(idp: IdentityProvider, root: etree._Element, now: float, sp: str) -> None:
    issued = _time(root.get("IssueInstant"))
    if issued is None:
        raise MalformedRequest("IssueInstant is not an xs:dateTime")
    if abs(now - issued) > idp.settings.clock_skew:
        raise StaleRequest(f"IssueInstant is {int(now - issued)} s from now", sp)
    if root.get("NotOnOrAfter") is not None:
        until = _time(root.get("NotOnOrAfter"))
        if until is None or now >= until + idp.settings.clock_skew:
            raise StaleRequest("NotOnOrAfter has passed", sp)


def _time(value: str | None) -> float | None:
    try:
        parsed = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _remember(store: Store, kind: str, sp_entity_id: str, message_id: str, ttl: int) -> None:
    digest = hashlib.sha256(f"{sp_entity_id}\n{message_id}".encode()).hexdigest()
    if not store.redis.set(key("saml", kind, digest), "1", nx=True, ex=ttl):
        raise ReplayedRequest(f"message ID {message_id[:80]!r} already received", sp_entity_id)


def _name_id(idp: IdentityProvider, root: etree._Element) -> IssuedNameId | None:
    element = root.find(SAML + "NameID")
    if element is None:
        encrypted = root.find(SAML + "EncryptedID/" + XENC + "EncryptedData")
        element = _decrypt(idp, encrypted) if encrypted is not None else None
    if element is None or element.tag != SAML + "NameID":
        return None
    return IssuedNameId(text_of(element), element.get("Format") or
                        "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
                        element.get("NameQualifier"), element.get("SPNameQualifier"))


def _decrypt(idp: IdentityProvider, encrypted: etree._Element) -> etree._Element | None:
    """SLO05: the EncryptedID with the encryption key (then the signing key); None if neither works."""
    pairs = [p for p in (idp.keys.encryption, idp.keys.signing) if p is not None]
    for pair in pairs:
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_memory(pair.key_pem, xmlsec.constants.KeyDataFormatPem))
        standalone = etree.fromstring(etree.tostring(encrypted))
        try:
            result = xmlsec.EncryptionContext(manager).decrypt(standalone)
        except xmlsec.Error:
            continue
        if isinstance(result, bytes):
            check_safe(result)
            result = parse(result)
        return result
    return None


def matches(parties: Parties, session_id: str, request: LogoutRequestIn) -> bool:
    """SLO03: the NameID (value, Format, qualifiers) and SessionIndex are those issued to that SP."""
    record = parties.of(session_id, PROTOCOL).get(request.sp_entity_id)
    if record is None or request.name_id is None:
        return False
    given = participation_of(record)
    ours, theirs = given.name_id, request.name_id
    if (ours.value, ours.format) != (theirs.value, theirs.format):
        return False
    if (theirs.name_qualifier or ours.name_qualifier) and theirs.name_qualifier != ours.name_qualifier:
        return False
    if (theirs.sp_name_qualifier or ours.sp_name_qualifier) and \
            theirs.sp_name_qualifier != ours.sp_name_qualifier:
        return False
    return not request.session_indexes or given.session_index in request.session_indexes


# -- outgoing messages -----------------------------------------------------------------------------------

def slo_endpoint(sp: ServiceProvider) -> Endpoint | None:
    """SLO08: Redirect, else POST; SOAP and Artifact are not used."""
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        for endpoint in sp.slo:
            if endpoint.binding == binding:
                return endpoint
    return None


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """Where to send a message: a URL to redirect to (Redirect) or a form to post (POST)."""

    binding: str
    url: str
    field: str = ""
    value: str = ""
    relay_state: str | None = None


def logout_request(idp: IdentityProvider, sp: ServiceProvider, record: Mapping[str, Any], relay_state: str,
                   now: float) -> tuple[str, Outgoing]:
    """SLO04, SLO07: (request ID, how to send it) for one participant, its exact NameID and SessionIndex."""
    endpoint = slo_endpoint(sp)
    assert endpoint is not None
    root = logout_request_element(idp, sp, record, endpoint.location, now, encrypt=False)
    return root.get("ID", ""), _send(idp, root, endpoint, "SAMLRequest", relay_state)


def logout_request_element(idp: IdentityProvider, sp: ServiceProvider, record: Mapping[str, Any],
                           destination: str, now: float, *, encrypt: bool) -> etree._Element:
    """An unsigned LogoutRequest to one participant (SLO04): the exact NameID and SessionIndex it got,
    the NameID as a ``saml:EncryptedID`` for the SP's encryption key when ``encrypt`` (Core §3.7.1)."""
    participation = participation_of(record)
    root = etree.Element(SAMLP + "LogoutRequest", nsmap={"samlp": SAMLP_NS, "saml": SAML_NS}, ID=new_id(),
                         Version="2.0", IssueInstant=instant(now), Destination=destination,
                         NotOnOrAfter=instant(now + MESSAGE_LIFETIME))
    etree.SubElement(root, SAML + "Issuer").text = idp.entity_id
    name_id = name_id_element(participation.name_id)
    if encrypt:
        encrypted = etree.Element(SAML + "EncryptedID", nsmap={"saml": SAML_NS})
        encrypted.append(idp.signer.encrypt(name_id, sp.encryption_certs[0], cipher_for(sp)))
        name_id = encrypted
    root.append(name_id)
    etree.SubElement(root, SAMLP + "SessionIndex").text = participation.session_index
    return root


def sign_enveloped(idp: IdentityProvider, root: etree._Element) -> etree._Element:
    """``root`` with an enveloped signature by the IdP key (SLO07, CRY01); returns the (maybe new) root."""
    add_signature_template(root, idp.keys.signing.cert, idp.keys.signing.algorithm)
    return idp.signer.sign(root, root.get("ID", ""))


def logout_response(idp: IdentityProvider, sp: ServiceProvider, in_response_to: str, status: str,
                    second: str, relay_state: str | None, now: float) -> Outgoing | None:
    """A signed LogoutResponse to the initiator's metadata SLO endpoint (SLO04, SLO09); None without one."""
    endpoint = slo_endpoint(sp)
    if endpoint is None:
        return None
    root = etree.Element(SAMLP + "LogoutResponse", nsmap={"samlp": SAMLP_NS, "saml": SAML_NS}, ID=new_id(),
                         Version="2.0", IssueInstant=instant(now), Destination=endpoint.location,
                         InResponseTo=in_response_to)
    etree.SubElement(root, SAML + "Issuer").text = idp.entity_id
    status_element = etree.SubElement(root, SAMLP + "Status")
    code = etree.SubElement(status_element, SAMLP + "StatusCode", Value=status)
    if second:
        etree.SubElement(code, SAMLP + "StatusCode", Value=second)
    return _send(idp, root, endpoint, "SAMLResponse", relay_state)


def _send(idp: IdentityProvider, root: etree._Element, endpoint: Endpoint, field: str,
          relay_state: str | None) -> Outgoing:
    if endpoint.binding == BINDING_HTTP_REDIRECT:
        document = etree.tostring(root, encoding="UTF-8")
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        encoded = base64.b64encode(compressor.compress(document) + compressor.flush()).decode()
        query = f"{field}={quote_plus(encoded)}"
        if relay_state is not None:
            query += f"&RelayState={quote_plus(relay_state)}"
        query += f"&SigAlg={quote_plus(idp.signature_algorithm)}"
        signature = base64.b64encode(_raw_sign(idp, query.encode())).decode()
        separator = "&" if "?" in endpoint.location else "?"
        return Outgoing(BINDING_HTTP_REDIRECT, f"{endpoint.location}{separator}{query}"
                                               f"&Signature={quote_plus(signature)}")
    root = sign_enveloped(idp, root)
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Outgoing(BINDING_HTTP_POST, endpoint.location, field, base64.b64encode(document).decode(),
                    relay_state)


def _raw_sign(idp: IdentityProvider, data: bytes) -> bytes:
    """The HTTP-Redirect signature (Bind §3.4.4.1) with the IdP signing key."""
    private = private_key(idp.keys.signing.key_pem)
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.sign(data, ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    size = (private.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# -- receiving a LogoutResponse ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LogoutResponseIn:
    sp_entity_id: str
    in_response_to: str
    success: bool


def receive_response(idp: IdentityProvider, message: InboundMessage, store: Store,
                     now: float) -> LogoutResponseIn:
    """A participant's LogoutResponse: signed by its metadata keys, addressed here. Raises RequestRejected."""
    root, sp = _checked_message(idp, message, store, now, "LogoutResponse")
    code = root.find(SAMLP + "Status/" + SAMLP + "StatusCode")
    success = code is not None and code.get("Value") == SUCCESS
    return LogoutResponseIn(sp.entity_id, root.get("InResponseTo") or "", success)
