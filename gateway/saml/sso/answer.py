"""Answering a signed-in person: a validated AuthnRequest (REQ08-REQ11, REQ14; C; E), or a portal link.

Values in, values out (no Flask): the view passes the request, the account and
its :class:`~gateway.identity.models.Authentication`, and what the SP already got
in this session (:class:`Participation`); it gets back the Response document and
the new participation to record for SLO. IdP-initiated SSO
(:func:`answer_unsolicited`, checks in :mod:`.initiated`) is answered by the same
:func:`respond`, with no InResponseTo.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection

from ...accounts.models import Account
from ...identity.models import Authentication
from ..errors import NoAuthnContext, RequestDenied, RequestUnsupported, StatusError, UnknownServiceProvider
from ..idp.build import IdentityProvider
from ..sp.attributes import Value, account_values, release, released_names
from ..sp.nameids import IssuedNameId, NameIdPolicy, NameIds, format_for, legacy_replaces_transient
from ..sp.providers import ServiceProvider
from .authn_request import SsoRequest
from .response import Addressee, AssertionContent, build_status, build_success, new_id

AC = "urn:oasis:names:tc:SAML:2.0:ac:classes:"
PASSWORD_PROTECTED_TRANSPORT = AC + "PasswordProtectedTransport"
#: Weaker than or equal to what a password over TLS gives, weakest first (Core §3.3.2.2.1).
_AT_MOST = (AC + "unspecified", AC + "Password", PASSWORD_PROTECTED_TRANSPORT)


@dataclasses.dataclass(frozen=True)
class Participation:
    """What an SP got in an SSO session: the NameID and SessionIndex SLO will need."""

    name_id: IssuedNameId
    session_index: str


def needs_sign_in(request: SsoRequest, auth: Authentication | None, resuming: bool) -> bool:
    """No session; or ForceAuthn, and this is not the return from a sign-in made after the request (REQ08).

    Every sign-in starts a session under a new id (SEC08), so a fresh sign-in has
    an id other than the one the request met, and an auth_time not before it.
    """
    if auth is None:
        return True
    if not request.force_authn:
        return False
    if not resuming:
        return True
    same_session = session_digest(auth.session_id) == request.prior_session
    return same_session or auth.auth_time < int(request.received_at)


def session_digest(session_id: str) -> str:
    """What is kept of a session id in a saved request (never the id itself: it is the cookie)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def authn_context_for(request: SsoRequest) -> str:
    """The AuthnContextClassRef to state, honouring RequestedAuthnContext (REQ11). Raises NoAuthnContext."""
    wanted = request.authn_contexts
    if not wanted:
        return PASSWORD_PROTECTED_TRANSPORT
    comparison = request.comparison or "exact"
    if comparison == "exact":
        found = next((ref for ref in wanted if ref in _AT_MOST[1:]), None)
    elif comparison == "minimum":
        found = PASSWORD_PROTECTED_TRANSPORT if any(ref in _AT_MOST for ref in wanted) else None
    elif comparison == "better":
        found = PASSWORD_PROTECTED_TRANSPORT if any(ref in _AT_MOST[:2] for ref in wanted) else None
    else:  # maximum: the strongest requested that is not stronger than what was done
        found = next((ref for ref in reversed(_AT_MOST[1:]) if ref in wanted), None)
    if found is None:
        raise NoAuthnContext("requested authentication context not available")
    return found


def provider_of(idp: IdentityProvider, request: SsoRequest) -> ServiceProvider:
    """The request's SP (still in the metadata: it is read once per process)."""
    sp = idp.provider(request.sp_entity_id)
    if sp is None:
        raise UnknownServiceProvider(request.sp_entity_id)
    return sp


def answer(idp: IdentityProvider, request: SsoRequest, account: Account | None, auth: Authentication,
           name_ids: NameIds, previous: Participation | None, now: float) -> tuple[bytes, Participation]:
    """The signed Response for this person. Raises StatusError (the view then sends :func:`answer_error`)."""
    sp = provider_of(idp, request)
    if request.has_subject:
        raise RequestUnsupported("a Subject in the AuthnRequest is not supported")
    account = usable(account)
    context = authn_context_for(request)
    return respond(idp, Addressee(sp, request.acs_url, request.id), account, auth, name_ids, previous,
                   request.name_id_policy, context, now)


def answer_unsolicited(idp: IdentityProvider, sp: ServiceProvider, acs_url: str, account: Account | None,
                       auth: Authentication, name_ids: NameIds, previous: Participation | None,
                       now: float) -> tuple[bytes, Participation]:
    """IdP-initiated SSO (Prof §4.1.5): the Response to ``acs_url`` as :func:`answer` gives for a request
    with no NameIDPolicy and no RequestedAuthnContext, without InResponseTo. Raises StatusError."""
    return respond(idp, Addressee(sp, acs_url, None), usable(account), auth, name_ids, previous, NameIdPolicy(),
                   PASSWORD_PROTECTED_TRANSPORT, now)


def usable(account: Account | None) -> Account:
    """The signed-in person's account, still there and active. Raises RequestDenied."""
    if account is None or not account.is_active:
        raise RequestDenied("account unavailable")
    return account


def respond(idp: IdentityProvider, to: Addressee, account: Account, auth: Authentication, name_ids: NameIds,
            previous: Participation | None, policy: NameIdPolicy, context: str,
            now: float) -> tuple[bytes, Participation]:
    """The NameID (the one the SP already got in this session, if any), the attributes, the signed
    Response (:func:`~.response.build_success`), and the participation to record for SLO."""
    sp = to.sp
    name_id = name_ids.issue(account, sp, format_for(account, sp, policy), policy,
                             previous.name_id if previous else None)
    participation = Participation(name_id, previous.session_index if previous else new_id())
    content = AssertionContent(name_id, participation.session_index, auth.auth_time, context,
                               attributes_for(idp, sp, account, name_ids, policy))
    return build_success(idp, to, content, now), participation


def answer_error(idp: IdentityProvider, request: SsoRequest, error: StatusError, now: float) -> bytes:
    """A Response carrying ``error``'s status to the validated ACS (RSP10)."""
    sp = provider_of(idp, request)
    return build_status(idp, Addressee(sp, request.acs_url, request.id), error, now)


def attributes_for(idp: IdentityProvider, sp: ServiceProvider, account: Account, name_ids: NameIds,
                   policy: NameIdPolicy, create: bool = True,
                   only: Collection[str] | None = None) -> dict[str, tuple[Value, ...]]:
    """The attributes released to ``sp`` for ``account`` answering a request with this NameIDPolicy.

    ``create=False``: a persistent identifier not yet made is not made, and eduPersonTargetedID and
    pairwise-id are then left out; ``only``: those of these names that are released. No
    eduPersonTargetedID when the legacy persistent id goes as the NameID in place of a transient one
    (:func:`gateway.saml.sp.nameids.legacy_replaces_transient`: Shibboleth SP would see it twice).
    """
    names = [n for n in released_names(sp) if only is None or n in only]
    if legacy_replaces_transient(account, sp, policy):
        names = [n for n in names if n != "eduPersonTargetedID"]
    persistent = None
    if "eduPersonTargetedID" in names or "pairwise-id" in names:
        persistent = name_ids.persistent_name_id(account, sp.entity_id, create)
    return release(sp, account_values(account, sp, idp.settings.scope, persistent, scopes=idp.settings.scopes,
                                      names=names), names)
