"""authlib grants and extensions, filled with the gateway's hooks.

* :class:`CodeGrant` — RFC 6749 §4.1, the only authorization grant (no
  implicit, no password: BCP02), at the authorization endpoint. Its token
  request (§4.1.3) is :mod:`gateway.oidc.exchange`'s, which calls
  :func:`redeem_code`, :func:`check_code_verifier` and :func:`sign_id_token`
  here. Codes are single use and short-lived; a second presentation revokes
  what the first produced (OIDC06, LIB03).
* :class:`RefreshGrant` — RFC 6749 §6 with rotation; presenting a spent
  refresh token revokes the whole family (RFC 9700 §4.14.2, OIDC12).
* :class:`Pkce` — RFC 7636 with ``S256`` only; required for public clients;
  downgrade refused both ways (PKCE01, PKCE02): the challenge here, the
  verifier in :func:`check_code_verifier`.
* :class:`OpenIDCodeFlow` — OIDC Core §3.1: nonce replay refused (LIB03); the
  ID token (OIDC07) is :func:`sign_id_token`'s.
* :class:`Issuer` — RFC 9207 ``iss`` in every authorization response (OIDC04).
"""
from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import OAuth2Request, scope_to_list
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge, create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope, validate_request_prompt
from authlib.oidc.core.util import create_half_hash

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


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """Authorization code grant over :class:`~gateway.oidc.tokens.TokenStore`, at the authorization
    endpoint. authlib's server never picks it at the token endpoint (no HTTP method there): the
    code exchange is :func:`gateway.oidc.exchange.exchange_code`'s, the one home of that request."""

    TOKEN_ENDPOINT_HTTP_METHODS: list[str] = []

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Client) -> str:
        """The registered ``redirect_uri`` (required, OIDC02). Raises InvalidRequestError, whose
        description never repeats the URI (authlib's would, and fails on a backslash in it)."""
        uri = request.payload.redirect_uri
        if not uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.", state=request.payload.state)
        if not client.check_redirect_uri(uri):
            raise InvalidRequestError("This redirect_uri is not registered for the client.")
        return str(uri)

    def generate_authorization_code(self) -> str:
        """288 random bits, 48 URL-safe characters, from one ``urandom`` read."""
        return secrets.token_urlsafe(TOKEN_BYTES)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        """Create the grant (token family) and its code, in one round trip; a nonce is answered
        once per client (LIB03), atomically with the code."""
        provider = _provider(self)
        data = request.payload.data
        nonce = data.get("nonce") or ""
        grant, session_ttl = provider.new_grant(request.client, request.user, request.scope,
                                                data.get("claims"))
        record = {
            "grant": grant.id, "client_id": grant.client_id, "redirect_uri": data.get("redirect_uri"),
            "scope": request.scope, "nonce": nonce, "code_challenge": data.get("code_challenge") or "",
            "code_challenge_method": data.get("code_challenge_method") or "",
        }
        if not provider.tokens.issue_code(code, record, grant, session_ttl, nonce):
            uri = request.payload.redirect_uri
            raise InvalidRequestError("This nonce was already used.", redirect_uri=uri)


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


class Pkce(CodeChallenge):  # type: ignore[misc]
    """PKCE at the authorization endpoint: S256 only (``plain`` refused, RFC 9700 §2.1.1), required for
    public clients. The verifier is checked by :func:`check_code_verifier`."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.validate_code_challenge)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("PKCE is required: code_challenge with code_challenge_method=S256.")
        if challenge and method != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDCodeFlow(OpenIDCode):  # type: ignore[misc]
    """The OpenID Connect extension of the code grant at the authorization endpoint."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)  # optional in the code flow (CONF06)
        self.provider = provider

    def __call__(self, grant: Any) -> None:
        """The authorization endpoint's hooks (nonce, prompt), as authlib registers them; not its token
        hook: the ID token is :func:`sign_id_token`'s."""
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook("after_validate_authorization_request_payload",
                                self.validate_openid_authorization_request)
            grant.register_hook("after_validate_consent_request", validate_request_prompt)

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        """Checked early only for a person who must sign in first (not to send them through the
        pages for nothing); for a signed-in person, issuing the code remembers the nonce
        atomically and refuses a replay (:meth:`CodeGrant.save_authorization_code`)."""
        if request.user is not None:
            return False
        return self.provider.tokens.nonce_seen(request.payload.client_id, nonce)


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


class Issuer(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` in authorization responses, errors included (OIDC04)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer
