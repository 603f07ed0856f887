"""Who took part in an SSO session: the SAML SPs and OIDC RPs it was handed to.

Logout is the one place where the protocols meet: when a session ends, each
protocol's logout hook reads the parties it recorded here (with what it needs
to tell them: the NameID and SessionIndex given to an SP, the ``sid`` given to
an RP) and tells them. Stored in one Redis hash per session, with the session's
lifetime as TTL and a minute more, renewed with it whenever the session is written
(:meth:`gateway.identity.sessions.SessionStore.save`: its idle time refreshed), and by
SAML SSO once it has less left than the session (:func:`gateway.saml.slo.participants.keep`).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from ..store import Store, key


class Parties:
    def __init__(self, store: Store) -> None:
        self.store = store

    def joined(self, session_id: str, protocol: str, party_id: str, data: Mapping[str, Any], ttl: int) -> None:
        """Record (or refresh) that ``party_id`` of ``protocol`` ("saml", "oidc") got this session."""
        name = self.key(session_id)
        pipe = self.store.redis.pipeline()  # HSET and EXPIRE together (MULTI): never a hash without TTL
        pipe.hset(name, *self.entry(protocol, party_id, data))
        pipe.expire(name, max(ttl, 1))
        pipe.execute()

    def prolong(self, session_id: str, ttl: int) -> None:
        """The session's parties kept ``ttl`` seconds more (the session lives on)."""
        self.store.redis.expire(self.key(session_id), max(ttl, 1))

    @staticmethod
    def entry(protocol: str, party_id: str, data: Mapping[str, Any]) -> tuple[str, str]:
        """The hash field and value :meth:`joined` writes (for callers writing it with other keys
        in one script, as the OIDC token step does; they set the hash's TTL with it)."""
        return f"{protocol}|{party_id}", json.dumps(dict(data), separators=(",", ":"))

    def of(self, session_id: str, protocol: str | None = None) -> dict[str, dict[str, Any]]:
        """party id -> data, for one protocol or all (then keyed "protocol|party")."""
        return self.decode(self.store.redis.hgetall(self.key(session_id)), protocol)

    @staticmethod
    def key(session_id: str) -> str:
        """The Redis hash of the session's parties (for callers batching reads in a pipeline)."""
        return key("session-parties", session_id)

    @staticmethod
    def decode(raw: Mapping[str, str], protocol: str | None = None) -> dict[str, dict[str, Any]]:
        """:meth:`of`'s answer from the hash's raw fields."""
        found = {}
        for field, value in raw.items():
            proto, _, party = field.partition("|")
            if protocol is None:
                found[field] = json.loads(value)
            elif proto == protocol:
                found[party] = json.loads(value)
        return found

    def move(self, old_session_id: str, new_session_id: str) -> None:
        """The same person signed in again under a new session id: the parties follow."""
        try:
            self.store.redis.rename(key("session-parties", old_session_id), key("session-parties", new_session_id))
        except redis.ResponseError:  # no such key: nobody took part yet
            pass

    def take_all(self, session_id: str) -> dict[str, dict[str, Any]]:
        """Every party of the session ("protocol|party" -> data), forgotten atomically."""
        pipe = self.store.redis.pipeline()
        pipe.hgetall(key("session-parties", session_id))
        pipe.delete(key("session-parties", session_id))
        raw, _ = pipe.execute()
        return {field: json.loads(value) for field, value in raw.items()}
