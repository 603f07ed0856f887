"""The builder: authlib's authorization server wired around the provider facade.

:func:`build_provider` makes the :class:`~gateway.oidc.provider.Provider` and
registers on authlib's server the refresh grant and the endpoints (revocation,
introspection, end session, registration), each named after its RFC, with the
gateway's one client authentication (:func:`.exchange.authenticate_client`).
The code grant is not authlib's (:mod:`.grants`, :mod:`.authorize`,
:mod:`.exchange`). This module is the top of ``oidc/``: it imports the parts,
none imports it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import request as flask_request

from ..config import Settings
from ..store import Store
from .clients import Client
from .endpoints import AccessTokenValidator, ClientAssertion, EndSession, Introspection, Protector, Revocation
from .exchange import authenticate_client
from .grants import RefreshGrant
from .keys import KeyStore
from .provider import Provider
from .registration import Configuration, Registration
from .tokens import new_token


def build_provider(settings: Settings, store: Store, clients: Mapping[str, Client], keys: KeyStore,
                   clock: Callable[[], float] = time.time) -> Provider:
    """The provider of one app, with authlib's server and the UserInfo bearer-token check wired in."""
    provider = Provider(settings, store, clients, keys, clock=clock)
    provider.protector = Protector()
    provider.protector.register_token_validator(AccessTokenValidator(provider))
    provider.client_assertion = ClientAssertion(provider)
    provider.server = build_server(provider)
    return provider


class Server(AuthorizationServer):  # type: ignore[misc]
    """authlib's Flask server, for the refresh grant and the RFC-named endpoints."""

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def query_client(self, client_id: str) -> Client | None:
        return self.provider.query_client(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.provider.save_token(token, request)

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> Client:
        """The one client authentication (:func:`.exchange.authenticate_client`), for the refresh
        grant, revocation and introspection, among the ``methods`` the endpoint accepts. Raises
        InvalidClientError."""
        client, request.auth_method = authenticate_client(self.provider, request.form, request.payload.data,
                                                          request.headers, methods)
        return client

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else FlaskOAuth2Request(flask_request)


def build_server(provider: Provider) -> Server:
    """authlib's server: the refresh grant and the endpoints (RFC-named). The code grant is the
    gateway's own: :mod:`.authorize` and :mod:`.exchange` are its endpoints, :mod:`.grants` its checks."""
    server = Server(provider)
    settings = provider.settings
    server.register_token_generator("default", BearerTokenGenerator(
        access_token_generator=lambda **kw: new_token(),
        refresh_token_generator=lambda **kw: new_token(),
        expires_generator=lambda client, grant_type: settings.access_token_seconds,
    ))
    server.scopes_supported = None  # unknown scopes are ignored per client, not refused (RFC 6749 §3.3)
    server.register_grant(RefreshGrant)
    for endpoint in (Revocation(provider), Introspection(provider), EndSession(provider),
                     Registration(provider), Configuration(provider)):
        server.register_endpoint(endpoint)
    return server
