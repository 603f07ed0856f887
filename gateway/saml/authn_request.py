"""Receiving a samlp:AuthnRequest: every check of checklist B before anyone is asked to sign in.

:func:`receive` turns an :class:`~.bindings.InboundMessage` into an
:class:`SsoRequest`, in this order (each step raises one of :mod:`.errors`):

1. defusedxml gate, schema validation, then pysaml2 parsing (REQ01, SEC02);
2. Version 2.0, a known Issuer with an SPSSODescriptor (REQ07);
3. the ACS, from metadata only (REQ02, REQ03);
4. signatures: verified when present, required when the SP's metadata says
   AuthnRequestsSigned (REQ04, REQ05), over the raw query string (REQ06);
5. Destination, IssueInstant within the skew (REQ07, RSP09);
6. the ID not seen before (SEC05), remembered in Redis with SET NX.

NameIDPolicy, RequestedAuthnContext, ForceAuthn and IsPassive are recorded for
later (REQ08-REQ11); a Subject in the request is refused (REQ14) by the SSO step.
"""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timezone
from typing import Any

from saml2 import samlp
from saml2.xml.schema import XMLSchemaError
from saml2.xml.schema import validate as validate_schema

from ..store import Store, key
from .acs import choose_acs
from .bindings import InboundMessage
from .errors import (
    MalformedRequest,
    ReplayedRequest,
    SignatureRejected,
    StaleRequest,
    UnknownServiceProvider,
    WrongDestination,
)
from .idp import IdentityProvider
from .nameids import NameIdPolicy
from .providers import ServiceProvider, xs_boolean
from .signatures import has_signature, verify_enveloped, verify_redirect
from .xml import SAMLP, check_safe, parse


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


def receive(idp: IdentityProvider, message: InboundMessage, store: Store, now: float) -> SsoRequest:
    """Validate an inbound AuthnRequest (checklist B). Raises RequestRejected subclasses."""
    check_safe(message.xml)
    root = parse(message.xml)
    request = _read(message.xml, root)
    sp = _known_sp(idp, request)
    acs = choose_acs(sp, request.assertion_consumer_service_url, _index(request), request.protocol_binding)
    _check_signature(message, root, sp)
    _check_destination_and_time(idp, request, now, sp.entity_id)
    _remember_id(store, sp.entity_id, request.id, idp.settings.clock_skew)
    wanted_context = request.requested_authn_context
    return SsoRequest(
        id=request.id, sp_entity_id=sp.entity_id, acs_url=acs.location, relay_state=message.relay_state,
        force_authn=xs_boolean(request.force_authn or "false"),
        is_passive=xs_boolean(request.is_passive or "false"),
        name_id_policy=_name_id_policy(request), authn_contexts=_authn_contexts(request),
        comparison=(wanted_context.comparison or "exact") if wanted_context is not None else "",
        has_subject=request.subject is not None, received_at=now,
    )


def _read(xml: bytes, root: Any) -> samlp.AuthnRequest:
    if root.tag != SAMLP + "AuthnRequest":
        raise MalformedRequest(f"root element {root.tag!r}")
    try:
        validate_schema(xml.decode("utf-8"))
    except (XMLSchemaError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"schema: {str(exc)[:200]}") from None
    request = samlp.authn_request_from_string(xml.decode("utf-8"))
    if request is None or request.version != "2.0" or not request.id:
        raise MalformedRequest("not a SAML 2.0 AuthnRequest with an ID")
    return request


def _known_sp(idp: IdentityProvider, request: samlp.AuthnRequest) -> ServiceProvider:
    issuer = text_of_issuer(request)
    sp = idp.provider(issuer)
    if sp is None:
        raise UnknownServiceProvider(f"unknown Issuer {issuer[:200]!r}")
    return sp


def text_of_issuer(request: samlp.AuthnRequest) -> str:
    """The full Issuer text (pysaml2 joins the text around comments: SEC04)."""
    return (request.issuer.text or "").strip() if request.issuer is not None else ""


def _index(request: samlp.AuthnRequest) -> int | None:
    value = request.assertion_consumer_service_index
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedRequest("AssertionConsumerServiceIndex is not a number") from None


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


def _check_destination_and_time(idp: IdentityProvider, request: samlp.AuthnRequest, now: float,
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


def _remember_id(store: Store, sp_entity_id: str, request_id: str, skew: int) -> None:
    """SET NX with TTL = the whole window an IssueInstant can be accepted in (SEC05)."""
    digest = hashlib.sha256(f"{sp_entity_id}\n{request_id}".encode()).hexdigest()
    if not store.redis.set(key("saml", "request-id", digest), "1", nx=True, ex=2 * skew + 60):
        raise ReplayedRequest(f"request ID {request_id[:80]!r} already received", sp_entity_id)


def _name_id_policy(request: samlp.AuthnRequest) -> NameIdPolicy:
    policy = request.name_id_policy
    if policy is None:
        return NameIdPolicy()
    allow = None if policy.allow_create is None else xs_boolean(policy.allow_create)
    return NameIdPolicy(policy.format, allow, policy.sp_name_qualifier)


def _authn_contexts(request: samlp.AuthnRequest) -> tuple[str, ...]:
    wanted = request.requested_authn_context
    if wanted is None:
        return ()
    return tuple((ref.text or "").strip() for ref in wanted.authn_context_class_ref)
