"""The provider facade: one object per app holding what the OIDC parts need.

``Provider`` receives every dependency as an argument (settings, store,
clients, keys, clock), as pyop's provider does; the grants, endpoints,
registration, discovery, authorization and back-channel modules call it, and it
imports none of them. :func:`gateway.oidc.server.build_provider` wires authlib's
server around it; ``init_app`` keeps it in ``app.extensions["gateway.oidc"]``,
read through :func:`current_provider`. Protocol code reaches storage only through
:class:`~gateway.oidc.tokens.TokenStore` and
:class:`~gateway.oidc.clients.Registrations`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from authlib.common.security import is_secure_transport
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidGrantError, OAuth2Request, ResourceProtector
from flask import Flask, current_app, has_request_context
from flask import session as flask_session

from .. import services
from ..config import Settings
from ..identity.sessions import AUTH
from ..logs import audit
from ..store import Store
from .claims import amr, parse_claims_request, subject
from .clients import Client, Registrations
from .keys import KeyStore
from .models import AuthorizationCode, EndUser, Grant
from .tokens import TokenStore

if TYPE_CHECKING:
    from .endpoints import ClientAssertion

EXTENSION = "gateway.oidc"


def current_provider(app: Flask | None = None) -> Provider:
    """The provider of ``app`` (the current app's by default). Raises KeyError when the provider is off."""
    return cast(Provider, (app if app is not None else current_app).extensions[EXTENSION])


class Provider:
    """The OpenID provider of one app. ``clock`` is injectable (tests move it).

    ``server`` (authlib's, with the grants and endpoints registered), ``protector`` (the
    bearer-token check of UserInfo) and ``client_assertion`` (``private_key_jwt``, for the server and
    the code exchange) are set by :func:`gateway.oidc.server.build_provider`, which is how a
    provider is made.
    """

    server: AuthorizationServer
    protector: ResourceProtector
    client_assertion: ClientAssertion

    def __init__(self, settings: Settings, store: Store, clients: Mapping[str, Client], keys: KeyStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings.oidc
        self.production = settings.is_production
        self.public_url = settings.public_url.rstrip("/")
        self.issuer = settings.oidc.issuer or self.public_url
        #: RFC 6749 §3.1: the authorization endpoint is served over TLS (http on a loopback host aside)
        self.secure_transport = bool(is_secure_transport(self.public_url + "/"))
        self.clock = clock
        self.clients = dict(clients)
        self.keys = keys
        self.tokens = TokenStore(store, settings.oidc, clock=lambda: self.clock())
        self.registrations = Registrations(store, clock=lambda: self.clock())
        self._pairwise_key = _derive(settings.oidc.pairwise_secret or settings.secret_key, "pairwise")
        self._sid_key = _derive(settings.secret_key, "oidc-sid")

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
        """authlib's hook, for the refresh grant: store the new tokens of the family."""
        grant: Grant = request.refresh_token.grant
        self.tokens.save_tokens(grant, token, token.get("scope") or grant.scope)
        audit("oidc.token_issued", client=grant.client_id, grant_type="refresh_token", account=grant.account_id)

    def save_code_tokens(self, token: dict[str, Any], client: Client, code: AuthorizationCode) -> None:
        """Store the tokens of a code exchange and record the RP as a party of the SSO session
        (Back-Channel Logout needs to know this RP got tokens for this session, §2.7), in one round trip.
        Raises InvalidGrantError (and revokes the grant) when the session ended after the code."""
        grant = code.grant
        ttl = code.session_ttl  # read with the code
        if ttl is None:
            self.tokens.revoke_grant(grant.id)
            raise InvalidGrantError("The session this code belongs to has ended.")
        rp = {"sid": grant.sid, "sub": self.subject(grant.account_id, client)}
        self.tokens.save_tokens(grant, token, token.get("scope") or grant.scope, rp=(rp, {"sid": grant.sid}, ttl))
        audit("oidc.token_issued", client=grant.client_id, grant_type="authorization_code",
              account=grant.account_id)


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"uness-gateway oidc {purpose}".encode(), hashlib.sha256).digest()
