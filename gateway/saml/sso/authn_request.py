"""Receiving a samlp:AuthnRequest: every check of checklist B before anyone is asked to sign in.

:func:`receive` turns an :class:`~gateway.saml.wire.bindings.InboundMessage` into an
:class:`SsoRequest`, in this order (each step raises one of :mod:`gateway.saml.errors`):

1. defusedxml gate, then lxml: the structure the schema requires, the fields (REQ01, SEC02);
2. Version 2.0, a known Issuer with an SPSSODescriptor (REQ07);
3. the ACS, from metadata only (REQ02, REQ03);
4. signatures: verified when present, required when the SP's metadata says
   AuthnRequestsSigned (REQ04, REQ05), over the raw query string (REQ06);
5. Destination, IssueInstant within the skew (REQ07, RSP09).

The caller then makes sure the ID was not seen before (SEC05): :func:`replay_guard`'s
key, SET NX with its TTL in the script that reads the session
(:func:`gateway.saml.slo.participants.load`), before anything is answered.

NameIDPolicy, RequestedAuthnContext, ForceAuthn and IsPassive are recorded for
later (REQ08-REQ11); a Subject in the request is refused (REQ14) by the SSO step.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from lxml import etree

from ...store import key
from ..errors import (
    MalformedRequest,
    ReplayedRequest,
    SignatureRejected,
    StaleRequest,
    UnknownServiceProvider,
    WrongDestination,
)
from ..idp.build import IdentityProvider
from ..sp.nameids import NameIdPolicy
from ..sp.providers import ServiceProvider, xs_boolean
from ..wire.bindings import InboundMessage
from ..wire.signatures import has_signature, verify_enveloped, verify_redirect
from ..wire.xml import DS, SAML, SAMLP, check_safe, parse, text_of
from .acs import choose_acs


@dataclasses.dataclass(frozen=True)
class SsoRequest:
    """A validated AuthnRequest: what the rest of the flow needs, JSON-serialisable."""

    id: str
    sp_entity_id: str
    acs_url: str
    relay_state: str | None
    force_authn: bool
    is_passive: bool
    name_id_policy: NameIdPolicy
    #: RequestedAuthnContext: the class refs and the comparison ("" when absent).
    authn_contexts: tuple[str, ...]
    comparison: str
    has_subject: bool
    #: When it was received (ForceAuthn accepts only a sign-in after this, REQ08).
    received_at: float
    #: ForceAuthn: a digest of the SSO session id when the request came (the sign-in must be a new one).
    prior_session: str = ""

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SsoRequest:
        values = dict(record)
        values["name_id_policy"] = NameIdPolicy(**values["name_id_policy"])
        values["authn_contexts"] = tuple(values["authn_contexts"])
        return cls(**values)


def receive(idp: IdentityProvider, message: InboundMessage, now: float) -> SsoRequest:
    """Validate an inbound AuthnRequest (checklist B), all but its replay check (:func:`replay_guard`).

    Raises RequestRejected subclasses.
    """
    check_safe(message.xml)
    root = parse(message.xml)
    request = read(root)
    sp = _known_sp(idp, request.issuer)
    acs = choose_acs(sp, request.acs_url, request.acs_index, request.protocol_binding)
    _check_signature(message, root, sp)
    _check_destination_and_time(idp, request, now, sp.entity_id)
    return SsoRequest(
        id=request.id, sp_entity_id=sp.entity_id, acs_url=acs.location, relay_state=message.relay_state,
        force_authn=request.force_authn, is_passive=request.is_passive,
        name_id_policy=request.name_id_policy, authn_contexts=request.authn_contexts,
        comparison=request.comparison, has_subject=request.has_subject, received_at=now,
    )


@dataclasses.dataclass(frozen=True)
class AuthnRequestFields:
    """What an AuthnRequest says, read straight from the (safe) lxml tree."""

    id: str
    issuer: str
    destination: str | None
    issue_instant: str
    acs_url: str | None
    acs_index: int | None
    protocol_binding: str | None
    force_authn: bool
    is_passive: bool
    name_id_policy: NameIdPolicy
    authn_contexts: tuple[str, ...]
    comparison: str
    has_subject: bool


#: samlp:AuthnRequestType's children, in schema order (Core §3.2.1, §3.4.1); each at most once.
_CHILDREN = (SAML + "Issuer", DS + "Signature", SAMLP + "Extensions", SAML + "Subject",
             SAMLP + "NameIDPolicy", SAML + "Conditions", SAMLP + "RequestedAuthnContext", SAMLP + "Scoping")
_ATTRIBUTES = frozenset({"ID", "Version", "IssueInstant", "Destination", "Consent", "ForceAuthn", "IsPassive",
                         "ProtocolBinding", "AssertionConsumerServiceIndex", "AssertionConsumerServiceURL",
                         "AttributeConsumingServiceIndex", "ProviderName"})
_COMPARISONS = frozenset({"exact", "minimum", "maximum", "better"})
#: xs:ID is an NCName: a letter or "_" first, then letters, digits, ".", "-", "_" (Core §1.3.4).
_XS_ID = re.compile(r"[^\W\d][\w.\-]*")


def read(root: etree._Element) -> AuthnRequestFields:
    """The fields of a samlp:AuthnRequest, after the structural checks its schema makes (REQ01).

    Replaces pysaml2's schema validation and object parsing (about 1.5 ms per
    request, most of the CPU of an SSO outside the signatures): the order and
    cardinality of the children, the attributes allowed, xs:boolean,
    xs:unsignedShort and xs:ID values, NameIDPolicy and RequestedAuthnContext.
    """
    if root.tag != SAMLP + "AuthnRequest":
        raise MalformedRequest(f"root element {root.tag!r}")
    attributes = dict(root.attrib)  # one copy: each lookup on lxml's attrib parses its name again
    unknown = [name for name in attributes if not name.startswith("{") and name not in _ATTRIBUTES]
    if unknown:
        raise MalformedRequest(f"unknown attribute {unknown[0][:80]!r}")
    request_id = attributes.get("ID", "")
    if attributes.get("Version") != "2.0" or not _XS_ID.fullmatch(request_id):
        raise MalformedRequest("not a SAML 2.0 AuthnRequest with an ID")
    if "IssueInstant" not in attributes:
        raise MalformedRequest("no IssueInstant")
    children = _children(root)
    policy = children.get(SAMLP + "NameIDPolicy")
    context = children.get(SAMLP + "RequestedAuthnContext")
    _unsigned_short(attributes.get("AttributeConsumingServiceIndex"), "AttributeConsumingServiceIndex")
    return AuthnRequestFields(
        id=request_id,
        issuer=text_of(children.get(SAML + "Issuer")),
        destination=attributes.get("Destination"),
        issue_instant=attributes["IssueInstant"],
        acs_url=attributes.get("AssertionConsumerServiceURL"),
        acs_index=_unsigned_short(attributes.get("AssertionConsumerServiceIndex"),
                                  "AssertionConsumerServiceIndex"),
        protocol_binding=attributes.get("ProtocolBinding"),
        force_authn=_boolean(attributes.get("ForceAuthn"), "ForceAuthn"),
        is_passive=_boolean(attributes.get("IsPassive"), "IsPassive"),
        name_id_policy=_name_id_policy(policy),
        authn_contexts=_authn_contexts(context),
        comparison=_comparison(context),
        has_subject=SAML + "Subject" in children,
    )


def _children(root: etree._Element) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    position = 0
    for child in root.iterchildren(tag=etree.Element):
        try:
            place = _CHILDREN.index(child.tag, position)
        except ValueError:
            raise MalformedRequest(f"unexpected or repeated element {str(child.tag)[:120]!r}") from None
        found[child.tag] = child
        position = place + 1
    return found


def _boolean(value: str | None, name: str) -> bool:
    if value is None:
        return False
    value = value.strip()
    if value not in ("true", "false", "1", "0"):
        raise MalformedRequest(f"{name} is not an xs:boolean")
    return xs_boolean(value)


def _unsigned_short(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or int(value) > 65535:
        raise MalformedRequest(f"{name} is not a number")
    return int(value)


def _known_sp(idp: IdentityProvider, issuer: str) -> ServiceProvider:
    sp = idp.provider(issuer)
    if sp is None:
        raise UnknownServiceProvider(f"unknown Issuer {issuer[:200]!r}")
    return sp


def _check_signature(message: InboundMessage, root: Any, sp: ServiceProvider) -> None:
    """REQ04-REQ06: verify what is signed; require it where the SP's metadata says so."""
    if message.has_query_signature:
        if not message.sig_alg:
            raise SignatureRejected("Signature without SigAlg", sp.entity_id)
        verify_redirect(message.raw_query, message.sig_alg, message.signature or "", sp.signing_certs)
        return
    if message.binding.endswith("HTTP-POST") and has_signature(root):
        verify_enveloped(root, sp.signing_certs)
        return
    if sp.authn_requests_signed:
        raise SignatureRejected("unsigned request; the SP's metadata says AuthnRequestsSigned", sp.entity_id)


