"""Bearer-token authentication of provisioning services (RFC 7644 §2; RFC 6750 §2.1, §3).

Tokens come from ``settings.scim.tokens`` (service name -> token). The
presented token is compared with every configured one in constant time and
without stopping at a match, so timing tells nothing about which token or how
many exist. The service name, never the token, goes to ``g`` and the audit log.

Failed attempts (no token, a wrong one) are counted per client address with the
``limits.scim_auth_per_client`` rule; over it, every request from that client is
answered 429 with ``Retry-After`` (RFC 6585 §4) before its token is looked at,
so a client guessing tokens learns nothing more until the window ends.
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import Response, g, request

from .. import services
from ..errors import scim_error
from ..identity.flaskglue.current import client_address
from ..logs import audit

CHALLENGE = 'Bearer realm="scim"'
#: The LimitSettings rule counting failed bearer tokens per client.
RULE = "scim_auth_per_client"


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


def require_token() -> tuple[Response, int] | None:
    """``before_request`` of the SCIM blueprint: 401 with a challenge (RFC 6750 §3) unless authorised,
    429 (RFC 6585 §4) once the client has failed too often.

    On success the service name is kept in ``g.scim_service``.
    """
    client, limits = client_address(), services.ratelimits()
    wait = limits.wait(RULE, client=client)
    if wait:
        return _too_many(wait)
    token = bearer_token(request.headers.get("Authorization"))
    service = service_for(token, services.settings().scim.tokens) if token else None
    if service is None:
        audit(
            "scim.denied",
            reason="no bearer token" if token is None else "unknown token",
            method=request.method,
            path=request.path,
            remote_addr=request.remote_addr,
        )
        wait = limits.hit(RULE, client=client)
        if wait:
            return _too_many(wait)
        response, status = scim_error(401, "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = CHALLENGE
        return response, status
    g.scim_service = service
    return None


def _too_many(wait: int) -> tuple[Response, int]:
    """SCIM error JSON with status 429 and Retry-After (RFC 7644 §3.12; RFC 6585 §4)."""
    audit("scim.throttled", method=request.method, path=request.path, remote_addr=request.remote_addr,
          retry_after=wait)
    response, status = scim_error(429, f"too many failed authentications; retry in {wait} seconds")
    response.headers["Retry-After"] = str(wait)
    return response, status
