"""authlib endpoints and helpers, filled with the gateway's hooks.

* :class:`Revocation` — RFC 7009; revoking a refresh token revokes its family (§2.1).
* :class:`Introspection` — RFC 7662 for the applications' APIs; a client sees its
  own tokens, a client configured with ``introspection = true`` sees all (§2.1, §4).
* :class:`EndSession` — RP-Initiated Logout 1.0 (checklist LOGOUT01).
* :class:`ClientAssertion` — ``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9)
  with an explicit algorithm list and single-use ``jti`` (SEC12, SEC05).
* :func:`userinfo` — OIDC Core §5.3: Bearer by header (GET, POST) or form body
  (RFC 6750 §2.1, §2.2); 401 with ``WWW-Authenticate`` otherwise (OIDC08).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from flask import g
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authlib.consts import default_json_headers
from authlib.integrations.flask_oauth2.requests import FlaskJsonRequest
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from authlib.oidc.rpinitiated.end_session import EndSessionRequest

from ..identity.flaskglue.logout import end_this_session
from ..identity.logout import Ended
from ..identity.redirects import location
from ..logs import audit
from .claims import release, releasable
from .grants import CLIENT_AUTH_METHODS, end_user
from .keys import ALGORITHMS
from .models import Token

if TYPE_CHECKING:
    from .clients import Client
    from .provider import Provider

#: JWTs the gateway reads (hints, assertions) are refused above this size (SEC12, SEC13).
MAX_JWT_LENGTH = 8192
ASSERTION_ALGORITHMS = ["RS256", "ES256", "PS256"]
#: The longest a client assertion may stay valid (RFC 7523 §3: its ``exp``); its jti is kept that long.
MAX_ASSERTION_SECONDS = 86400


def find_token(provider: Provider, value: str, hint: str | None) -> Token | None:
    """An access or refresh token by its value, looking first where the hint says (RFC 7009 §2.1)."""
    lookups = [provider.tokens.access_token, provider.tokens.refresh_token]
    if hint == "refresh_token":
        lookups.reverse()
    for lookup in lookups:
        token = lookup(value)
        if token is not None:
            return token
    return None


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(self.provider, token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Any) -> None:
        """An access token alone; a refresh token with every token of its grant."""
        tokens = self.provider.tokens
        if token.kind == "refresh_token":
            tokens.delete_refresh_token(token.value)
            if token.grant is not None:
                tokens.revoke_grant(token.grant.id)
        else:
            tokens.delete_access_token(token.value)
        audit("oidc.token_revoked", client=token.client_id, kind=token.kind)


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(self.provider, token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Any) -> bool:
        return client.introspection or token.client_id == client.client_id

    def introspect_token(self, token: Token) -> dict[str, Any]:
        """RFC 7662 §2.2; ``sub`` as the token's own client knows the person. Inactive once the client is
        gone or the account disabled (its tokens may outlive their session: a timeout tells nobody)."""
        assert token.grant is not None  # revoked tokens never get here
        owner = self.provider.query_client(token.client_id)
        if owner is None or end_user(token.grant) is None:
            return {"active": False}
        body: dict[str, Any] = {
            "active": True, "scope": token.scope, "client_id": token.client_id,
            "iss": self.provider.issuer, "aud": token.client_id,
            "iat": token.issued_at, "exp": token.expires_at,
            "sub": self.provider.subject(token.grant.account_id, owner),
        }
        if token.kind == "access_token":
            body["token_type"] = "Bearer"
        return body


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-Initiated Logout 1.0; the SSO session ends through the identity core."""

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def get_server_jwks(self) -> KeySet:
        return self.provider.keys.current().verification_keys(self.provider.now())

    def get_algorithms(self) -> list[str]:
        return list(ALGORITHMS)

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        """Signed by this OP with an offered alg (expiry ignored, §2); ``iss`` must be ours (LOGOUT01)."""
        if len(id_token_hint) > MAX_JWT_LENGTH:
            raise InvalidRequestError("id_token_hint is too long.")
        claims: dict[str, Any] = super()._validate_id_token_hint(id_token_hint)
        if claims.get("iss") != self.provider.issuer:
            raise InvalidRequestError("id_token_hint was not issued by this provider.")
        return claims

    def is_post_logout_redirect_uri_legitimate(self, request: Any, post_logout_redirect_uri: str,
                                              client: Client, logout_hint: str | None) -> bool:
        """Without a hint, redirect only after the person confirmed on our page (§3)."""
        return bool(g.get("oidc_logout_confirmed"))

    def create_response(self, end_session_request: EndSessionRequest,
                        ) -> tuple[int, str, list[tuple[str, str]]] | None:
        """End the session, then redirect to the validated post_logout_redirect_uri (with ``state``, §3),
        through the front-channel logout of the session's other parties (SAML SPs) when there is one:
        it ends there; None for the "déconnecté" page. The target is validated and re-serialised
        (:mod:`gateway.identity.redirects`). Raises UnsafeUrl."""
        ended = self.end_session(end_session_request)
        target = ended.continuation or end_session_request.redirect_uri
        return (302, "", [("Location", location(target))]) if target else None

    def end_session(self, end_session_request: EndSessionRequest) -> Ended:
        ended = end_this_session(return_to=end_session_request.redirect_uri, reason="end_session")
        client = end_session_request.client
        audit("oidc.logout", client=client.client_id if client else None,
              signed_in=ended.account_id is not None)
        return ended


class ClientAssertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt`` client authentication against the client's registered JWK Set."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, provider: Provider) -> None:
        super().__init__(validate_jti=True, leeway=60)
        self.provider = provider
        #: (client id, its JWK Set as canonical JSON) -> the imported KeySet
        self._key_sets: dict[tuple[str, str], KeySet] = {}

    def get_audiences(self) -> list[str]:
        """The token endpoint (or revocation, introspection), or the issuer
        (CONF31 ``oidcc-ensure-client-assertion-with-iss-aud-succeeds``)."""
        endpoints = ("/oidc/token", "/oidc/revoke", "/oidc/introspect")
        return [self.provider.issuer, *(self.provider.url(path) for path in endpoints)]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        """RFC 7523 §3 (7): the jti is remembered for as long as the assertion is valid (its ``exp``, plus
        the leeway), so that it is never accepted twice. Raises InvalidClientError when ``exp`` is more
        than :data:`MAX_ASSERTION_SECONDS` away (an assertion is short-lived)."""
        remaining = int(claims["exp"]) - self.provider.now()
        if remaining > MAX_ASSERTION_SECONDS:
            raise InvalidClientError(description="The client assertion expires too late.")
        ttl = max(remaining, 0) + self.leeway
        return self.provider.tokens.first_use("jti", str(claims["sub"]), str(jti), ttl)

    def resolve_client_public_key(self, client: Client) -> KeySet:
        """The client's JWK Set, imported once per process for as long as it stays the same."""
        if not client.jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        canonical = json.dumps(client.jwks, sort_keys=True, separators=(",", ":"))
        found = self._key_sets.get((client.client_id, canonical))
        if found is not None:
            return found
        try:
            found = KeySet.import_key_set(cast(Any, dict(client.jwks)))
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidClientError(description="The client's registered keys are unusable.") from exc
        if len(self._key_sets) >= 256:
            self._key_sets.clear()
        self._key_sets[(client.client_id, canonical)] = found
        return found

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        """Verified with an explicit algorithm list; never ``none`` or HMAC (SEC12)."""
        if len(assertion) > MAX_JWT_LENGTH:
            raise InvalidClientError(description="Client assertion too long.")
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="Invalid client assertion.") from exc
        self.verify_claims(token.claims)
        return dict(token.claims)


class AccessTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.provider.tokens.access_token(token_string)


class Protector(ResourceProtector):  # type: ignore[misc]
    """Bearer tokens from the ``Authorization`` header, or a form-encoded POST body (RFC 6750 §2.2)."""

    def parse_request_authorization(self, request: Any) -> tuple[Any, str]:
        form_post = flask_request.method == "POST" \
            and flask_request.mimetype == "application/x-www-form-urlencoded"
        if not request.headers.get("Authorization") and form_post and flask_request.form.get("access_token"):
            return self.get_token_validator("bearer"), flask_request.form["access_token"]
        return super().parse_request_authorization(request)  # type: ignore[no-any-return]


def userinfo(provider: Provider) -> tuple[int, Any, list[tuple[str, str]]]:
    """OIDC Core §5.3: the claims of the token's scopes (and ``claims`` request); ``sub`` as in the ID token.

    Returns ``(status, body, headers)`` for the server's ``handle_response``.
    """
    try:
        token: Token = provider.protector.validate_request(["openid"], FlaskJsonRequest(flask_request))
        client = provider.query_client(token.client_id)
        person = end_user(token.grant) if token.grant else None
        if client is None or person is None:
            raise InvalidTokenError()
    except OAuth2Error as error:
        return error()  # type: ignore[no-any-return]
    assert token.grant is not None
    sub = provider.subject(person.account.id, client)
    names = releasable(client, token.scope, token.grant.claims.get("userinfo", ()))
    return 200, release(person.account, client, names, sub), list(default_json_headers)
