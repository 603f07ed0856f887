"""SSO sessions in Redis: one JSON value per session id, an index per account.

The browser holds only the opaque id (256 random bits). The record holds the
whole server-side session: the ``_auth`` part (account, time and methods of
authentication, remember flag, last seen, client address, user agent) and the
small state of the pages (CSRF token, the address typed at step 1).

Lifetimes are Redis TTLs: an anonymous session lives ``anonymous_minutes``; a
remembered one until ``remember_days`` after sign-in; otherwise
``idle_minutes`` after the last request, and never past ``absolute_minutes``
after sign-in. Writes never resurrect a session that was ended meanwhile
(``SET … XX``), so a logout wins over a request still in flight.
"""
from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..accounts.directory import Write
from ..config import SessionSettings
from ..store import Store, key
from .parties import Parties

AUTH = "_auth"
#: An authenticated session's last-seen time is refreshed at most this often (seconds).
TOUCH_INTERVAL = 60


#: The session record and, when it is signed in, its account's hash: one round trip for the views that
#: need both (:meth:`SessionStore.load_with_account`). KEYS: the session. ARGV: the accounts' key prefix.
_LOAD_WITH_ACCOUNT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local ok, data = pcall(cjson.decode, raw)
local auth = ok and type(data) == 'table' and data['_auth']
local account = type(auth) == 'table' and auth['account']
if type(account) ~= 'string' then return {raw} end
return {raw, redis.call('HGETALL', ARGV[1] .. account)}
"""


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def looks_like_session_id(value: str) -> bool:
    return 40 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """What "Mes informations" shows of one session."""

    session_id: str
    auth_time: int
    last_seen: int
    ip: str
    user_agent: str
    remember: bool
    methods: tuple[str, ...]


class SessionStore:
    """Load, save and end SSO sessions. ``clock`` is injectable for tests."""

    def __init__(self, store: Store, settings: SessionSettings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._load_with_account = store.script(_LOAD_WITH_ACCOUNT)

    # -- one session ---------------------------------------------------------------
    def load(self, sid: str) -> dict[str, Any] | None:
        """The session's data; None (and the record deleted) once its lifetime is over by the clock.

        The Redis TTL normally ends it first; the check also covers records written
        under longer settings (idle, absolute, remember shortened since).
        """
        return self._judged(sid, self.store.redis.get(key("session", sid)))

    def load_with_account(self, sid: str) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        """:meth:`load`, and the hash of the signed-in account as it is now (empty when the account is
        gone; None when the session is not signed in or over): one round trip, one script."""
        found = self._load_with_account(keys=[key("session", sid)], args=[Store.USER_PREFIX])
        if not found:
            return None, None
        data = self._judged(sid, found[0])
        if data is None or not data.get(AUTH) or len(found) < 2:
            return data, None
        reply = found[1]
        fields = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))  # RESP3 / RESP2
        return data, fields

    @staticmethod
    def key(sid: str) -> str:
        """The session's record (for a caller reading it in a script of its own, :meth:`judged`)."""
        return key("session", sid)

    def judged(self, sid: str, raw: str | None) -> dict[str, Any] | None:
        """:meth:`load`'s answer from the record ``raw`` read at :meth:`key` by the caller (in one
        script with what it reads alongside)."""
        return self._judged(sid, raw)

    def _judged(self, sid: str, raw: str | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        data = dict(json.loads(raw))
        if self.expired(data):
            self.delete(sid, data)
            return None
        return data

    def expired(self, data: Mapping[str, Any]) -> bool:
        """True when a signed-in session is past its absolute, remember or idle time."""
        auth = data.get(AUTH)
        if not auth:
            return False
        if self.ttl_for(data) <= 0:
            return True
        idle = self.clock() - auth.get("last_seen", auth["auth_time"])
        # last_seen is refreshed at most every TOUCH_INTERVAL: never stricter than the TTL
        return not auth.get("remember") and idle > self.settings.idle_minutes * 60 + TOUCH_INTERVAL

    def save(self, sid: str, data: Mapping[str, Any], *, new: bool, replacing: str | None = None) -> bool:
        """Write with the TTL the data calls for. False when it expired or was ended meanwhile.

        A new signed-in session is indexed under its account, and the record of the id it
        replaces (``replacing``: a sign-in changes the id, against fixation) is deleted, in the
        same round trip (MULTI) as the write (:meth:`writes`).
        """
        ttl = self.ttl_for(data)
        if ttl <= 0:
            self.delete(sid, data)
            if replacing:
                self.delete(replacing)
            return False
        if not replacing and not data.get(AUTH):
            payload = json.dumps(data, separators=(",", ":"))
            return bool(self.store.redis.set(key("session", sid), payload, ex=ttl, nx=new, xx=not new))
        pipe = self.store.redis.pipeline()
        for command in self.writes(sid, data, new=new, replacing=replacing, ttl=ttl):
            pipe.execute_command(*command)
        return bool(pipe.execute()[1 if replacing else 0])

    def writes(self, sid: str, data: Mapping[str, Any], *, new: bool, replacing: str | None = None,
               ttl: int | None = None) -> list[Write]:
        """The commands that write the record (:meth:`save` sends them in one MULTI; a sign-in's last
        check sends them in its own script, :meth:`~gateway.accounts.directory.Directory.holds_password`):
        the record of ``replacing`` deleted, the record set (``new``: only if absent, else only if
        present), a new signed-in session indexed under its account. Every write of a signed-in session
        gives the record of its parties (:class:`~gateway.identity.parties.Parties`) the session's TTL
        and a minute: a session kept alive on other pages never outlives the list of SPs and RPs its
        logout tells. Raises ValueError when the data's lifetime is over (``ttl`` <= 0)."""
        ttl = self.ttl_for(data) if ttl is None else ttl
        if ttl <= 0:
            raise ValueError("the session's lifetime is over")
        payload = json.dumps(data, separators=(",", ":"))
        found: list[Write] = [("DEL", key("session", replacing))] if replacing else []
        found.append(("SET", key("session", sid), payload, "EX", ttl, "NX" if new else "XX"))
        auth = data.get(AUTH)
        if auth and new:
            found += self._index_writes(auth["account"], sid)
        if auth:  # the SPs and RPs it was handed to outlive it, however long it is kept alive (SLO)
            found.append(("EXPIRE", Parties.key(sid), ttl + TOUCH_INTERVAL))
        return found

    def delete(self, sid: str, data: Mapping[str, Any] | None = None) -> None:
        pipe = self.store.redis.pipeline()
        pipe.delete(key("session", sid))
        auth = (data or {}).get(AUTH)
        if auth:
            pipe.srem(key("account-sessions", auth["account"]), sid)
        pipe.execute()

    def ttl_for(self, data: Mapping[str, Any]) -> int:
        """Seconds the record may live from now."""
        now = self.clock()
        auth = data.get(AUTH)
        if not auth:
            return self.settings.anonymous_minutes * 60
        if auth.get("remember"):
            return int(auth["auth_time"] + self.settings.remember_days * 86400 - now)
        absolute = auth["auth_time"] + self.settings.absolute_minutes * 60 - now
        return int(min(self.settings.idle_minutes * 60, absolute))

    # -- sign-in -------------------------------------------------------------------
    def authenticate(
        self, data: dict[str, Any], account_id: str, methods: tuple[str, ...], *,
        remember: bool, ip: str, user_agent: str,
    ) -> None:
        """Mark ``data`` as signed in (the caller gives it a new id: no fixation)."""
        now = int(self.clock())
        previous = data.get(AUTH) or {}
        same_account = previous.get("account") == account_id
        data[AUTH] = {
            "account": account_id,
            "auth_time": now,
            "methods": list(methods),
            "remember": remember or (same_account and bool(previous.get("remember"))),
            "created": previous.get("created", now) if same_account else now,
            "last_seen": now,
            "ip": ip,
            "ua": user_agent[:300],
        }

    def index(self, account_id: str, sid: str) -> None:
        pipe = self.store.redis.pipeline()
        for command in self._index_writes(account_id, sid):
            pipe.execute_command(*command)
        pipe.execute()

    def _index_writes(self, account_id: str, sid: str) -> list[Write]:
        """``sid`` added to its account's sessions (kept a day past the longest remembered session)."""
        index = key("account-sessions", account_id)
        return [("SADD", index, sid), ("EXPIRE", index, self.settings.remember_days * 86400 + 86400)]

    def touch(self, data: dict[str, Any]) -> bool:
        """Refresh last-seen (and so the idle TTL) when it is stale. True when changed."""
        auth = data.get(AUTH)
        now = int(self.clock())
        if auth and now - auth.get("last_seen", 0) >= TOUCH_INTERVAL:
            auth["last_seen"] = now
            return True
        return False

    # -- every session of an account -------------------------------------------------
    def list_for(self, account_id: str) -> list[SessionInfo]:
        """Live sessions of the account, most recent first; forgets expired ids."""
        index = key("account-sessions", account_id)
        sids = sorted(self.store.redis.smembers(index))
        if not sids:
            return []
        values = self.store.redis.mget([key("session", s) for s in sids])
        found, gone = [], []
        for sid, raw in zip(sids, values):
            auth = json.loads(raw).get(AUTH) if raw else None
            if not auth or auth.get("account") != account_id:
                gone.append(sid)
                continue
            found.append(SessionInfo(sid, auth["auth_time"], auth.get("last_seen", auth["auth_time"]),
                                     auth.get("ip", ""), auth.get("ua", ""), bool(auth.get("remember")),
                                     tuple(auth.get("methods", ()))))
        if gone:
            self.store.redis.srem(index, *gone)
        return sorted(found, key=lambda s: s.last_seen, reverse=True)

    def end(self, account_id: str, sid: str) -> dict[str, Any] | None:
        """End one session of the account; returns its data (for logout hooks), None if not found."""
        data = self.load(sid)
        if data is None or (data.get(AUTH) or {}).get("account") != account_id:
            self.store.redis.srem(key("account-sessions", account_id), sid)
            return None
        self.delete(sid, data)
        return data

    def end_all(self, account_id: str, except_sid: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """End every session of the account but ``except_sid``; returns what was ended."""
        ended = []
        for info in self.list_for(account_id):
            if info.session_id != except_sid:
                data = self.end(account_id, info.session_id)
                if data is not None:
                    ended.append((info.session_id, data))
        return ended
