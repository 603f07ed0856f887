"""The discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2; checklist DISC01).

``issuer`` is byte-identical to every token's ``iss``; every endpoint is
absolute, built from ``public_url`` (never the Host header). What is not
offered is said so (``request_parameter_supported: false``, no implicit or
hybrid response types, no ``none`` alg), never silently ignored.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .claims import CLAIMS_SUPPORTED, SUPPORTED_SCOPES
from .grants import CLIENT_AUTH_METHODS
from .keys import ALGORITHMS

if TYPE_CHECKING:
    from .provider import Provider

ENDPOINTS = {
    "authorization_endpoint": "/oidc/authorize",
    "token_endpoint": "/oidc/token",
    "userinfo_endpoint": "/oidc/userinfo",
    "jwks_uri": "/oidc/jwks",
    "end_session_endpoint": "/oidc/logout",
    "revocation_endpoint": "/oidc/revoke",
    "introspection_endpoint": "/oidc/introspect",
}


def metadata(provider: Provider) -> dict[str, Any]:
    """The OpenID Provider Metadata of this gateway."""
    algs = provider.keys.current().algorithms()
    doc: dict[str, Any] = {"issuer": provider.issuer}
    doc.update({name: provider.url(path) for name, path in ENDPOINTS.items()})
    if provider.settings.registration_enabled:
        doc["registration_endpoint"] = provider.url("/oidc/register")
    doc.update({
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": [m for m in CLIENT_AUTH_METHODS if m != "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", *CLAIMS_SUPPORTED],
        "claims_parameter_supported": True,
        "claim_types_supported": ["normal"],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page", "popup"],
        "ui_locales_supported": ["fr", "en"],
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "authorization_response_iss_parameter_supported": True,
    })
    return doc
