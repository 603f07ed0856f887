"""Provider state in Redis: pending requests, grants, codes, tokens, nonces, session index.

Every key comes from :func:`gateway.store.key` (``gw:oidc:…``) and every write
carries a TTL. Codes and tokens are stored under the SHA-256 of their value,
never the value. Single-use things are consumed atomically: a refresh token is
taken with ``GETDEL`` and, in the same Lua script, a *spent* marker is written;
a code is marked spent in place by the script that reads it. A second
presentation is thus recognised as reuse and revokes the family (RFC 6749
§4.1.2 and §10.5, RFC 9700 §4.14.2; checklist OIDC06, OIDC12, SEC05).

The code flow costs one Redis round trip per step (``make bench``, part oidc):
issuing a code is one script (:data:`_ISSUE_CODE`: nonce, grant, session index,
code), redeeming it another (:data:`_REDEEM_CODE`: the code, its grant, the SSO
session and the account they belong to), and the tokens with the session's RP
records (this module's index and :mod:`gateway.identity.parties`) a third
(:data:`_SAVE_TOKENS`). With the session read with its account at authorize (one
script), a flow sends 4 commands to Redis, in 4 round trips
(``tests/oidc/test_redis_commands.py``).

=========================================  ==========================================  ====================
key                                        holds                                       TTL
=========================================  ==========================================  ====================
``gw:oidc:request:<random>``               an authorization request awaiting sign-in   request_seconds
``gw:oidc:grant:<id>``                     a token family (:class:`Grant`)             refresh_token_seconds
``gw:oidc:code:<sha256>``                  an authorization code, then once redeemed   code_seconds, then
                                           the same marked spent (-> its grant)        longest token life
``gw:oidc:access:<sha256>``                an access token                             access_token_seconds
``gw:oidc:refresh:<sha256>``               a refresh token                             refresh_token_seconds
``gw:oidc:refresh-used:<sha256>``          a spent refresh token (-> its grant)        refresh_token_seconds
``gw:oidc:nonce:<client>:<sha256>``        a nonce already answered                    id_token + code life
``gw:oidc:jti:<client>:<sha256>``          a client assertion already used             600 s
``gw:oidc:session:<sso session id>``       hash: RPs (rp:<client>) and grants of it    the session's life
=========================================  ==========================================  ====================
"""
from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, cast

from ..accounts.models import Account, from_hash
from ..identity.parties import Parties
from ..store import Store, key
from .credentials import token_digest
from .models import Grant, Token
from .settings import OidcSettings

#: Random bytes of codes and tokens (48 URL-safe characters, as many as authlib's default length).
TOKEN_BYTES = 36

_TAKE_AND_MARK = """
local v = redis.call('GETDEL', KEYS[1])
if v then redis.call('SET', KEYS[2], v, 'EX', tonumber(ARGV[1])) end
return v
"""
#: KEYS nonce, grant, session index, code; ARGV nonce TTL ('' for no nonce), grant, its TTL,
#: index field, index TTL, code record, code TTL. 0 (nothing written) when the nonce was used.
_ISSUE_CODE = """
if ARGV[1] ~= '' and not redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[1]), 'NX') then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('HSET', KEYS[3], ARGV[4], '1')
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[5]))
redis.call('SET', KEYS[4], ARGV[6], 'EX', tonumber(ARGV[7]))
return 1
"""
#: KEYS code; ARGV client id, spent TTL, then the key prefixes of grants, sessions and accounts.
#: {'ok', code, grant, session, account fields} (the code marked spent in place, for the longest token
#: life; '' or {} for what is missing), {'other'} (another client's code: left alone), {'spent', code}
#: or {'none'}.
_REDEEM_CODE = """
local v = redis.call('GET', KEYS[1])
if not v then return {'none'} end
local code = cjson.decode(v)
if code['spent'] then return {'spent', v} end
if code['client_id'] ~= ARGV[1] then return {'other'} end
code['spent'] = true
redis.call('SET', KEYS[1], cjson.encode(code), 'EX', tonumber(ARGV[2]))
local grant = redis.call('GET', ARGV[3] .. code['grant'])
if not grant then return {'ok', v, '', '', {}} end
local g = cjson.decode(grant)
local session = redis.call('GET', ARGV[4] .. g['session_id'])
return {'ok', v, grant, session or '', redis.call('HGETALL', ARGV[5] .. g['account_id'])}
"""
#: KEYS access token, refresh token, session index, session parties; ARGV access record, its TTL,
#: refresh record ('' for none), its TTL, then ('' for none) the index field and value, the TTL of both
#: hashes, the parties field and value. Both hashes get their TTL in the same step (never one without).
_SAVE_TOKENS = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[4])) end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[7]))
  redis.call('HSET', KEYS[4], ARGV[8], ARGV[9])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[7]))
