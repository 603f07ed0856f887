"""The samlp:Response an SP validates (C: RSP01-RSP11; D: CRY01-CRY05; Prof §4.1.4.2).

Written as text from string templates, every value escaped, then parsed into lxml
trees to sign and encrypt (one parse costs less than building each element); every
namespace the Assertion uses is declared on the Assertion itself: an encrypted
assertion is decrypted on its own by Shibboleth SP, and must parse there. The
templates give, byte for byte, the trees lxml's element calls used to build.
Order of operations: sign the Assertion, encrypt it
(xenc:EncryptedData inside saml:EncryptedAssertion, nothing encrypted inside),
then sign the Response. By default both are signed (per SP: :mod:`gateway.saml.sp.policy`).

Times are UTC ``Z`` without fractions (RSP09). ``Destination`` and ``Recipient``
are the validated ACS exactly (RSP02, RSP05); the bearer SubjectConfirmationData
has InResponseTo and NotOnOrAfter but neither NotBefore nor Address;
``AuthnInstant`` is the session's real sign-in time (RSP07);
``SessionNotOnOrAfter`` is omitted unless configured to at least 8 h (RSP08).
"""
from __future__ import annotations

import dataclasses
import functools
import secrets
import time

from lxml import etree

from ..errors import StatusError
from ..idp.build import IdentityProvider
from ..sp.attributes import Value, attribute_statement_text, name_id_text
from ..sp.nameids import IssuedNameId
from ..sp.providers import ServiceProvider
from ..wire.crypto import CIPHERS, signature_template_text
from ..wire.xml import SAML, SAML_NS, SAMLP_NS, XS_NS, XSI_NS, escaped_attribute, escaped_text, parse

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
GCM = ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "http://www.w3.org/2009/xmlenc11#aes128-gcm")


@dataclasses.dataclass(frozen=True)
class Addressee:
    """Who the Response answers: the SP, its validated ACS, the request ID (None: unsolicited, IdP-initiated
    SSO, and no InResponseTo anywhere, Prof §4.1.5)."""

    sp: ServiceProvider
    acs_url: str
    in_response_to: str | None


@dataclasses.dataclass(frozen=True)
class AssertionContent:
    """What the assertion says about the person."""

    name_id: IssuedNameId
    session_index: str
    authn_instant: int
    authn_context: str
    attributes: dict[str, tuple[Value, ...]]


def new_id() -> str:
    """An xs:ID with 160 random bits, starting with "_" (RSP03)."""
    return "_" + secrets.token_hex(20)


def instant(when: float) -> str:
    """xs:dateTime in UTC to the second, "Z" (RSP03)."""
    return _instant(int(when))


@functools.lru_cache(maxsize=64)
def _instant(second: int) -> str:  # a Response writes five of them, mostly the same few seconds
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def build_success(idp: IdentityProvider, to: Addressee, content: AssertionContent, now: float) -> bytes:
    """A signed Response carrying one (signed, maybe encrypted) Assertion (RSP04), answering a request or
    unsolicited (``to.in_response_to`` None, IdP-initiated SSO: Prof §4.1.5)."""
    assertion_id, signed = new_id(), to.sp.policy.sign_assertion or to.sp.want_assertions_signed
    assertion = parse(_assertion(idp, to, content, now, assertion_id, signed).encode())
    if signed:
        assertion = idp.signer.sign(assertion, assertion_id)
    if should_encrypt(to.sp):
        encrypted = etree.Element(SAML + "EncryptedAssertion", nsmap={"saml": SAML_NS})
        encrypted.append(idp.signer.encrypt(assertion, to.sp.encryption_certs[0], cipher_for(to.sp)))
        assertion = encrypted
    return _finish(idp, to, now, _status(SUCCESS), assertion)


def build_status(idp: IdentityProvider, to: Addressee, error: StatusError, now: float) -> bytes:
    """A Response with an error status and no assertion (RSP10, Core §3.2.2.2)."""
    return _finish(idp, to, now, _status(error.top, error.second, error.detail), None)


def should_encrypt(sp: ServiceProvider) -> bool:
    """The SP's policy, else: does its metadata have an encryption key (CRY04)?"""
    wanted = sp.policy.encrypt if sp.policy.encrypt is not None else bool(sp.encryption_certs)
    return wanted and bool(sp.encryption_certs)


def cipher_for(sp: ServiceProvider) -> str:
    """The policy's cipher, else AES-256-GCM, or AES-CBC when the metadata lists only CBC (CRY05)."""
    if sp.policy.encryption_method:
        return sp.policy.encryption_method
    listed = [m for m in sp.encryption_methods if m in {uri for uri, _, _ in CIPHERS.values()}]
    if listed and not any(m in GCM for m in listed):
        return next(name for name, (uri, _, _) in CIPHERS.items() if uri in listed)
    return "aes256-gcm"