def _check_destination_and_time(idp: IdentityProvider, request: AuthnRequestFields, now: float,
                                sp: str) -> None:
    if request.destination is not None and request.destination != idp.sso_url:
        raise WrongDestination(f"Destination {request.destination[:200]!r}", sp)
    try:
        parsed = datetime.fromisoformat(request.issue_instant)
    except (TypeError, ValueError):
        raise MalformedRequest("IssueInstant is not an xs:dateTime") from None
    issued = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    if abs(now - issued) > idp.settings.clock_skew:
        raise StaleRequest(f"IssueInstant {request.issue_instant} is {int(now - issued)} s from now", sp)


def replay_guard(request: SsoRequest, skew: int) -> tuple[str, int]:
    """The key to SET NX, and its TTL: the whole window an IssueInstant can be accepted in (SEC05)."""
    digest = hashlib.sha256(f"{request.sp_entity_id}\n{request.id}".encode()).hexdigest()
    return key("saml", "request-id", digest), 2 * skew + 60


def replayed(request: SsoRequest) -> ReplayedRequest:
    return ReplayedRequest(f"request ID {request.id[:80]!r} already received", request.sp_entity_id)


def _name_id_policy(policy: etree._Element | None) -> NameIdPolicy:
    if policy is None:
        return NameIdPolicy()
    allow = policy.get("AllowCreate")
    return NameIdPolicy(policy.get("Format"), None if allow is None else _boolean(allow, "AllowCreate"),
                        policy.get("SPNameQualifier"))


def _authn_contexts(context: etree._Element | None) -> tuple[str, ...]:
    if context is None:
        return ()
    refs = [child for child in context.iterchildren(tag=etree.Element)]
    if not refs or any(ref.tag not in (SAML + "AuthnContextClassRef", SAML + "AuthnContextDeclRef")
                       for ref in refs) or len({ref.tag for ref in refs}) > 1:
        raise MalformedRequest("RequestedAuthnContext without class refs (or mixed with decl refs)")
    return tuple(text_of(ref) for ref in refs if ref.tag == SAML + "AuthnContextClassRef")


def _comparison(context: etree._Element | None) -> str:
    if context is None:
        return ""
    comparison = str(context.get("Comparison", "exact"))
    if comparison not in _COMPARISONS:
        raise MalformedRequest("RequestedAuthnContext Comparison")
    return comparison
