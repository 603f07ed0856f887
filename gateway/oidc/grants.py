"""The code grant (RFC 6749 §4.1, the only authorization grant: no implicit, no
password, BCP02) and authlib's refresh grant, filled with the gateway's hooks.

* the authorization request: :func:`validate_authorization` checks it in one
  pass (client, exact redirect URI, response type, scope, PKCE, nonce, prompt)
  into an :class:`AuthorizationRequest`; :func:`issue_code` answers it with a
  code (:mod:`gateway.oidc.authorize` is the endpoint);
* the code exchange (§4.1.3, :mod:`gateway.oidc.exchange` is the endpoint):
  :func:`redeem_code`, :func:`check_code_verifier` (RFC 7636, ``S256`` only;
  required for public clients; downgrade refused both ways: PKCE01, PKCE02),
  :func:`sign_id_token` (OIDC Core §3.1.3.6, OIDC07). Codes are single use and
  short-lived; a second presentation revokes what the first produced (OIDC06);
  a nonce is answered once per client (LIB03);
* :class:`RefreshGrant` — RFC 6749 §6 with rotation; presenting a spent
  refresh token revokes the whole family (RFC 9700 §4.14.2, OIDC12).
"""
from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc6749.errors import (InvalidClientError, InvalidGrantError, InvalidRequestError,
                                           InvalidScopeError, OAuth2Error, UnsupportedResponseTypeError)
from authlib.oauth2.rfc6749.grants import RefreshTokenGrant
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_CHALLENGE_PATTERN, CODE_VERIFIER_PATTERN
from authlib.oidc.core.errors import LoginRequiredError
from authlib.oidc.core.util import create_half_hash
from werkzeug.datastructures import MultiDict

from .. import services
from ..accounts.models import Account
from ..identity.models import Authentication
from ..logs import audit
from .claims import release, releasable
from .models import AuthorizationCode, EndUser, Grant, Token
from .tokens import TOKEN_BYTES

if TYPE_CHECKING:
    from .clients import Client
    from .provider import Provider

#: Every client authenticates with its one registered method (checked by the client).
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def _provider(grant: Any) -> Provider:
    return grant.server.provider  # type: ignore[no-any-return]


def end_user(grant: Grant) -> EndUser | None:
    """The person of a grant, if the account still exists and is active."""
    return person(grant, services.directory().get(grant.account_id))


def person(grant: Grant, account: Account | None) -> EndUser | None:
    """:func:`end_user` with the account already read (None when it does not exist)."""
    if account is None or not account.is_active:
        return None
    authentication = Authentication(account.id, grant.auth_time, grant.amr, grant.session_id)
    return EndUser(account, authentication)


#: Parameters an authorization request may not repeat (RFC 6749 §3.1).
SINGLE_PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state")


