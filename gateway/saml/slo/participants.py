"""Which SPs took part in an SSO session, and with which NameID and SessionIndex (for SLO).

Each Response sent is recorded with ``identity.parties`` (protocol ``"saml"``,
the SP entityID, and what SLO needs: NameID value, Format, qualifiers,
SessionIndex), for the session's lifetime. The same SP asking again in the same
session gets the same transient NameID and SessionIndex back (NID01, RSP07).

``gateway/saml/chain.py`` (its hook registered with ``identity.logout.on_session_end``) and ``slo.py``
sends them LogoutRequests (SLO04) from the same records.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from ...accounts.models import Account, from_hash
from ...identity.parties import Parties
from ...identity.sessions import TOUCH_INTERVAL, SessionStore
from ...store import Store, hash_reply
from ..sp.nameids import IssuedNameId, KnownNameIds, NameIds
from ..sso.answer import Participation

PROTOCOL = "saml"
log = logging.getLogger("gateway.saml")


def previous(parties: Parties, session_id: str, sp_entity_id: str) -> Participation | None:
    """What this SP already got in this session, if anything."""
    record = parties.of(session_id, PROTOCOL).get(sp_entity_id)
    return participation_of(record) if record else None


@dataclasses.dataclass(frozen=True)
class SsoState:
    """What answering one SP for a signed-in person reads from Redis."""

    previous: Participation | None
    account: Account | None
    name_ids: NameIds
    #: False when the request's ID had been seen before (SEC05).
    fresh: bool
    #: Seconds the session's parties record has left (as Redis' TTL: -2 when there is none).
    parties_ttl: int = -2


#: An SSO's reads, in one round trip. KEYS: the session, its parties, and (a request just received)
#: its replay guard. ARGV: the accounts' and the persistent ids' key prefixes, the SP, the guard's TTL.
#: The guard is set whether or not the session is signed in (SEC05); the rest is read when it is.
_SSO_READS = """
local fresh = 1
if KEYS[3] then fresh = redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) and 1 or 0 end
local raw = redis.call('GET', KEYS[1])
if not raw then return {fresh} end
local ok, data = pcall(cjson.decode, raw)
local auth = ok and type(data) == 'table' and data['_auth']
local account = type(auth) == 'table' and auth['account']
if type(account) ~= 'string' then return {fresh, raw} end
return {fresh, raw, account, redis.call('HGETALL', ARGV[1] .. account), redis.call('HGETALL', KEYS[2]),
        redis.call('HGET', ARGV[2] .. account, ARGV[3]), redis.call('TTL', KEYS[2])}
"""


def load(store: Store, name_ids: NameIds, session_id: str | None, sp_entity_id: str,
         replay_guard: tuple[str, int] | None) -> tuple[str | None, SsoState]:
    """Everything an SSO reads, in one round trip (one script): the session's record as stored (None:
    none), and, when it is signed in, its account, what the SP already got in it (:func:`previous`, and
    the record's TTL for :func:`keep`), the account's stored persistent value for the SP; for a request
    just received, its ID remembered (``replay_guard``: the key to SET NX and its TTL; SEC05).

    The caller judges the record (:meth:`~gateway.identity.sessions.SessionStore.judged`): what was read
    with a record past its lifetime is not used.
    """
    if session_id is None:  # no session to read: the guard alone
        fresh = replay_guard is None or bool(store.redis.set(replay_guard[0], "1", nx=True,
                                                             ex=replay_guard[1]))
        return None, SsoState(None, None, name_ids, fresh)
    guard_key, guard_ttl = replay_guard or (None, 0)
    keys = [SessionStore.key(session_id), Parties.key(session_id), *([guard_key] if guard_key else [])]
    found = store.script(_SSO_READS)(keys=keys, args=[Store.USER_PREFIX, Store.PERSISTENT_IDS_PREFIX,
                                                      sp_entity_id, guard_ttl])
    fresh, raw = bool(found[0]), found[1] if len(found) > 1 else None
    if len(found) < 3:
        return raw, SsoState(None, None, name_ids, fresh)
    account_id, fields, raw_parties, stored, parties_ttl = found[2:]
    record = Parties.decode(hash_reply(raw_parties), PROTOCOL).get(sp_entity_id)
    return raw, SsoState(participation_of(record) if record else None,
                         from_hash(hash_reply(fields)) if fields else None,
                         KnownNameIds(name_ids, sp_entity_id, {account_id: stored}), fresh, parties_ttl)


def keep(parties: Parties, session_id: str, sp_entity_id: str, participation: Participation, state: SsoState,
         ttl: int) -> None:
    """Record what the SP got in this session, for SLO, for at least as long as the session lives
    (``ttl``: its seconds left), with :data:`~gateway.identity.sessions.TOUCH_INTERVAL` to spare:
    written when new or changed, else its TTL renewed once it has less than ``ttl`` left. Like the
    session's last-seen time, an SSO like the one before it renews it at most once a minute, and
    otherwise writes nothing."""
    if participation != state.previous:
        record(parties, session_id, sp_entity_id, participation, ttl + TOUCH_INTERVAL)
    elif state.parties_ttl < ttl:
        parties.prolong(session_id, ttl + TOUCH_INTERVAL)


def record(parties: Parties, session_id: str, sp_entity_id: str, participation: Participation,
           ttl: int) -> None:
    name_id = participation.name_id
    parties.joined(session_id, PROTOCOL, sp_entity_id, {
        "name_id": name_id.value, "name_id_format": name_id.format,
        "name_qualifier": name_id.name_qualifier, "sp_name_qualifier": name_id.sp_name_qualifier,
        "session_index": participation.session_index,
    }, ttl)


def participation_of(record: Mapping[str, Any]) -> Participation:
    name_id = IssuedNameId(record["name_id"], record["name_id_format"], record.get("name_qualifier"),
                           record.get("sp_name_qualifier"))
    return Participation(name_id, record["session_index"])
