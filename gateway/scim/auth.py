"""Bearer-token authentication of provisioning services (RFC 7644 §2; RFC 6750 §2.1, §3).

The token check, its scopes and the limiter on failed tokens live in
:mod:`gateway.bearer` (shared with the support API); here, what SCIM answers:
401 with a challenge, 403 for a token that does not open the SCIM API, 429 with
``Retry-After`` once the client failed too often, as SCIM error JSON.
"""
from __future__ import annotations

from flask import Response, g

from ..bearer import Refused, authenticate
from ..errors import scim_error

CHALLENGE = 'Bearer realm="scim"'
SCOPE = "scim"


def require_token() -> tuple[Response, int] | None:
    """``before_request`` of the SCIM blueprint: None once authorised (the service name kept in
    ``g.scim_service``), else the SCIM error (RFC 7644 §3.12) to answer."""
    try:
        g.scim_service = authenticate(SCOPE, "scim")
    except Refused as exc:
        response, status = scim_error(exc.status, exc.detail)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = CHALLENGE
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    return None