@dataclasses.dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization request as :func:`validate_authorization` found it good: its client, its
    registered redirect URI, the scope granted (RFC 6749 §3.3), and every parameter as sent."""

    client: Client
    redirect_uri: str
    scope: str
    params: MultiDict[str, str]


def validate_authorization(provider: Provider, params: MultiDict[str, str],
                           user: EndUser | None) -> AuthorizationRequest:
    """RFC 6749 §4.1.1 and OIDC Core §3.1.2.1-3.1.2.2, checked in authlib's order: the response type
    (``code`` only, OIDC03), no repeated parameter, the client, its exact redirect URI (OIDC02), then
    the scope (``openid`` required), PKCE, the nonce and ``prompt``.

    Raises OAuth2Error with the request's ``state``; its ``redirect_uri`` is set only once the client
    and the redirect URI are known good (RFC 6749 §4.1.2.1, RFC 9700 §4.11: before, no redirect).
    """
    try:
        response_type = " ".join(sorted((params.get("response_type") or "").split())) or None
        if response_type != "code":
            description = (f"The response type '{response_type}' is not supported by the server."
                           if response_type else "Missing 'response_type' in request.")
            raise UnsupportedResponseTypeError(response_type, description,
                                               redirect_uri=known_redirect_uri(provider, params))
        refuse_repeated(params, SINGLE_PARAMETERS)
        client = known_client(provider, params.get("client_id"))
        redirect_uri = registered_redirect_uri(client, params.get("redirect_uri"))
        return AuthorizationRequest(client, redirect_uri, checked_scope(provider, client, params, user), params)
    except OAuth2Error as error:
        error.state = params.get("state")
        raise


def refuse_repeated(params: MultiDict[str, str], names: Iterable[str]) -> None:
    """RFC 6749 §3.1, §3.2: request parameters MUST NOT be included more than once (a second value,
    from a proxy or the query string, is never silently ignored). Raises InvalidRequestError."""
    for name in names:
        if len(params.getlist(name)) > 1:
            raise InvalidRequestError(f"Multiple '{name}' in request.")


def checked_scope(provider: Provider, client: Client, params: MultiDict[str, str], user: EndUser | None) -> str:
    """The scope granted, once PKCE, the nonce and ``prompt`` are checked. Raises OAuth2Error,
    to go back to the (validated) redirect URI."""
    try:
        scope = client.get_allowed_scope(params.get("scope"))
        if scope is None:
            raise InvalidScopeError()
        check_code_challenge(client, params)
        nonce = params.get("nonce")
        if nonce and user is None and provider.tokens.nonce_seen(client.client_id, nonce):
            raise InvalidRequestError("Replay attack")  # early, not to send them through the pages (LIB03)
        check_prompt(params.get("prompt"), user)
    except OAuth2Error as error:
        error.redirect_uri = params.get("redirect_uri")
        raise
    return scope


def known_client(provider: Provider, client_id: str | None) -> Client:
    """The client of an authorization request. Raises InvalidClientError (never redirected)."""
    if client_id is None:
        raise InvalidClientError(description="Missing 'client_id' parameter.")
    client = provider.query_client(client_id)
    if client is None:
        raise InvalidClientError(description="The client does not exist on this server.")
    return client


def registered_redirect_uri(client: Client, uri: str | None) -> str:
    """The ``redirect_uri``, required and registered (OIDC02). Raises InvalidRequestError, whose
    description never repeats the URI."""
    if not uri:
        raise InvalidRequestError("Missing 'redirect_uri' in request.")
    if not client.check_redirect_uri(uri):
        raise InvalidRequestError("This redirect_uri is not registered for the client.")
    return uri


def known_redirect_uri(provider: Provider, params: MultiDict[str, str]) -> str | None:
    """Where an error may go before the request is validated: the redirect URI of a known client that
    registered it, else None (RFC 6749 §4.1.2.1)."""
    client = provider.query_client(params.get("client_id"))
    uri = params.get("redirect_uri")
    return uri if client is not None and uri and client.check_redirect_uri(uri) else None


def check_code_challenge(client: Client, params: MultiDict[str, str]) -> None:
    """RFC 7636 §4.3 with ``S256`` only (``plain`` refused, RFC 9700 §2.1.1), required for public
    clients (PKCE01): one ``code_challenge`` of 43-128 characters of [A-Za-z0-9-._~] (§4.2). Raises
    InvalidRequestError."""
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if not challenge and client.is_public:
        raise InvalidRequestError("PKCE is required: code_challenge with code_challenge_method=S256.")
    if challenge and method != "S256":
        raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
    if not challenge and not method:
        return
    if not challenge:
        raise InvalidRequestError("Missing 'code_challenge'")
    if len(params.getlist("code_challenge")) > 1:
        raise InvalidRequestError("Multiple 'code_challenge' in request.")
    if not CODE_CHALLENGE_PATTERN.match(challenge):
        raise InvalidRequestError("Invalid 'code_challenge'")
    if len(params.getlist("code_challenge_method")) > 1:
        raise InvalidRequestError("Multiple 'code_challenge_method' in request.")


def check_prompt(prompt: str | None, user: EndUser | None) -> None:
    """OIDC Core §3.1.2.1: ``prompt=none`` without a signed-in person is ``login_required`` (§3.1.2.6);
    ``none`` with another value is invalid. Raises LoginRequiredError or InvalidRequestError."""
    if not prompt:
        return
    if prompt == "none" and user is None:
        raise LoginRequiredError()
    prompts = prompt.split()
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("Invalid 'prompt' parameter.")


def issue_code(provider: Provider, request: AuthorizationRequest, user: EndUser) -> str:
    """A new code (288 random bits) with its grant (token family), in one round trip; a nonce is
    answered once per client (LIB03), atomically with the code. Raises InvalidRequestError (to the
    client) when the nonce was used."""
    code = secrets.token_urlsafe(TOKEN_BYTES)
    params = request.params
    nonce = params.get("nonce") or ""
    grant, session_ttl = provider.new_grant(request.client, user, request.scope, params.get("claims"))
    record = {
        "grant": grant.id, "client_id": grant.client_id, "redirect_uri": request.redirect_uri,
        "scope": request.scope, "nonce": nonce, "code_challenge": params.get("code_challenge") or "",
        "code_challenge_method": params.get("code_challenge_method") or "",
    }
    if not provider.tokens.issue_code(code, record, grant, session_ttl, nonce):
        raise InvalidRequestError("This nonce was already used.", redirect_uri=request.redirect_uri,
                                  state=params.get("state"))
    return code


def redeem_code(provider: Provider, code: str, client: Client) -> AuthorizationCode | None:
    """Consume the code with its grant and SSO session (one script); None when it cannot be used.

    A spent code revokes its family (RFC 6749 §4.1.2, OIDC06); another client's code is refused and
    left for its owner; an expired one (its ``exp``, by the provider's clock) is refused.
    """
    tokens = provider.tokens
    found = tokens.redeem_code(code, client.client_id)
    if found.status == "spent":
        assert found.code is not None
        tokens.revoke_grant(found.code["grant"])
        audit("oidc.code_reused", client=client.client_id)
        return None
    record, grant = found.code, found.grant
    if found.status != "ok" or record is None or grant is None or tokens.now() >= int(record["exp"]):
        return None
    return AuthorizationCode(grant, record["client_id"], record["redirect_uri"], record["scope"],
                             record.get("nonce", ""), record.get("code_challenge", ""),
                             record.get("code_challenge_method", ""),
                             session_ttl=provider.session_ttl_of(grant.session_id, found.session),
                             user=person(grant, found.account))


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    """Refresh with rotation: each refresh token works once (OIDC12)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        """Bound to its client (another client's presentation spends nothing, CONF28);
        consumed atomically; a spent one revokes the family (RFC 9700 §4.14.2)."""
        tokens = _provider(self).tokens
        client = self.request.client
        current = tokens.refresh_token(refresh_token)
        if current is None:
            spent = tokens.spent_refresh_token(refresh_token)
            if spent is not None:
                tokens.revoke_grant(spent["grant"])
                audit("oidc.refresh_reused", client=client.client_id)
            return None
        if not current.check_client(client):
            return None
        asked = set(scope_to_list(self.request.payload.scope) or [])
        if not asked <= set(scope_to_list(current.scope) or []):
            return current  # authlib answers invalid_scope; the token is not spent
        taken = tokens.take_refresh_token(refresh_token)
        if taken is None:  # presented twice at once: the loser is a reuse
            if current.grant is not None:
                tokens.revoke_grant(current.grant.id)
            return None
        return None if taken.is_expired() or taken.is_revoked() else taken

    def authenticate_user(self, refresh_token: Token) -> EndUser:
        """The person, whose account is still active. Raises InvalidGrantError (RFC 6749 §5.2:
        the token is as good as revoked), not authlib's invalid_request."""
        person = end_user(refresh_token.grant) if refresh_token.grant else None
        if person is None:
            raise InvalidGrantError("The account of this refresh token is disabled.")
        return person

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Nothing to do: the old refresh token was consumed when it was read."""


def s256_matches(code_verifier: str, code_challenge: str) -> bool:
    """RFC 7636 §4.6, compared in constant time (SEC11)."""
    return hmac.compare_digest(create_s256_code_challenge(code_verifier), code_challenge)


def check_code_verifier(verifier: str | None, code: AuthorizationCode, public: bool) -> None:
    """RFC 7636 §4.5-4.6 at the token endpoint: a public client always sends the verifier (PKCE01); a
    code issued with a challenge needs it, one issued without refuses it (RFC 9700 §4.8.2, PKCE02); it
    is 43-128 characters of [A-Za-z0-9-._~] (§4.1) and its S256 matches. Raises InvalidRequestError
    (missing, unexpected or malformed) or InvalidGrantError (no match), as authlib's ``CodeChallenge``."""
    if public and not verifier:
        raise InvalidRequestError("Missing 'code_verifier'")
    challenge = code.code_challenge
    if not challenge and not verifier:
        return
    if not challenge:
        raise InvalidRequestError("The authorization request had no 'code_challenge', "
                                  "but a 'code_verifier' was provided.")
    if not verifier:
        raise InvalidRequestError("Missing 'code_verifier'")
    if not CODE_VERIFIER_PATTERN.match(verifier):
        raise InvalidRequestError("Invalid 'code_verifier'")
    if (code.code_challenge_method or "S256") != "S256" or not s256_matches(verifier, challenge):
        raise InvalidGrantError(description="Code challenge failed.")


def sign_id_token(provider: Provider, client: Client, code: AuthorizationCode, access_token: str) -> str:
    """The ID token of a code exchange (OIDC Core §2, §3.1.3.6: ``at_hash``), signed with the client's
    alg and a ``kid`` (OIDC07). ``code.user`` is the person (checked by the caller)."""
    assert code.user is not None
    claims = id_token_claims(provider, client, code.grant, code.user, code.nonce)
    alg = client.id_token_signed_response_alg
    at_hash = create_half_hash(access_token, alg)
    if at_hash is not None:
        claims["at_hash"] = at_hash.decode("ascii")
    return provider.sign(claims, alg)


def id_token_claims(provider: Provider, client: Client, grant: Grant, user: EndUser,
                    nonce: str = "") -> dict[str, Any]:
    """iss, sub, aud, exp, iat, auth_time, sid, amr, nonce; claims asked for the ID token (§5.5)."""
    now = provider.now()
    sub = provider.subject(user.account.id, client)
    claims: dict[str, Any] = {
        "iss": provider.issuer, "sub": sub, "aud": client.client_id, "iat": now,
        "exp": now + provider.settings.id_token_seconds, "auth_time": grant.auth_time, "sid": grant.sid,
    }
    if grant.amr:
        claims["amr"] = list(grant.amr)
    if nonce:
        claims["nonce"] = nonce
    extra = release(user.account, client, releasable(client, "", grant.claims.get("id_token", ())), sub)
    return {**extra, **claims}
