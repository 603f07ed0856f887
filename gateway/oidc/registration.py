"""Dynamic Client Registration: RFC 7591 (register) and RFC 7592 (read, update, delete).

Open in development; in production a registration needs one of the initial
access tokens of ``oidc.initial_access_tokens`` (RFC 7591 §3), and none at all
when ``oidc.registration_enabled`` is false. Registered clients live in Redis
beside the configured ones (``gw:oidc:client:<client_id>``, TTL =
``registered_client_days``, also their ``client_secret_expires_at``) and pass
the same checks (:func:`gateway.oidc.clients.client_problems`): exact redirect
URIs, https in production, ``alg=none`` refused (CONF04). Secrets and
registration access tokens are kept hashed only.

Not supported (refused with ``invalid_client_metadata``, never ignored):
``jwks_uri`` and ``sector_identifier_uri`` (the gateway fetches nothing from
clients), signed or encrypted UserInfo, encrypted ID tokens.
"""
from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authlib.oauth2.claims import BaseClaims
from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import (
    ClientMetadataClaims,
    ClientRegistrationEndpoint,
    InvalidClientMetadataError,
    InvalidRedirectURIError,
)
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from authlib.oidc.registration import ClientMetadataClaims as OidcClientMetadataClaims

from ..bearer import bearer_token, service_for
from ..logs import audit
from .claims import SUPPORTED_SCOPES
from .clients import SECRET_METHODS, Client, client_problems
from .credentials import hash_secret, new_secret, token_digest
from .discovery import metadata

if TYPE_CHECKING:
    from .provider import Provider

UNSUPPORTED = ("jwks_uri", "sector_identifier_uri", "userinfo_signed_response_alg",
               "userinfo_encrypted_response_alg", "id_token_encrypted_response_alg",
               "request_object_encryption_alg")


class LogoutMetadataClaims(BaseClaims):  # type: ignore[misc]
    """RP-Initiated Logout §3.1 and Back-Channel Logout §2.2 client metadata."""

    REGISTERED_CLAIMS = ["post_logout_redirect_uris", "backchannel_logout_uri",
                         "backchannel_logout_session_required"]


#: Outside what RFC 6749 §5.2 allows in ``error_description`` (the problems quote what was sent).
_DESCRIPTION_UNSAFE = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')


def _bearer(headers: Mapping[str, str]) -> str:
    """The request's bearer token (:func:`gateway.bearer.bearer_token`), "" when none."""
    return bearer_token(headers.get("Authorization")) or ""


def build_client(provider: Provider, info: Mapping[str, Any], metadata: Mapping[str, Any],
                 registration_token: str, previous: Client | None = None) -> Client:
    """A registered :class:`Client` from validated metadata. Raises InvalidClientMetadataError."""
    refused = [name for name in UNSUPPORTED if metadata.get(name)]
    if refused:
        raise InvalidClientMetadataError(f"Not supported: {', '.join(refused)}.")
    method = metadata.get("token_endpoint_auth_method") or "client_secret_basic"
    asked = scope_to_list(metadata.get("scope") or "openid profile email")
    scopes = [s for s in asked if s in SUPPORTED_SCOPES]
    now = provider.now()
    client = Client(
        client_id=info["client_id"], client_name=metadata.get("client_name") or "",
        secret_hash=(previous.secret_hash if previous else hash_secret(info["client_secret"]))
        if method in SECRET_METHODS else "",
        redirect_uris=tuple(metadata.get("redirect_uris") or ()),
        post_logout_redirect_uris=tuple(metadata.get("post_logout_redirect_uris") or ()),
        backchannel_logout_uri=str(metadata.get("backchannel_logout_uri") or ""),
        scopes=tuple(dict.fromkeys(["openid", *scopes])),
        grant_types=tuple(metadata.get("grant_types") or ("authorization_code",)),
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=metadata.get("id_token_signed_response_alg") or "RS256",
        subject_type=metadata.get("subject_type") or "public",
        jwks=metadata.get("jwks"), registered=True,
        registration_token_hash=token_digest(registration_token),
        issued_at=previous.issued_at if previous else now,
        expires_at=now + provider.settings.registered_client_days * 86400,
    )
    problems = client_problems(client, production=provider.production)
    if client.subject_type == "pairwise" and provider.production and not provider.settings.pairwise_secret:
        problems.append("subject_type: pairwise is not available (no pairwise secret configured)")
    if problems:
        redirect = any(p.startswith("redirect_uris") for p in problems)
        error = InvalidRedirectURIError if redirect else InvalidClientMetadataError
        raise error(_DESCRIPTION_UNSAFE.sub("?", "; ".join(problems)))
    return client


def _metadata_for_claims(provider: Provider) -> dict[str, Any]:
    """Server metadata for authlib's claim checks; scopes are filtered, not refused."""
    return {k: v for k, v in metadata(provider).items() if k != "scopes_supported"}