def _finish(idp: IdentityProvider, to: Addressee, now: float, status: str,
            assertion: etree._Element | None) -> bytes:
    """The Response around ``status`` and ``assertion``, signed when the SP's policy says so, as bytes."""
    response_id, signed = new_id(), to.sp.policy.sign_response
    response = parse(_response(idp, to, now, status, response_id, signed).encode())
    if assertion is not None:
        response.append(assertion)
    if signed:
        response = idp.signer.sign(response, response_id)
    return bytes(etree.tostring(response, xml_declaration=True, encoding="UTF-8"))


# The Response declares samlp and saml; the Assertion saml, xs and xsi (it is decrypted on its own).
_RESPONSE = ('<samlp:Response xmlns:samlp="' + SAMLP_NS + '" xmlns:saml="' + SAML_NS + '" ID="{id}" '
             'Version="2.0" IssueInstant="{now}" Destination="{destination}"{answering}>'
             '<saml:Issuer>{issuer}</saml:Issuer>{signature}{status}</samlp:Response>')
_ASSERTION = (
    '<saml:Assertion xmlns:saml="' + SAML_NS + '" xmlns:xs="' + XS_NS + '" xmlns:xsi="' + XSI_NS + '" '
    'ID="{id}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}</saml:Issuer>{signature}'
    '<saml:Subject>{name_id}<saml:SubjectConfirmation Method="' + BEARER + '">'
    '<saml:SubjectConfirmationData{answering} NotOnOrAfter="{until}" Recipient="{recipient}"/>'
    '</saml:SubjectConfirmation></saml:Subject>'
    '<saml:Conditions NotBefore="{now}" NotOnOrAfter="{until}"><saml:AudienceRestriction>'
    '<saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>'
    '<saml:AuthnStatement AuthnInstant="{authn_instant}" SessionIndex="{session_index}"{session_end}>'
    '<saml:AuthnContext><saml:AuthnContextClassRef>{context}</saml:AuthnContextClassRef></saml:AuthnContext>'
    '</saml:AuthnStatement>{attributes}</saml:Assertion>')


def _response(idp: IdentityProvider, to: Addressee, now: float, status: str, response_id: str,
              signed: bool) -> str:
    return _RESPONSE.format(id=response_id, now=instant(now), destination=escaped_attribute(to.acs_url),
                            answering=_answering(to), issuer=escaped_text(idp.entity_id),
                            signature=_signature(idp, response_id) if signed else "", status=status)


def _answering(to: Addressee) -> str:
    """The InResponseTo attribute, or none for an unsolicited Response (Prof §4.1.5)."""
    return "" if to.in_response_to is None else f' InResponseTo="{escaped_attribute(to.in_response_to)}"'


def _signature(idp: IdentityProvider, element_id: str) -> str:
    """The ds:Signature template over the element ``element_id``, to fill in once parsed (CRY01, CRY03)."""
    before, after = signature_template_text(idp.keys.signing.cert, idp.keys.signing.algorithm)
    return before + element_id + after


def _status(top: str, second: str = "", message: str = "") -> str:
    code = f'<samlp:StatusCode Value="{escaped_attribute(second)}"/>' if second else ""
    detail = f"<samlp:StatusMessage>{escaped_text(message)}</samlp:StatusMessage>" if message else ""
    return (f'<samlp:Status><samlp:StatusCode Value="{escaped_attribute(top)}"'
            f'{">" + code + "</samlp:StatusCode>" if code else "/>"}{detail}</samlp:Status>')


def _assertion(idp: IdentityProvider, to: Addressee, content: AssertionContent, now: float, assertion_id: str,
               signed: bool) -> str:
    session_end = ""
    if idp.settings.session_hours:
        session_end = f' SessionNotOnOrAfter="{instant(now + idp.settings.session_hours * 3600)}"'
    return _ASSERTION.format(
        id=assertion_id, now=instant(now), issuer=escaped_text(idp.entity_id),
        signature=_signature(idp, assertion_id) if signed else "", name_id=name_id_text(content.name_id),
        answering=_answering(to), until=instant(now + idp.settings.assertion_lifetime),
        recipient=escaped_attribute(to.acs_url), audience=escaped_text(to.sp.entity_id),
        authn_instant=instant(content.authn_instant), session_index=escaped_attribute(content.session_index),
        session_end=session_end, context=escaped_text(content.authn_context),
        attributes=attribute_statement_text(content.attributes))
