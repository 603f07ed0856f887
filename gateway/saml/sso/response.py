"""The samlp:Response an SP validates (C: RSP01-RSP11; D: CRY01-CRY05; Prof §4.1.4.2).

Built with lxml so that every namespace the Assertion uses is declared on the
Assertion itself: an encrypted assertion is decrypted on its own by Shibboleth SP,
and must parse there. Order of operations: sign the Assertion, encrypt it
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
from ..sp.attributes import Value, attribute_statement, name_id_element
from ..sp.nameids import IssuedNameId
from ..sp.providers import ServiceProvider
from ..wire.crypto import CIPHERS, add_signature_template
from ..wire.xml import SAML, SAML_NS, SAMLP, SAMLP_NS, XS_NS, XSI_NS

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
    assertion = _assertion(idp, to, content, now)
    if to.sp.policy.sign_assertion or to.sp.want_assertions_signed:
        add_signature_template(assertion, idp.keys.signing.cert, idp.keys.signing.algorithm)
        assertion = idp.signer.sign(assertion, assertion.get("ID", ""))
    if should_encrypt(to.sp):
        encrypted = etree.Element(SAML + "EncryptedAssertion", nsmap={"saml": SAML_NS})
        encrypted.append(idp.signer.encrypt(assertion, to.sp.encryption_certs[0], cipher_for(to.sp)))
        assertion = encrypted
    response = _response(idp, to, now, _status(SUCCESS))
    response.append(assertion)
    return _finish(idp, to.sp, response)


def build_status(idp: IdentityProvider, to: Addressee, error: StatusError, now: float) -> bytes:
    """A Response with an error status and no assertion (RSP10, Core §3.2.2.2)."""
    return _finish(idp, to.sp, _response(idp, to, now, _status(error.top, error.second, error.detail)))


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


def _finish(idp: IdentityProvider, sp: ServiceProvider, response: etree._Element) -> bytes:
    if sp.policy.sign_response:
        add_signature_template(response, idp.keys.signing.cert, idp.keys.signing.algorithm)
        response = idp.signer.sign(response, response.get("ID", ""))
    return bytes(etree.tostring(response, xml_declaration=True, encoding="UTF-8"))


def _response(idp: IdentityProvider, to: Addressee, now: float, status: etree._Element) -> etree._Element:
    response = etree.Element(SAMLP + "Response", nsmap={"samlp": SAMLP_NS, "saml": SAML_NS}, ID=new_id(),
                             Version="2.0", IssueInstant=instant(now), Destination=to.acs_url,
                             **_answering(to))
    etree.SubElement(response, SAML + "Issuer").text = idp.entity_id
    response.append(status)
    return response


def _answering(to: Addressee) -> dict[str, str]:
    """The InResponseTo attribute, or none for an unsolicited Response (Prof §4.1.5)."""
    return {} if to.in_response_to is None else {"InResponseTo": to.in_response_to}


def _status(top: str, second: str = "", message: str = "") -> etree._Element:
    status = etree.Element(SAMLP + "Status")
    code = etree.SubElement(status, SAMLP + "StatusCode", Value=top)
    if second:
        etree.SubElement(code, SAMLP + "StatusCode", Value=second)
    if message:
        etree.SubElement(status, SAMLP + "StatusMessage").text = message
    return status


def _assertion(idp: IdentityProvider, to: Addressee, content: AssertionContent, now: float) -> etree._Element:
    until = instant(now + idp.settings.assertion_lifetime)
    assertion = etree.Element(SAML + "Assertion", nsmap={"saml": SAML_NS, "xs": XS_NS, "xsi": XSI_NS},
                              ID=new_id(), Version="2.0", IssueInstant=instant(now))
    etree.SubElement(assertion, SAML + "Issuer").text = idp.entity_id
    subject = etree.SubElement(assertion, SAML + "Subject")
    subject.append(name_id_element(content.name_id))
    confirmation = etree.SubElement(subject, SAML + "SubjectConfirmation", Method=BEARER)
    etree.SubElement(confirmation, SAML + "SubjectConfirmationData", **_answering(to), NotOnOrAfter=until,
                     Recipient=to.acs_url)
    conditions = etree.SubElement(assertion, SAML + "Conditions", NotBefore=instant(now), NotOnOrAfter=until)
    audience = etree.SubElement(conditions, SAML + "AudienceRestriction")
    etree.SubElement(audience, SAML + "Audience").text = to.sp.entity_id
    assertion.append(_authn_statement(idp, content, now))
    statement = attribute_statement(content.attributes)
    if statement is not None:
        assertion.append(statement)
    return assertion


def _authn_statement(idp: IdentityProvider, content: AssertionContent, now: float) -> etree._Element:
    statement = etree.Element(SAML + "AuthnStatement", AuthnInstant=instant(content.authn_instant),
                              SessionIndex=content.session_index)
    if idp.settings.session_hours:
        statement.set("SessionNotOnOrAfter", instant(now + idp.settings.session_hours * 3600))
    context = etree.SubElement(statement, SAML + "AuthnContext")
    etree.SubElement(context, SAML + "AuthnContextClassRef").text = content.authn_context
    return statement