CLAIMS_CLASSES = [ClientMetadataClaims, OidcClientMetadataClaims, LogoutMetadataClaims]


class Registration(ClientRegistrationEndpoint):  # type: ignore[misc]
    """``POST /oidc/register`` (RFC 7591 §3)."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(claims_classes=CLAIMS_CLASSES)
        self.provider = provider

    def authenticate_token(self, request: Any) -> dict[str, str] | None:
        """An initial access token (RFC 7591 §3.1), or nothing in development; 401 for a wrong one."""
        settings = self.provider.settings
        if not settings.registration_enabled:
            return None
        given = _bearer(request.headers)
        if given:
            name = service_for(given, settings.initial_access_tokens)  # each one compared, in constant time
            if name is None:
                raise InvalidTokenError()
            return {"initial_access_token": name}
        return None if self.provider.production else {"open": "development"}

    def get_server_metadata(self) -> dict[str, Any]:
        return _metadata_for_claims(self.provider)

    def generate_client_id(self, request: Any) -> str:
        return secrets.token_urlsafe(24)

    def generate_client_secret(self, request: Any) -> str:
        return new_secret()

    def save_client(self, client_info: dict[str, Any], client_metadata: dict[str, Any],
                    request: Any) -> Client:
        request.registration_token = secrets.token_urlsafe(32)
        client = build_client(self.provider, client_info, client_metadata, request.registration_token)
        self.provider.registrations.save(client)
        audit("oidc.client_registered", client=client.client_id, by=next(iter(request.credential.values())))
        return client

    def generate_client_registration_info(self, client: Client, request: Any) -> dict[str, str]:
        return {"registration_client_uri": self.provider.url(f"/oidc/register/{client.client_id}"),
                "registration_access_token": request.registration_token}

    def create_registration_response(self, request: Any) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """RFC 7591 §3.2.1; a client without a secret method gets no ``client_secret``."""
        status, body, headers = super().create_registration_response(request)
        body["client_secret_expires_at"] = body["client_id_issued_at"] + \
            self.provider.settings.registered_client_days * 86400
        if body.get("token_endpoint_auth_method", "client_secret_basic") not in SECRET_METHODS:
            body.pop("client_secret", None)
        return status, body, headers


class RegistrationToken:
    """A registration access token (RFC 7592 §3), already checked against its client."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id


class Configuration(ClientConfigurationEndpoint):  # type: ignore[misc]
    """``GET|PUT|DELETE /oidc/register/<client_id>`` (RFC 7592 §2)."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(claims_classes=CLAIMS_CLASSES)
        self.provider = provider

    def _client_id(self, request: Any) -> str:
        return str(urlsplit(request.uri).path).rstrip("/").rsplit("/", 1)[-1]

    def authenticate_token(self, request: Any) -> RegistrationToken:
        """401 ``invalid_token`` for a missing or wrong token, or an unknown client (RFC 7592 §2)."""
        client = self.provider.registrations.get(self._client_id(request))
        given = _bearer(request.headers)
        valid = client is not None and bool(given) \
            and hmac.compare_digest(token_digest(given), client.registration_token_hash)
        if client is None or not valid:
            raise InvalidTokenError()
        return RegistrationToken(client.client_id)

    def authenticate_client(self, request: Any) -> Client | None:
        return self.provider.registrations.get(self._client_id(request))

    def revoke_access_token(self, *args: Any) -> None:
        """Nothing to revoke separately: the token is part of the client record."""

    def check_permission(self, client: Client, request: Any) -> bool:
        return client.registered

    def get_server_metadata(self) -> dict[str, Any]:
        return _metadata_for_claims(self.provider)

    def introspect_client(self, client: Client) -> dict[str, Any]:
        return {**client.client_info, **client.client_metadata}

    def generate_client_registration_info(self, client: Client, request: Any) -> dict[str, str]:
        return {"registration_client_uri": self.provider.url(f"/oidc/register/{client.client_id}"),
                "registration_access_token": _bearer(request.headers)}

    def delete_client(self, client: Client, request: Any) -> None:
        self.provider.registrations.delete(client.client_id)
        audit("oidc.client_deleted", client=client.client_id)

    def update_client(self, client: Client, client_metadata: dict[str, Any], request: Any) -> Client:
        info = {"client_id": client.client_id}
        token = _bearer(request.headers)
        updated = build_client(self.provider, info, client_metadata, token, previous=client)
        if updated.token_endpoint_auth_method != client.token_endpoint_auth_method:
            raise InvalidClientMetadataError("token_endpoint_auth_method cannot change: register anew.")
        self.provider.registrations.save(updated)
        audit("oidc.client_updated", client=client.client_id)
        return updated
