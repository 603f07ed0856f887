"""Provider state in Redis: pending requests, grants, codes, tokens, nonces, session index.

Every key comes from :func:`gateway.store.key` (``gw:oidc:…``) and every write
carries a TTL. Codes and tokens are stored under the SHA-256 of their value,
never the value. Single-use things are consumed atomically: a code or a
refresh token is taken with ``GETDEL`` and, in the same Lua script, a *spent*
marker is written, so a second presentation is recognised as reuse and revokes
the family (RFC 6749 §4.1.2 and §10.5, RFC 9700 §4.14.2; checklist OIDC06,
OIDC12, SEC05).

=========================================  ==========================================  ====================
key                                        holds                                       TTL
=========================================  ==========================================  ====================
``gw:oidc:request:<random>``               an authorization request awaiting sign-in   request_seconds
``gw:oidc:grant:<id>``                     a token family (:class:`Grant`)             refresh_token_seconds
``gw:oidc:code:<sha256>``                  an authorization code                       code_seconds
``gw:oidc:code-used:<sha256>``             a spent code (-> its grant)                 longest token life
``gw:oidc:access:<sha256>``                an access token                             access_token_seconds
``gw:oidc:refresh:<sha256>``               a refresh token                             refresh_token_seconds
``gw:oidc:refresh-used:<sha256>``          a spent refresh token (-> its grant)        refresh_token_seconds
``gw:oidc:nonce:<client>:<sha256>``        a nonce already answered                    id_token + code life
``gw:oidc:jti:<client>:<sha256>``          a client assertion already used             600 s
``gw:oidc:session:<sso session id>``       hash: RPs (rp:<client>) and grants of it    the session's life
=========================================  ==========================================  ====================
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any, cast

from ..config import OidcSettings
from ..store import Store, key
from .credentials import token_digest
from .models import Grant, Token

_TAKE_AND_MARK = """
local v = redis.call('GETDEL', KEYS[1])
if v then redis.call('SET', KEYS[2], v, 'EX', tonumber(ARGV[1])) end
return v
"""


class TokenStore:
    """Everything the provider keeps, over the gateway's :class:`Store`. ``clock`` is injectable."""

    def __init__(self, store: Store, settings: OidcSettings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._take_and_mark = store.redis.register_script(_TAKE_AND_MARK)

    def now(self) -> int:
        return int(self.clock())

    @property
    def longest_life(self) -> int:
        s = self.settings
        return max(s.code_seconds, s.access_token_seconds, s.id_token_seconds, s.refresh_token_seconds)

    def _take(self, kind: str, value: str, ttl: int) -> dict[str, Any] | None:
        digest = token_digest(value)
        keys = [key("oidc", kind, digest), key("oidc", f"{kind}-used", digest)]
        raw = self._take_and_mark(keys=keys, args=[ttl])
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    # -- authorization requests waiting for the sign-in -------------------------------------------
    def save_request(self, record: dict[str, Any]) -> str:
        handle = secrets.token_urlsafe(32)
        self.store.put(("oidc", "request", handle), record, ttl=self.settings.request_seconds)
        return handle

    def pending_request(self, handle: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self.store.get(("oidc", "request", handle)))

    def take_request(self, handle: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self.store.take(("oidc", "request", handle)))

    # -- grants (token families) ------------------------------------------------------------------
    def new_grant_id(self) -> str:
        return secrets.token_urlsafe(18)

    def save_grant(self, grant: Grant) -> None:
        ttl = self.settings.refresh_token_seconds
        self.store.put(("oidc", "grant", grant.id), grant.to_record(), ttl=ttl)

    def grant(self, grant_id: str) -> Grant | None:
        record = self.store.get(("oidc", "grant", grant_id)) if grant_id else None
        return None if record is None else Grant.from_record(record)

    def revoke_grant(self, grant_id: str) -> bool:
        """Revoke the whole family: every code and token of the grant stops working."""
        return bool(self.store.redis.delete(key("oidc", "grant", grant_id)))

    # -- authorization codes ----------------------------------------------------------------------
    def save_code(self, code: str, record: dict[str, Any]) -> None:
        record = {**record, "exp": self.now() + self.settings.code_seconds}
        self.store.put(("oidc", "code", token_digest(code)), record, ttl=self.settings.code_seconds)

    def peek_code(self, code: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self.store.get(("oidc", "code", token_digest(code))))

    def take_code(self, code: str) -> dict[str, Any] | None:
        """Consume the code; it is remembered as spent for the longest token lifetime."""
        return self._take("code", code, self.longest_life)

    def spent_code(self, code: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self.store.get(("oidc", "code-used", token_digest(code))))

    # -- nonces (LIB03: a nonce is answered once per client) --------------------------------------
    def nonce_seen(self, client_id: str, nonce: str) -> bool:
        return bool(self.store.redis.exists(key("oidc", "nonce", client_id, token_digest(nonce))))

    def remember_nonce(self, client_id: str, nonce: str) -> bool:
        """False when the nonce was already used by this client."""
        ttl = self.settings.id_token_seconds + self.settings.code_seconds + 60
        name = key("oidc", "nonce", client_id, token_digest(nonce))
        return bool(self.store.redis.set(name, "1", ex=ttl, nx=True))

    def first_use(self, kind: str, client_id: str, value: str, ttl: int) -> bool:
        """Record a one-time value (a client assertion's jti); False when seen before."""
        name = key("oidc", kind, client_id, token_digest(value))
        return bool(self.store.redis.set(name, "1", ex=ttl, nx=True))

    # -- access and refresh tokens ----------------------------------------------------------------
    def save_tokens(self, grant: Grant, token: dict[str, Any], scope: str) -> None:
        now = self.now()
        s = self.settings
        base = {"grant": grant.id, "client_id": grant.client_id, "scope": scope, "iat": now}
        self.store.put(("oidc", "access", token_digest(token["access_token"])),
                       {**base, "exp": now + s.access_token_seconds}, ttl=s.access_token_seconds)
        if token.get("refresh_token"):
            self.store.put(("oidc", "refresh", token_digest(token["refresh_token"])),
                           {**base, "exp": now + s.refresh_token_seconds}, ttl=s.refresh_token_seconds)

    def _token(self, kind: str, record: dict[str, Any] | None, value: str) -> Token | None:
        if record is None:
            return None
        expires = int(record["exp"])
        return Token(kind, self.grant(record["grant"]), record["client_id"], record["scope"],
                     int(record["iat"]), expires, expired=self.now() >= expires, value=value)

    def access_token(self, value: str) -> Token | None:
        return self._token("access_token", self.store.get(("oidc", "access", token_digest(value))), value)

    def refresh_token(self, value: str) -> Token | None:
        return self._token("refresh_token", self.store.get(("oidc", "refresh", token_digest(value))), value)

    def take_refresh_token(self, value: str) -> Token | None:
        """Consume a refresh token (rotation); it is remembered as spent."""
        record = self._take("refresh", value, self.settings.refresh_token_seconds)
        return self._token("refresh_token", record, value)

    def delete_refresh_token(self, value: str) -> None:
        self.store.delete(("oidc", "refresh", token_digest(value)))

    def spent_refresh_token(self, value: str) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self.store.get(("oidc", "refresh-used", token_digest(value))))

    def delete_access_token(self, value: str) -> None:
        self.store.delete(("oidc", "access", token_digest(value)))

    # -- the SSO session's side: which RPs and grants took part -----------------------------------
    def index_grant(self, session_id: str, grant_id: str, ttl: int) -> None:
        self._hset(session_id, f"grant:{grant_id}", "1", ttl)

    def record_rp(self, session_id: str, client_id: str, data: dict[str, Any], ttl: int) -> None:
        self._hset(session_id, f"rp:{client_id}", json.dumps(data, separators=(",", ":")), ttl)

    def _hset(self, session_id: str, field: str, value: str, ttl: int) -> None:
        name = key("oidc", "session", session_id)
        pipe = self.store.redis.pipeline()
        pipe.hset(name, field, value)
        pipe.expire(name, max(ttl, 1))
        pipe.execute()

    def move_session(self, old_session_id: str, new_session_id: str) -> None:
        """The person signed in again (prompt=login) under a new SSO session id: its RPs and grants follow."""
        if self.store.redis.exists(key("oidc", "session", old_session_id)):
            self.store.redis.rename(key("oidc", "session", old_session_id), key("oidc", "session", new_session_id))

    def take_session(self, session_id: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The RPs (client id -> data) and grant ids of an SSO session, forgotten atomically."""
        name = key("oidc", "session", session_id)
        pipe = self.store.redis.pipeline()
        pipe.hgetall(name)
        pipe.delete(name)
        raw, _ = pipe.execute()
        rps = {f[3:]: json.loads(v) for f, v in raw.items() if f.startswith("rp:")}
        grants = [f[6:] for f in raw if f.startswith("grant:")]
        return rps, grants
