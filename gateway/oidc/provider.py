"""The provider: one object per app holding the authlib server and what its hooks need.

``Provider`` receives every dependency as an argument (settings, store,
clients, keys, clock), as pyop's provider does; ``init_app`` keeps it in
``app.extensions["gateway.oidc"]``. Protocol code reaches storage only through
:class:`~gateway.oidc.tokens.TokenStore` and
:class:`~gateway.oidc.registration.Registrations`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidGrantError, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import has_request_context
from flask import request as flask_request
from flask import session as flask_session

from .. import services
from ..config import Settings
from ..identity.sessions import AUTH
from ..logs import audit
from ..store import Store
from .claims import CLAIMS_SUPPORTED, SUPPORTED_SCOPES, amr, parse_claims_request, subject
from .clients import Client
from .discovery import metadata
from .endpoints import AccessTokenValidator, ClientAssertion, EndSession, Introspection, Protector, Revocation
from .grants import TOKEN_BYTES, CodeGrant, Issuer, OpenIDCodeFlow, Pkce, RefreshGrant
from .keys import KeyStore
from .models import EndUser, Grant
from .registration import Configuration, Registration, Registrations
from .tokens import TokenStore


class Server(AuthorizationServer):  # type: ignore[misc]
    """authlib's Flask server; requests may also be rebuilt from a stored authorization request."""

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def query_client(self, client_id: str) -> Client | None:
        return self.provider.query_client(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.provider.save_token(token, request)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else FlaskOAuth2Request(flask_request)

    def create_authorization_response(self, request: Any = None, grant_user: Any = None,
                                      grant: Any = None) -> Any:
        """authlib's, without validating the request a second time when ``grant`` comes from
        :meth:`get_consent_grant` (which validated it: client, redirect URI, scope, PKCE, nonce,
        prompt). Hooks run as authlib runs them (RFC 9207 ``iss`` is one)."""
        redirect_uri = getattr(grant, "redirect_uri", None)
        if grant is None or redirect_uri is None or not isinstance(request, OAuth2Request):
            return super().create_authorization_response(request=request, grant_user=grant_user, grant=grant)
        self.execute_hook("before_create_authorization_response", request=request, grant_user=grant_user,
                          grant=grant)
        try:
            response = self.handle_response(*grant.create_authorization_response(redirect_uri, grant_user))
        except OAuth2Error as error:
            error.state = request.payload.state
            response = self.handle_error_response(request, error)
        grant.execute_hook("after_authorization_response", response)
        self.execute_hook("after_create_authorization_response", response)
        return response


class Provider:
    """The OpenID provider of one app. ``clock`` is injectable (tests move it)."""

    def __init__(self, settings: Settings, store: Store, clients: Mapping[str, Client], keys: KeyStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings.oidc
        self.production = settings.is_production
        self.public_url = settings.public_url.rstrip("/")
        self.issuer = settings.oidc.issuer or self.public_url
        self.clock = clock
        self.clients = dict(clients)
        self.keys = keys
        self.tokens = TokenStore(store, settings.oidc, clock=lambda: self.clock())
        self.registrations = Registrations(store, clock=lambda: self.clock())
        self._pairwise_key = _derive(settings.oidc.pairwise_secret or settings.secret_key, "pairwise")
        self._sid_key = _derive(settings.secret_key, "oidc-sid")
        self.protector = Protector()
        self.protector.register_token_validator(AccessTokenValidator(self))
        self.server = build_server(self)

    # -- small services ------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def url(self, path: str) -> str:
        """An absolute URL from ``public_url``, never from the Host header."""
        return self.public_url + path

    def query_client(self, client_id: str | None) -> Client | None:
        if not client_id:
            return None
        return self.clients.get(client_id) or self.registrations.get(client_id)

    def subject(self, account_id: str, client: Client) -> str:
        return subject(account_id, client, self._pairwise_key)

    def session_sid(self, session_id: str) -> str:
        """The ``sid`` claim for an SSO session: derived, so the cookie value never leaves the gateway."""
        digest = hmac.new(self._sid_key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode("ascii")

    def sign(self, claims: Mapping[str, Any], alg: str, typ: str = "JWT") -> str:
        return self.keys.current().sign(claims, alg, typ)

    def metadata(self) -> dict[str, Any]:
        return metadata(self)

    # -- hooks the grants call -------------------------------------------------------------------
    def new_grant(self, client: Client, user: EndUser, scope: str,
                  claims_param: str | None) -> tuple[Grant, int]:
        """A token family for this authorization and the TTL of its SSO session (to index it there,
        for logout); :meth:`TokenStore.issue_code` saves both with the code."""
        auth = user.authentication
        requested = parse_claims_request(claims_param)  # validated when the request came in
        grant = Grant(
            id=self.tokens.new_grant_id(), client_id=client.client_id, account_id=user.account.id,
            session_id=auth.session_id, scope=scope, auth_time=auth.auth_time, amr=tuple(amr(auth.methods)),
            sid=self.session_sid(auth.session_id), claims={k: tuple(v) for k, v in requested.items()},
        )
        return grant, self.session_ttl(auth.session_id) or 60

    def session_ttl(self, session_id: str) -> int | None:
        """Seconds the SSO session has left; None when it has ended.

        This request's own session was loaded (and checked) by the session interface: it is not
        read again.
        """
        sessions = services.sessions()
        current = flask_session if has_request_context() else None
        if current is not None and getattr(current, "sid", None) == session_id and current.get(AUTH):
            return max(sessions.ttl_for(current), 1)
        data = sessions.load(session_id)
        return None if data is None else max(sessions.ttl_for(data), 1)

    def session_ttl_of(self, session_id: str, raw: str | None) -> int | None:
        """:meth:`session_ttl` from the session record the caller read (its JSON; None when missing),
        judged as :meth:`SessionStore.load` judges it (a record past its time is deleted)."""
        sessions = services.sessions()
        data = None if raw is None else dict(json.loads(raw))
        if data is not None and sessions.expired(data):
            sessions.delete(session_id, data)
            data = None
        return None if data is None else max(sessions.ttl_for(data), 1)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Store the tokens; after a code exchange, record the RP as a party of the SSO session
        (Back-Channel Logout needs to know this RP got tokens for this session, §2.7)."""
        code = request.authorization_code
        grant: Grant = code.grant if code is not None else request.refresh_token.grant
        scope = token.get("scope") or grant.scope
        if code is None:
            self.tokens.save_tokens(grant, token, scope)
        else:
            ttl = code.session_ttl  # read with the code
            if ttl is None:  # the session ended between the code and the token request
                self.tokens.revoke_grant(grant.id)
                raise InvalidGrantError("The session this code belongs to has ended.")
            client = request.client
            rp = {"sid": grant.sid, "sub": self.subject(grant.account_id, client)}
            self.tokens.save_tokens(grant, token, scope, rp=(rp, ttl))
            services.parties().joined(grant.session_id, "oidc", client.client_id, {"sid": grant.sid}, ttl)
        audit("oidc.token_issued", client=grant.client_id, grant_type=request.payload.grant_type,
              account=grant.account_id)


def new_token() -> str:
    """An access or refresh token: 288 random bits, 48 URL-safe characters, from one ``urandom`` read
    (authlib's ``generate_token`` draws each character separately: 48 reads)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"uness-gateway oidc {purpose}".encode(), hashlib.sha256).digest()


def build_server(provider: Provider) -> Server:
    """authlib's server: code grant (+PKCE, +OpenID), refresh, and the endpoints (RFC-named)."""
    server = Server(provider)
    settings = provider.settings
    server.register_token_generator("default", BearerTokenGenerator(
        access_token_generator=lambda **kw: new_token(),
        refresh_token_generator=lambda **kw: new_token(),
        expires_generator=lambda client, grant_type: settings.access_token_seconds,
    ))
    server.scopes_supported = None  # unknown scopes are ignored per client, not refused (RFC 6749 §3.3)
    server.register_grant(CodeGrant, [Pkce(required=True), OpenIDCodeFlow(provider)])
    server.register_grant(RefreshGrant)
    server.register_extension(Issuer(provider.issuer))
    server.register_client_auth_method("private_key_jwt", ClientAssertion(provider))
    for endpoint in (Revocation(provider), Introspection(provider), EndSession(provider),
                     Registration(provider), Configuration(provider)):
        server.register_endpoint(endpoint)
    return server


__all__ = ["Provider", "Server", "build_server", "CLAIMS_SUPPORTED", "SUPPORTED_SCOPES"]
