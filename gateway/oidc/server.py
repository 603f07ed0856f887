"""The builder: authlib's authorization server wired around the provider facade.

:func:`build_provider` makes the :class:`~gateway.oidc.provider.Provider` and
registers on authlib's server the code grant (PKCE required, OpenID Connect),
the refresh grant, RFC 9207's ``iss``, ``private_key_jwt`` and the endpoints
(revocation, introspection, end session, registration), each named after its
RFC. This module is the top of ``oidc/``: it imports the parts, none imports it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import request as flask_request

from ..config import Settings
from ..store import Store
from .clients import Client
from .endpoints import AccessTokenValidator, ClientAssertion, EndSession, Introspection, Protector, Revocation
from .exchange import authenticate_client
from .grants import CodeGrant, Issuer, OpenIDCodeFlow, Pkce, RefreshGrant
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
    """authlib's Flask server; requests may also be rebuilt from a stored authorization request."""

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

    def create_authorization_response(self, request: Any = None, grant_user: Any = None,
                                      grant: Any = None) -> Any:
        """RFC 6749 §4.1.2 for a ``grant`` that :meth:`get_consent_grant` validated (client, redirect
        URI, scope, PKCE, nonce, prompt) and a person: the code is issued, then ``code``, ``state`` and
        RFC 9207's ``iss`` are added to the redirect URI in one step (authlib adds ``iss`` by a hook,
        parsing the URI again). An error issuing the code (a nonce used before) goes back with
        ``state`` and ``iss`` as authlib sends it. Anything else is authlib's."""
        redirect_uri = getattr(grant, "redirect_uri", None)
        if grant is None or redirect_uri is None or not isinstance(request, OAuth2Request) or not grant_user:
            return super().create_authorization_response(request=request, grant_user=grant_user, grant=grant)
        state = request.payload.state
        grant.request.user = grant_user
        code = grant.generate_authorization_code()
        try:
            grant.save_authorization_code(code, grant.request)
        except OAuth2Error as error:
            error.state = state
            response = self.handle_error_response(request, error)
            self.execute_hook("after_create_authorization_response", response)
            return response
        params = [("code", code), ("state", state)] if state else [("code", code)]
        params.append(("iss", self.provider.issuer))
        return self.handle_response(302, "", [("Location", add_params_to_uri(redirect_uri, params))])


def build_server(provider: Provider) -> Server:
    """authlib's server: code grant (+PKCE, +OpenID) at the authorization endpoint, refresh, and the
    endpoints (RFC-named). The code exchange at the token endpoint is :mod:`.exchange`'s."""
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
    for endpoint in (Revocation(provider), Introspection(provider), EndSession(provider),
                     Registration(provider), Configuration(provider)):
        server.register_endpoint(endpoint)
    return server
