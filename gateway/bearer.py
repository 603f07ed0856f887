"""Bearer tokens of the services that call the gateway's APIs (SCIM, support): RFC 6750 §2.1, §3.

Tokens come from ``settings.scim.tokens`` (service name -> token), and what each
opens from ``settings.scim.token_scopes`` ("scim", "support"; by default "scim").
The presented token is compared with every configured one in constant time and
without stopping at a match, so timing tells nothing about which token or how
many exist. The service name, never the token, goes to the audit log.

Failed attempts (no token, a wrong one, a token without the API's scope) are
counted per client address with the ``limits.scim_auth_per_client`` rule, one
counter for every API; over it, every request from that client is refused (429,
``Retry-After``, RFC 6585 §4) before its token is looked at, so a client
guessing tokens learns nothing more until the window ends. Each API turns
:class:`Refused` into its own error body (SCIM error JSON, the support API's JSON).

Reading the header (:func:`bearer_token`) and finding whose token it is
(:func:`service_for`) serve OIDC Dynamic Client Registration too (its initial
access tokens, RFC 7591 §3): the one place a bearer token is read and compared.
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import request

from . import services
from .identity.flaskglue.current import client_address
from .logs import audit

#: The LimitSettings rule counting failed bearer tokens per client, whichever API.
RULE = "scim_auth_per_client"


class Refused(Exception):
    """The request is refused: ``status`` 401 (no or unknown token), 403 (token without the scope,
    RFC 6750 §3.1 ``insufficient_scope``) or 429 (``retry_after`` seconds)."""

    def __init__(self, status: int, detail: str, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1), else None."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.casefold() == "bearer" and token else None


def service_for(token: str, tokens: Mapping[str, str]) -> str | None:
    """The service whose token this is, comparing against all of them (no early exit)."""
    given = token.encode()
    found: str | None = None
    for name, expected in tokens.items():
        if hmac.compare_digest(given, expected.encode()) and expected and found is None:
            found = name
    return found


def authenticate(scope: str, api: str) -> str:
    """The service calling this request, whose token opens ``scope``.

    ``api`` names the audit events (``<api>.denied``, ``<api>.throttled``). Raises
    :class:`Refused` (audited, and counted per client unless already over the limit).
    """
    client, limits = client_address(), services.ratelimits()
    wait = limits.wait(RULE, client=client)
    if wait:
        raise _too_many(api, wait)
    settings = services.settings().scim
    token = bearer_token(request.headers.get("Authorization"))
    service = service_for(token, settings.tokens) if token else None
    if service is not None and scope in settings.scopes_of(service):
        return service
    reason = "no bearer token" if token is None else "unknown token" if service is None \
        else "insufficient scope"
    audit(f"{api}.denied", reason=reason, method=request.method, path=request.path,
          remote_addr=request.remote_addr, **({"service": service} if service else {}))
    wait = limits.hit(RULE, client=client)
    if wait:
        raise _too_many(api, wait)
    if service is not None:
        raise Refused(403, f"this token does not open the {scope} API")
    raise Refused(401, "a valid bearer token is required")


def _too_many(api: str, wait: int) -> Refused:
    audit(f"{api}.throttled", method=request.method, path=request.path, remote_addr=request.remote_addr,
          retry_after=wait)
    return Refused(429, f"too many failed authentications; retry in {wait} seconds", retry_after=wait)
