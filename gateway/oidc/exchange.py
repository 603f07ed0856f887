"""The token endpoint's ``authorization_code`` grant, in one pass: RFC 6749 §4.1.3-4.1.4.

Every relying party's token request is a code exchange. authlib's path for it
(an ``OAuth2Request``, the grant chosen among those registered, its hooks, a
chain of client authentication methods, a token generator, then the extensions'
hooks) cost more CPU than the checks it runs. :func:`exchange_code` runs the
same checks, in authlib's order, and answers the same errors (RFC 6749 §5.2:
JSON with ``Cache-Control: no-store``; ``invalid_client`` at 401 with
``WWW-Authenticate: Basic``):

1. the transport: https, or http to a loopback host (authlib's rule);
2. the client (:func:`authenticate_client`, the one client authentication of
   every endpoint), by its one registered method (RFC 6749 §2.3.1, §3.2.1;
   OIDC Core §9), secrets compared in constant time; then the grant type among
   those it registered (``unauthorized_client``);
3. the code: single use, bound to the client, not expired, its grant and SSO
   session still there, its account active (:func:`~.grants.redeem_code`,
   one Redis script; a replay revokes the family: OIDC06);
4. ``redirect_uri`` identical to the authorization request's (§4.1.3);
5. PKCE (:func:`~.grants.check_code_verifier`, RFC 7636 §4.5-4.6);
6. the scope, as the client may still have it (§3.3), the tokens
   (:meth:`~.provider.Provider.save_code_tokens`: with the session's RP
   records, one script), and the ID token (:func:`~.grants.sign_id_token`).

This module is the one home of the code exchange (authlib's server has no code
grant: :mod:`.grants`). authlib still answers the other grant types (refresh,
and ``unsupported_grant_type``): :func:`token_response` hands them over.
"""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from authlib.common.security import is_secure_transport
from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import (InsecureTransportError, InvalidClientError, InvalidGrantError,
                                    InvalidRequestError, InvalidScopeError, OAuth2Error,
                                    UnauthorizedClientError)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from authlib.oidc.core.grants.util import is_openid_scope
from flask import request as flask_request
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.wrappers import Response

from .grants import CLIENT_AUTH_METHODS, check_code_verifier, redeem_code, refuse_repeated, sign_id_token
from .tokens import new_token

if TYPE_CHECKING:
    from .clients import Client
    from .provider import Provider

GRANT_TYPE = "authorization_code"

#: Parameters a token request may not repeat (RFC 6749 §3.2), whatever its grant type.
TOKEN_PARAMETERS = ("grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
                    "client_id", "client_secret", "client_assertion_type", "client_assertion")


def token_response(provider: Provider) -> Response:
    """``POST /oidc/token``: a code exchange here, any other grant type by authlib's server; a
    repeated parameter is invalid_request for every grant type (RFC 6749 §3.2)."""
    try:
        refuse_repeated(flask_request.values, TOKEN_PARAMETERS)
    except OAuth2Error as error:
        return json_response(*error())
    if flask_request.values.get("grant_type") != GRANT_TYPE:
        return provider.server.create_token_response()  # type: ignore[no-any-return]
    try:
        if not transport_is_secure(flask_request.scheme, flask_request.host):
            raise InsecureTransportError()
        token = exchange_code(provider, flask_request.form, flask_request.values, flask_request.headers)
    except OAuth2Error as error:
        return json_response(*error())
    return json_response(200, token, default_json_headers)


def transport_is_secure(scheme: str, host: str) -> bool:
    """authlib's rule for a request's scheme and host (https, or http to a loopback host; anything with
    ``AUTHLIB_INSECURE_TRANSPORT`` set, read each time as authlib does), its URL parse answered once per
    (scheme, host)."""
    return bool(os.getenv("AUTHLIB_INSECURE_TRANSPORT")) or _transport_is_secure(scheme, host)


@functools.lru_cache(maxsize=64)
def _transport_is_secure(scheme: str, host: str) -> bool:
    return bool(is_secure_transport(f"{scheme}://{host}/"))


def json_response(status: int, body: dict[str, Any], headers: list[tuple[str, str]]) -> Response:
    """The JSON answer as authlib's Flask server writes it (``json.dumps``, the headers given)."""
    return Response(json.dumps(body), status=status, headers=headers)