end
return 1
"""


@dataclasses.dataclass(frozen=True)
class Redeemed:
    """What :meth:`TokenStore.redeem_code` found: ``status`` ok, other (client), spent or none."""

    status: str
    code: dict[str, Any] | None = None
    grant: Grant | None = None
    #: the SSO session record of the grant (JSON as the session store keeps it), None if gone
    session: str | None = None
    #: the grant's account as it is now, None if gone
    account: Account | None = None


class TokenStore:
    """Everything the provider keeps, over the gateway's :class:`Store`. ``clock`` is injectable."""

    def __init__(self, store: Store, settings: OidcSettings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._take_and_mark = store.script(_TAKE_AND_MARK)
        self._issue_code = store.script(_ISSUE_CODE)
        self._redeem_code = store.script(_REDEEM_CODE)
        self._save_tokens = store.script(_SAVE_TOKENS)

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

    def grant(self, grant_id: str) -> Grant | None:
        record = self.store.get(("oidc", "grant", grant_id)) if grant_id else None
        return None if record is None else Grant.from_record(record)

    def revoke_grant(self, grant_id: str) -> bool:
        """Revoke the whole family: every code and token of the grant stops working."""
        return bool(self.store.redis.delete(key("oidc", "grant", grant_id)))

    # -- authorization codes ----------------------------------------------------------------------
    def issue_code(self, code: str, record: dict[str, Any], grant: Grant, session_ttl: int,
                   nonce: str = "") -> bool:
        """Save the grant, index it under its SSO session, save the code: one round trip.

        With a ``nonce``, first remember it for the client (LIB03); False, and nothing
        written, when the client already used it.
        """
        s = self.settings
        digest = token_digest(code)
        nonce_key = key("oidc", "nonce", grant.client_id, token_digest(nonce) if nonce else "-")
        keys = [nonce_key, key("oidc", "grant", grant.id), key("oidc", "session", grant.session_id),
                key("oidc", "code", digest)]
        record = {**record, "exp": self.now() + s.code_seconds}
        nonce_ttl = s.id_token_seconds + s.code_seconds + 60 if nonce else ""
        args = [nonce_ttl, _json(grant.to_record()), s.refresh_token_seconds, f"grant:{grant.id}",
                max(session_ttl, 1), _json(record), s.code_seconds]
        return bool(self._issue_code(keys=keys, args=args))

    def redeem_code(self, code: str, client_id: str) -> Redeemed:
        """Consume the code if it is ``client_id``'s, with its grant, the grant's SSO session and
        account: one round trip. Another client's code is left for its owner."""
        keys = [key("oidc", "code", token_digest(code))]
        args = [client_id, self.longest_life, key("oidc", "grant", ""), key("session", ""), Store.USER_PREFIX]
        found = self._redeem_code(keys=keys, args=args)
        status = found[0]
        if status == "spent":
            return Redeemed(status, json.loads(found[1]))
        if status != "ok":
            return Redeemed(status)
        grant = Grant.from_record(json.loads(found[2])) if found[2] else None
        fields = _fields(found[4])
        return Redeemed(status, json.loads(found[1]), grant, found[3] or None,
                        from_hash(fields) if fields else None)

    # -- nonces (LIB03: a nonce is answered once per client) --------------------------------------
    def nonce_seen(self, client_id: str, nonce: str) -> bool:
        return bool(self.store.redis.exists(key("oidc", "nonce", client_id, token_digest(nonce))))

    def first_use(self, kind: str, client_id: str, value: str, ttl: int) -> bool:
        """Record a one-time value (a client assertion's jti); False when seen before."""
        name = key("oidc", kind, client_id, token_digest(value))
        return bool(self.store.redis.set(name, "1", ex=ttl, nx=True))

    # -- access and refresh tokens ----------------------------------------------------------------
    def save_tokens(self, grant: Grant, token: dict[str, Any], scope: str,
                    rp: tuple[dict[str, Any], dict[str, Any], int] | None = None) -> None:
        """The access (and refresh) token; with ``rp`` (its data for this module's session index, its
        data for the session's parties, the session's TTL), also record the client as an RP of the
        grant's SSO session: ``rp:<client>`` in the index, ``oidc|<client>`` in
        :class:`~gateway.identity.parties.Parties`. One round trip (one script)."""
        now = self.now()
        s = self.settings
        base = {"grant": grant.id, "client_id": grant.client_id, "scope": scope, "iat": now}
        refresh = token.get("refresh_token")
        keys = [key("oidc", "access", token_digest(token["access_token"])),
                key("oidc", "refresh", token_digest(refresh) if refresh else "-"),
                key("oidc", "session", grant.session_id), Parties.key(grant.session_id)]
        args: list[Any] = [_json({**base, "exp": now + s.access_token_seconds}), s.access_token_seconds,
                           _json({**base, "exp": now + s.refresh_token_seconds}) if refresh else "",
                           s.refresh_token_seconds]
        if rp is None:
            args += ["", "", 1, "", ""]
        else:
            index, party, ttl = rp
            args += [f"rp:{grant.client_id}", _json(index), max(ttl, 1),
                     *Parties.entry("oidc", grant.client_id, party)]
        self._save_tokens(keys=keys, args=args)

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


def new_token() -> str:
    """An access or refresh token: 288 random bits, 48 URL-safe characters, from one ``urandom`` read
    (authlib's ``generate_token`` draws each character separately: 48 reads)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _fields(reply: Any) -> dict[str, str]:
    """An HGETALL reply from a script: a flat list (RESP2), or a map (RESP3)."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))
