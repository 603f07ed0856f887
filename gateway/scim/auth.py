"""Bearer-token authentication of provisioning services (RFC 7644 §2; RFC 6750 §2.1, §3).

Tokens come from ``settings.scim.tokens`` (service name -> token). The
presented token is compared with every configured one in constant time and
without stopping at a match, so timing tells nothing about which token or how
many exist. The service name, never the token, goes to ``g`` and the audit log.
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import Response, g, request

from .. import services
from ..errors import scim_error
from ..logs import audit

CHALLENGE = 'Bearer realm="scim"'


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
    """``before_request`` of the SCIM blueprint: 401 with a challenge (RFC 6750 §3) unless authorised.

    On success the service name is kept in ``g.scim_service``.
    """
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
        response, status = scim_error(401, "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = CHALLENGE
        return response, status
    g.scim_service = service
    return None