def exchange_code(provider: Provider, form: MultiDict[str, str], values: MultiDict[str, str],
                  headers: Headers) -> dict[str, Any]:
    """The token response (RFC 6749 §5.1, OIDC Core §3.1.3.3) to a code exchange. Raises
    InvalidClientError, UnauthorizedClientError, InvalidRequestError, InvalidGrantError or
    InvalidScopeError (RFC 6749 §5.2), each as authlib's code grant raises it."""
    client, method = authenticate_client(provider, form, values, headers)
    if not client.check_grant_type(GRANT_TYPE):
        raise UnauthorizedClientError(f"The client is not authorized to use 'grant_type={GRANT_TYPE}'")
    value = form.get("code")
    if value is None:
        raise InvalidRequestError("Missing 'code' in request.")
    code = redeem_code(provider, value, client)
    if code is None:
        raise InvalidGrantError("Invalid 'code' in request.")
    if code.redirect_uri and values.get("redirect_uri") != code.redirect_uri:
        raise InvalidGrantError("Invalid 'redirect_uri' in request.")
    check_code_verifier(form.get("code_verifier"), code, public=method == "none")
    if code.user is None:
        raise InvalidGrantError("There is no 'user' for this code.")
    scope = client.get_allowed_scope(code.scope)
    if scope is None:
        raise InvalidScopeError()
    token = new_tokens(provider, client, scope)
    provider.save_code_tokens(token, client, code)
    if is_openid_scope(scope):
        token["id_token"] = sign_id_token(provider, client, code, token["access_token"])
    return token


def new_tokens(provider: Provider, client: Client, scope: str) -> dict[str, Any]:
    """A Bearer access token (RFC 6750), a refresh token when the client registered that grant, the scope."""
    token: dict[str, Any] = {"token_type": "Bearer", "access_token": new_token()}
    if provider.settings.access_token_seconds:
        token["expires_in"] = provider.settings.access_token_seconds
    if client.check_grant_type("refresh_token"):
        token["refresh_token"] = new_token()
    token["scope"] = scope
    return token


class _AssertionRequest:
    """What authlib's ``private_key_jwt`` check reads of a request (its form) and writes (the client)."""

    def __init__(self, form: MultiDict[str, str]) -> None:
        self.form = form
        self.client: Client | None = None


def authenticate_client(provider: Provider, form: MultiDict[str, str], values: MultiDict[str, str],
                        headers: Headers, methods: Sequence[str] = CLIENT_AUTH_METHODS) -> tuple[Client, str]:
    """The client and its method, for every endpoint that authenticates clients (this one, and authlib's
    through :meth:`~.server.Server.authenticate_client`). The credentials presented are tried in
    authlib's order (Basic, POST body, client assertion, client_id alone), among the ``methods`` the
    endpoint accepts, each only for a client registered with that method (RFC 6749 §2.3.1, §3.2.1;
    OIDC Core §9); secrets are compared in constant time. Raises InvalidClientError: 401 with
    ``WWW-Authenticate`` when nothing authenticates (RFC 6749 §5.2), 400 for an unknown client named
    in the body or an assertion that does not verify."""
    if "client_secret_basic" in methods:
        basic_id, basic_secret = basic_credentials(headers)
        if basic_id and basic_secret:
            client = known_client(provider, basic_id, 401)
            if client.token_endpoint_auth_method == "client_secret_basic" \
                    and client.check_client_secret(basic_secret):
                return client, "client_secret_basic"
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if "client_secret_post" in methods and client_id and secret:
        client = known_client(provider, client_id, 400)
        if client.token_endpoint_auth_method == "client_secret_post" and client.check_client_secret(secret):
            return client, "client_secret_post"
    assertion = form.get("client_assertion_type") == ASSERTION_TYPE and form.get("client_assertion")
    if "private_key_jwt" in methods and assertion:
        asserted = provider.client_assertion(provider.query_client, _AssertionRequest(form))
        if asserted is not None:
            return asserted, "private_key_jwt"
    client_id = values.get("client_id")
    if "none" in methods and client_id and not values.get("client_secret"):
        client = known_client(provider, client_id, 400)
        if client.token_endpoint_auth_method == "none":
            return client, "none"
    status = 401 if "client_secret_basic" in methods else 400
    raise InvalidClientError(status_code=status,
                             description=f"The client cannot authenticate with methods: {list(methods)}")


def basic_credentials(headers: Headers) -> tuple[str | None, str | None]:
    """The client id and secret of an ``Authorization: Basic`` header (RFC 7617), each form-urlencoded
    inside it (RFC 6749 §2.3.1: authlib's reading); (None, None) when there is none, or when its bytes
    are not UTF-8 (a client that does not authenticate, never a server error)."""
    try:
        return extract_basic_authorization(headers)  # type: ignore[no-any-return]
    except UnicodeDecodeError:
        return None, None


def known_client(provider: Provider, client_id: str, status: int) -> Client:
    """The client named. Raises InvalidClientError with ``status`` when there is none."""
    client = provider.query_client(client_id)
    if client is None:
        raise InvalidClientError(status_code=status, description="The client does not exist on this server.")
    return client
