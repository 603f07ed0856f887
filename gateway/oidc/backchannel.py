"""OpenID Connect Back-Channel Logout 1.0: tell each relying party its session ended.

When an SSO session ends (logout button, RP-Initiated Logout, SAML SLO, a
password reset, an account disabled...), :func:`session_ended` runs as an
``identity.logout`` hook: it takes the session's OIDC record (the RPs that got
tokens, and their grants) atomically, revokes the grants (tokens end with the
session, OIDC Core §11), and queues one job per RP with a
``backchannel_logout_uri`` on the logout job queue (:data:`gateway.jobs.LOGOUT`). The person never
waits on an RP (checklist LOGOUT03).

The job worker (``gateway mail-worker``) signs a fresh
Logout Token for each attempt (§2.4: ``iss``, ``aud``, ``iat``, ``exp``,
``jti``, ``events``, ``sub`` and ``sid``, never ``nonce``; header
``typ: logout+jwt``) and POSTs it form-encoded (§2.5) through
:func:`gateway.outbound.post`: a short timeout, never following redirects, and
in production only to a public address checked when the host is resolved (and
connected to as checked). Anything but 200/204 is retried after each of
``oidc.backchannel_retry_intervals``.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from .. import jobs, outbound
from ..identity.logout import EndedSession
from ..logs import audit
from .provider import Provider, current_provider

if TYPE_CHECKING:
    from .clients import Client

EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: A Logout Token is valid this long (§2.4 asks for a short lifetime).
TOKEN_SECONDS = 120
#: A job that exhausted its retries stays this long in rq's failed registry.
FAILED_TTL = 7 * 24 * 3600


class DeliveryFailed(Exception):
    """The RP did not answer 200 (or 204); rq schedules the next attempt."""


def _provider() -> Provider:
    return current_provider()


def logout_token(provider: Provider, client: Client, sub: str, sid: str) -> str:
    """A signed Logout Token (§2.4) for this RP and session."""
    now = provider.now()
    claims = {"iss": provider.issuer, "aud": client.client_id, "iat": now, "exp": now + TOKEN_SECONDS,
              "jti": secrets.token_urlsafe(24), "events": {EVENT: {}}, "sub": sub, "sid": sid}
    return provider.sign(claims, client.id_token_signed_response_alg, typ="logout+jwt")


def session_ended(ended: EndedSession) -> None:
    """``identity.logout`` hook: revoke the session's grants, queue one logout per RP that has a URI."""
    provider = _provider()
    rps, grants = provider.tokens.take_session(ended.sid)
    for grant_id in grants:
        provider.tokens.revoke_grant(grant_id)
    for client_id, party in rps.items():
        client = provider.query_client(client_id)
        if client is not None and client.backchannel_logout_uri:
            enqueue(provider, client, str(party.get("sub", "")), str(party.get("sid", "")))


def enqueue(provider: Provider, client: Client, sub: str, sid: str) -> None:
    """Queue one logout of this RP on the current app's job queue. Raises ``redis.RedisError``."""
    jobs.enqueue(
        jobs.LOGOUT, deliver, {"client_id": client.client_id, "sub": sub, "sid": sid},
        retry_intervals=provider.settings.backchannel_retry_intervals,
        description=f"backchannel logout to {client.client_id}", failure_ttl=FAILED_TTL,
        timeout=int(provider.settings.backchannel_timeout * 2) + 30,
    )
    audit("oidc.backchannel_queued", client=client.client_id)


def post_logout_token(uri: str, token: str, timeout: float, production: bool) -> int:
    """POST ``logout_token=`` form-encoded; returns the status. Raises DeliveryFailed."""
    body = urlencode({"logout_token": token}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    try:
        status, _ = outbound.post(uri, body, headers, timeout=timeout, production=production)
    except outbound.OutboundError as exc:
        raise DeliveryFailed(str(exc)) from None
    if status not in (200, 204):
        raise DeliveryFailed(f"{urlsplit(uri).netloc}: HTTP {status}")
    return status


@jobs.job("oidc.backchannel.deliver")
def deliver(job: Mapping[str, str]) -> None:
    """The rq job: sign a fresh Logout Token and deliver it (run by the worker, in app context)."""
    provider = _provider()
    client = provider.query_client(job["client_id"])
    if client is None or not client.backchannel_logout_uri:
        return  # the client was removed meanwhile: nobody to tell
    try:
        token = logout_token(provider, client, job["sub"], job["sid"])
        post_logout_token(client.backchannel_logout_uri, token, provider.settings.backchannel_timeout,
                          provider.production)
    except DeliveryFailed as exc:
        audit("oidc.backchannel_failed", client=client.client_id, error=str(exc))
        raise
    audit("oidc.backchannel_sent", client=client.client_id)
