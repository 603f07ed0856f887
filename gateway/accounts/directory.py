"""The account directory in Redis: one hash per account plus an address index.

Every write goes through one Lua script (:data:`_SAVE`), so an account and the
index entries of its addresses change together, atomically, and two writers
racing for one address cannot both win. An import's SAML persistent identifiers
(:meth:`Directory.persistent_ids`) are restored by the same script: added beside
the account when none is stored for that SP, the whole write refused
(:class:`PersistentIdConflict`) when a different one is. Writes are
compare-and-set on the account's ``version``: :meth:`Directory.update` re-reads
and retries when another writer got there first, so no update is lost.

The same script keeps the uniqueness index (``gw:user-unique``, see
:mod:`gateway.store`): an eppn names one account at most, and so does each
legacy identifier and each legacy eppn of an SP (:func:`.models.unique_entries`). A write adding an
entry another account holds is refused whole (:class:`IdentifierTaken`), so of
two racing writers one wins. Duplicates that predate the rule never block a
write: an entry the account already had is kept (claimed if free), not checked;
:meth:`Directory.conflicts` lists them. The index of accounts written before it
existed is built once, by the first write that finds ``gw:user-unique-built``
missing (:meth:`Directory.build_unique_index`, idempotent).

An eppn, legacy or not, is written only with a scope the gateway may assert (``scopes``, from
``saml.scope`` and ``saml.extra_scopes``); one set before that rule stays until changed.
The same index answers "which account holds this identifier for this SP" (:meth:`Directory.holders`,
one HMGET for many), which ``gateway saml cutover-check`` asks for every line of its file.

Lookup by any address is a single round trip (:data:`_FIND`).
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import redis
from redis.client import Pipeline

from ..store import Store
from .emails import normalize_email
from .errors import (
    AccountExists,
    AccountNotFound,
    AddressTaken,
    ConcurrentUpdate,
    IdentifierTaken,
    InvalidAccount,
    LastVerifiedAddress,
    PersistentIdConflict,
)
from .models import (
    UNIQUE_KINDS,
    Account,
    Email,
    eppn_scope,
    from_hash,
    identifier_of,
    to_hash,
    unique_entries,
    unique_entry,
    utcnow,
    validate,
)

# KEYS: account hash, address index, id set, persistent-id hash, uniqueness index, its "built"
# marker. ARGV: id, expected version ("new" or N), addresses (JSON), creation score, persistent ids
# to restore (JSON object), the account's uniqueness entries before and after (JSON lists), then
# field/value pairs; without any, only the persistent ids are written and the account is left as is.
_SAVE = """
if redis.call('EXISTS', KEYS[6]) == 0 then return {'unbuilt'} end
local cur = redis.call('HGET', KEYS[1], 'version')
if ARGV[2] == 'new' then
  if cur then return {'exists'} end
elseif cur ~= ARGV[2] then
  return {'stale', cur or ''}
end
local made = cjson.decode(ARGV[5])
for sp, value in pairs(made) do
  local stored = redis.call('HGET', KEYS[4], sp)
  if stored and stored ~= value then return {'conflict', sp} end
end
local addresses = cjson.decode(ARGV[3])
for _, a in ipairs(addresses) do
  local owner = redis.call('HGET', KEYS[2], a)
  if owner and owner ~= ARGV[1] then return {'taken', a, owner} end
end
local had, unique = {}, cjson.decode(ARGV[7])
for _, e in ipairs(cjson.decode(ARGV[6])) do had[e] = true end
for _, e in ipairs(unique) do
  local owner = redis.call('HGET', KEYS[5], e)
  if owner and owner ~= ARGV[1] and not had[e] then return {'duplicate', e} end
end
for sp, value in pairs(made) do redis.call('HSETNX', KEYS[4], sp, value) end
if #ARGV == 7 then return {'ok', cur} end
if cur then
  local keep = {}
  for _, a in ipairs(addresses) do keep[a] = true end
  for _, a in ipairs(cjson.decode(redis.call('HGET', KEYS[1], 'addresses') or '[]')) do
    if not keep[a] and redis.call('HGET', KEYS[2], a) == ARGV[1] then redis.call('HDEL', KEYS[2], a) end
  end
  local still = {}
  for _, e in ipairs(unique) do still[e] = true end
  for e in pairs(had) do
    if not still[e] and redis.call('HGET', KEYS[5], e) == ARGV[1] then redis.call('HDEL', KEYS[5], e) end
  end
end
for _, a in ipairs(addresses) do redis.call('HSET', KEYS[2], a, ARGV[1]) end
for _, e in ipairs(unique) do redis.call('HSETNX', KEYS[5], e, ARGV[1]) end
local version = tostring((tonumber(cur) or 0) + 1)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', version, unpack(ARGV, 8))
redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[1])
return {'ok', version}
"""

# KEYS: account hash, uniqueness index. ARGV: id, the version read, its entries (JSON list).
# Claims the free entries of an account unless it changed since it was read (its writer indexed it).
_CLAIM = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return 0 end
for _, e in ipairs(cjson.decode(ARGV[3])) do redis.call('HSETNX', KEYS[2], e, ARGV[1]) end
return 1
"""

# KEYS: address index. ARGV: address, account key prefix.
_FIND = """
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
return redis.call('HGETALL', ARGV[2] .. id)
"""

#: A sign-in's last check once its password hash matched: the account is still active with that hash
#: (neither disabled nor given another password meanwhile), and only then are the caller's writes made,
#: atomically. A script is not rolled back when a command fails: every key a write needs of one type (a
#: set, a list) is checked first, so that a key of another type (WRONGTYPE) fails the step before it
#: writes anything. KEYS[1]: the account; KEYS[2..]: the key of each write. ARGV[1]: the hash that
#: matched; then per write its number of arguments, its command, the type its key must have ('' any:
#: :data:`_KEY_TYPES`), its arguments (:data:`Write`, its key moved to KEYS).
_HOLDS_PASSWORD = """
local found = redis.call('HMGET', KEYS[1], 'status', 'password_hash')
if found[1] ~= 'active' or found[2] ~= ARGV[1] then return 0 end
local starts, at = {}, 2
for k = 2, #KEYS do
  local held = ARGV[at + 2] ~= '' and redis.call('TYPE', KEYS[k]).ok
  if held and held ~= 'none' and held ~= ARGV[at + 2] then
    return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' holds a ' .. held .. ', nothing written')
  end
  starts[k], at = at, at + 3 + tonumber(ARGV[at])
end
for k = 2, #KEYS do
  at = starts[k]
  redis.call(ARGV[at + 1], KEYS[k], unpack(ARGV, at + 3, at + 2 + tonumber(ARGV[at])))
end
return 1
"""
#: One Redis write: the command, its key, its arguments (``("DEL", key)``, ``("SET", key, value, "EX", 60)``).
Write = tuple[Any, ...]
#: The commands :meth:`Directory.holds_password` makes, and the type each needs its key to hold ('': any;
#: SET without XX/NX replaces any value, with NX leaves it). No other command name reaches its script.
_KEY_TYPES = {"DEL": "", "EXPIRE": "", "SET": "", "SADD": "set", "LPUSH": "list", "LTRIM": "list"}

_RETRIES = 20


def new_account_id() -> str:
    """A stable, opaque, random account id."""
    return str(uuid.uuid4())


class Directory:
    """Accounts and their addresses. Raises the errors of :mod:`.errors`.

    ``scopes``: the eppn scopes an account may be given (None: not checked, for tools and tests
    that write no eppn); the app and the CLI pass ``saml.scope`` and ``saml.extra_scopes``.
    """

    def __init__(self, store: Store, scopes: Collection[str] | None = None) -> None:
        self.store = store
        self.scopes = None if scopes is None else frozenset(scopes)
        self._save = store.script(_SAVE)
        self._find = store.script(_FIND)
        self._claim = store.script(_CLAIM)
        self._holds_password = store.script(_HOLDS_PASSWORD)

    # -- reading ----------------------------------------------------------------
    def get(self, account_id: str) -> Account | None:
        return self.account_of(self.store.redis.hgetall(Store.user_key(account_id)))

    @staticmethod
    def queue_get(pipe: Pipeline, account_id: str) -> None:
        """:meth:`get`'s read queued on ``pipe`` (read with the caller's others, in one round trip);
        :meth:`account_of` turns its reply into the account."""
        pipe.hgetall(Store.user_key(account_id))

    @staticmethod
    def account_of(fields: Mapping[str, str] | None) -> Account | None:
        """The account of an account hash as Redis answered it (None when empty: no such account)."""
        return from_hash(fields) if fields else None

    def holds_password(self, account_id: str, password_hash: str, *, then: Sequence[Write] = ()) -> bool:
        """Whether the account is active with ``password_hash`` now; only then are the writes ``then`` made,
        in order, in the same atomic step (one script, :data:`_HOLDS_PASSWORD`): a sign-in's last check
        after the (slow) hash matched, so that an account disabled or given a new password meanwhile is
        refused and nothing of the sign-in is written (its failures cleared, its session, its history).

        Raises ValueError for a command not in :data:`_KEY_TYPES`, and redis.ResponseError (WRONGTYPE)
        when a key holds another type than its write needs: then nothing is written either.
        """
        keys, args = [Store.user_key(account_id)], [password_hash]
        for command, name, *arguments in then:
            if command not in _KEY_TYPES:
                raise ValueError(f"holds_password does not make {command!r} writes")
            keys.append(name)
            args += [len(arguments), command, _KEY_TYPES[command], *arguments]
        return bool(self._holds_password(keys=keys, args=args))

    def find_by_email(self, address: str) -> Account | None:
        """The account owning ``address`` (any of its addresses), in one round trip.

        Raises InvalidEmail when ``address`` cannot be normalised.
        """
        flat = self._find(keys=[Store.EMAIL_INDEX], args=[normalize_email(address), Store.USER_PREFIX])
        if not flat:
            return None
        return from_hash(dict(zip(flat[::2], flat[1::2])))

    def require(self, ref: str) -> Account:
        """By id or by any address. Raises AccountNotFound."""
        account = self.find_by_email(ref) if "@" in ref else self.get(ref)
        if account is None:
            raise AccountNotFound(ref)
        return account

    def owner_of(self, address: str) -> str | None:
        return self.store.redis.hget(Store.EMAIL_INDEX, normalize_email(address))

    def count(self) -> int:
        return int(self.store.redis.zcard(Store.USERS))

    def ids(self, start: int = 0, stop: int = -1) -> list[str]:
        """Account ids by creation order (stable pagination for SCIM and export)."""
        return list(self.store.redis.zrange(Store.USERS, start, stop))

    def iter_accounts(self, batch: int = 500) -> Iterator[Account]:
        """Every account, in creation order, fetched ``batch`` at a time."""
        return (account for account, _ in self._iter(batch, persistent_ids=False))

    def iter_with_persistent_ids(self, batch: int = 500) -> Iterator[tuple[Account, dict[str, str]]]:
        """Every account with its persistent identifiers (what export writes), in creation order."""
        return self._iter(batch, persistent_ids=True)

    def _iter(self, batch: int, persistent_ids: bool) -> Iterator[tuple[Account, dict[str, str]]]:
        start = 0
        while True:
            ids = self.ids(start, start + batch - 1)
            if not ids:
                return
            pipe = self.store.redis.pipeline(transaction=False)
            for account_id in ids:
                pipe.hgetall(Store.user_key(account_id))
                if persistent_ids:
                    pipe.hgetall(Store.persistent_ids_key(account_id))
            replies = iter(pipe.execute())
            for fields in replies:
                made = next(replies) if persistent_ids else {}
                if fields:
                    yield from_hash(fields), made
            start += batch

    def persistent_ids(self, account_id: str) -> dict[str, str]:
        """SP entityID -> the SAML persistent identifier made for the account (saml.sp.nameids makes them)."""
        return dict(self.store.redis.hgetall(Store.persistent_ids_key(account_id)))

    # -- writing ----------------------------------------------------------------
    def create(self, account: Account, persistent_ids: Mapping[str, str] | None = None) -> Account:
        """Store a new account, and the ``persistent_ids`` being restored with it (SP entityID -> value).

        Raises InvalidAccount (an eppn out of ``scopes`` too), AccountExists, AddressTaken,
        IdentifierTaken, PersistentIdConflict.
        """
        self._check_scopes(account, None)
        now = utcnow()
        account = dataclasses.replace(
            account, created_at=account.created_at or now, updated_at=account.updated_at or now
        )
        return self._write(validate(account), "new", persistent_ids)

    def update(self, account_id: str, change: Callable[[Account], Account],
               persistent_ids: Mapping[str, str] | None = None) -> Account:
        """Apply ``change`` to the current account and save it, retrying on concurrent writes.

        ``change`` must be a pure function of the account it is given (it may run
        several times). ``persistent_ids`` are restored in the same write, even when
        the account itself is unchanged. Raises AccountNotFound, InvalidAccount (a new eppn out
        of ``scopes`` too), AddressTaken, IdentifierTaken, PersistentIdConflict, ConcurrentUpdate,
        and whatever ``change`` raises.
        """
        for _ in range(_RETRIES):
            current = self.get(account_id)
            if current is None:
                raise AccountNotFound(account_id)
            changed = change(current)
            same = changed.same_content(current) and changed.updated_at == current.updated_at
            if same and not persistent_ids:
                return current
            if not same:
                changed = dataclasses.replace(changed, id=current.id,
                                              created_at=changed.created_at or current.created_at)
                if changed.updated_at == current.updated_at:
                    changed = dataclasses.replace(changed, updated_at=utcnow())
            try:
                if same:
                    return self._write(current, str(current.version), persistent_ids, save_account=False)
                self._check_scopes(changed, current)
                return self._write(validate(changed), str(current.version), persistent_ids,
                                   before=current)
            except _Stale:
                continue
        raise ConcurrentUpdate(f"account {account_id} kept changing; try again")

    def _write(self, account: Account, expected: str, persistent_ids: Mapping[str, str] | None = None,
               *, save_account: bool = True, before: Account | None = None) -> Account:
        """Run :data:`_SAVE`; ``save_account=False`` writes only ``persistent_ids``. Raises
        NotReplicated when the replicas did not confirm it (:mod:`gateway.store`).

        ``before`` is the version being replaced: its uniqueness entries are not checked again.
        """
        fields = to_hash(account)
        had = unique_entries(before) if before is not None else []
        args: list[str] = [account.id, expected, fields["addresses"], str(_score(account.created_at)),
                           json.dumps(dict(persistent_ids or {})), json.dumps(had),
                           json.dumps(unique_entries(account) if save_account else had)]
        if save_account:
            for name, value in fields.items():
                args.extend((name, value))
        keys = [Store.user_key(account.id), Store.EMAIL_INDEX, Store.USERS,
                Store.persistent_ids_key(account.id), Store.UNIQUE_INDEX, Store.UNIQUE_BUILT]
        try:
            reply = self._run_save(keys, args)
            if reply[0] == "unbuilt":
                self.build_unique_index()
                reply = self._run_save(keys, args)
        except redis.ReadOnlyError:
            raise  # a demoted master during a failover: Redis is away, not a bug
        except redis.ResponseError as exc:  # pragma: no cover - a bug in the script
            raise RuntimeError(f"account script failed: {exc}") from exc
        status = reply[0]
        if status == "ok":
            return dataclasses.replace(account, version=int(reply[1]))
        if status == "taken":
            raise AddressTaken(reply[1], reply[2])
        if status == "duplicate":
            kind, sp, _ = json.loads(reply[1])
            raise IdentifierTaken(UNIQUE_KINDS[kind], sp, identifier_of(account, kind, sp))
        if status == "exists":
            raise AccountExists(account.id)
        if status == "conflict":
            raise PersistentIdConflict(account.id, reply[1])
        raise _Stale()

    def _run_save(self, keys: list[str], args: list[str]) -> list[str]:
        """:data:`_SAVE`, acknowledged once the replicas have it (:meth:`Store.execute_durably`;
        raises NotReplicated)."""
        pipe = self.store.redis.pipeline(transaction=False)
        self._save(keys=keys, args=args, client=pipe)
        return cast("list[str]", self.store.execute_durably(pipe)[0])

    def _check_scopes(self, account: Account, before: Account | None) -> None:
        """The eppn and legacy eppns new or changed since ``before`` are in ``scopes`` (A03).

        Raises InvalidAccount naming the configuration key to change.
        """
        if self.scopes is None:
            return
        old = before or Account(id="", emails=())
        written = [("eppn", account.eppn)] if account.eppn != old.eppn else []
        written += [("legacy_eppns", eppn) for sp, eppn in sorted(account.legacy_eppns.items())
                    if old.legacy_eppns.get(sp) != eppn]
        for field, eppn in written:
            if eppn and eppn_scope(eppn) not in self.scopes:
                allowed = ", ".join(sorted(self.scopes))
                raise InvalidAccount(field, f"scope {eppn_scope(eppn)!r} is not one the gateway may assert "
                                            f"(saml.scope and saml.extra_scopes: {allowed})")

    def holders(self, entries: Collection[tuple[str, str, str]]) -> list[str | None]:
        """The account id holding each (kind, SP entityID, value) of the uniqueness index, or None.

        One HMGET for them all; eppns are looked up lowercased, as they are indexed.
        """
        if not entries:
            return []
        fields = [unique_entry(kind, sp, value.lower() if kind != "legacy_id" else value)
                  for kind, sp, value in entries]
        return list(self.store.redis.hmget(Store.UNIQUE_INDEX, fields))

    def legacy_holders(self, sp_entity_id: str) -> set[str]:
        """Ids of the accounts holding a legacy id or a legacy eppn for this SP (HSCAN of the index)."""
        sp = json.dumps(sp_entity_id, ensure_ascii=False)
        pattern = _glob_escape('["legacy_') + "*" + _glob_escape(f'",{sp},') + "*"  # see unique_entry
        found = self.store.redis.hscan_iter(Store.UNIQUE_INDEX, match=pattern, count=2000)
        return {owner for entry, owner in found if json.loads(entry)[1] == sp_entity_id}

    def get_many(self, account_ids: Collection[str]) -> dict[str, Account]:
        """The accounts of ``account_ids`` that exist, by id, in one pipeline."""
        ids = list(dict.fromkeys(account_ids))
        pipe = self.store.redis.pipeline(transaction=False)
        for account_id in ids:
            pipe.hgetall(Store.user_key(account_id))
        return {account_id: from_hash(fields) for account_id, fields in zip(ids, pipe.execute()) if fields}

    # -- the uniqueness index ----------------------------------------------------------
    def build_unique_index(self, batch: int = 500) -> None:
        """Index every account's entries (those free; duplicates are left to :meth:`conflicts`),
        then mark the index built. Idempotent; safe while other writers run (see :data:`_CLAIM`).
        """
        for chunk in _chunks(self.iter_accounts(batch), batch):
            pipe = self.store.redis.pipeline(transaction=False)
            for account in chunk:
                self._claim(keys=[Store.user_key(account.id), Store.UNIQUE_INDEX],
                            args=[account.id, str(account.version), json.dumps(unique_entries(account))],
                            client=pipe)
            pipe.execute()
        self.store.redis.set(Store.UNIQUE_BUILT, "1")

    def conflicts(self) -> Iterator[tuple[str, str, str, list[str]]]:
        """(field, SP entityID, value, account ids) for each identifier more than one account holds.

        Read from the accounts, not the index: it finds what predates the index.
        """
        holders: dict[str, list[str]] = {}
        for account in self.iter_accounts():
            for entry in unique_entries(account):
                holders.setdefault(entry, []).append(account.id)
        for entry, ids in holders.items():
            if len(ids) > 1:
                kind, sp, value = json.loads(entry)
                yield UNIQUE_KINDS[kind], sp, value, ids

    # -- common changes ------------------------------------------------------------
    def add_email(self, account_id: str, address: str, verified: bool = False) -> Account:
        """Add an address (last, not primary). Raises AddressTaken, InvalidEmail."""
        address = normalize_email(address)

        def change(a: Account) -> Account:
            if a.email(address):
                if verified and not a.email(address).verified:  # type: ignore[union-attr]
                    return _with_emails(a, [Email(e.address, e.verified or e.address == address) for e in a.emails])
                return a
            return _with_emails(a, [*a.emails, Email(address, verified)])

        return self.update(account_id, change)

    def verify_email(self, account_id: str, address: str) -> Account:
        address = normalize_email(address)
        return self.update(
            account_id,
            lambda a: _with_emails(a, [Email(e.address, e.verified or e.address == address) for e in a.emails]),
        )

    def remove_email(self, account_id: str, address: str) -> Account:
        """Remove an address. Raises LastVerifiedAddress (or when it is the only one)."""
        address = normalize_email(address)

        def change(a: Account) -> Account:
            if not a.email(address):
                raise AccountNotFound(address)
            rest = [e for e in a.emails if e.address != address]
            if not rest or (a.verified_addresses and not any(e.verified for e in rest)):
                raise LastVerifiedAddress(f"{address} is the last verified address of the account")
            return _with_emails(a, rest)

        return self.update(account_id, change)

    def set_primary(self, account_id: str, address: str) -> Account:
        address = normalize_email(address)

        def change(a: Account) -> Account:
            email = a.email(address)
            if email is None:
                raise AccountNotFound(address)
            return _with_emails(a, [email, *(e for e in a.emails if e.address != address)])

        return self.update(account_id, change)

    def set_password_hash(self, account_id: str, password_hash: str, *, activate: bool = True) -> Account:
        """Store a new hash; a provisioned account becomes active. A disabled one stays disabled."""

        def change(a: Account) -> Account:
            status = "active" if activate and a.status == "provisioned" else a.status
            return dataclasses.replace(a, password_hash=password_hash, status=status)

        return self.update(account_id, change)

    def disable(self, account_id: str) -> Account:
        """Disable; nothing is erased."""
        return self.update(account_id, lambda a: dataclasses.replace(a, status="disabled"))


class _Stale(Exception):
    """Another writer changed the account since it was read."""


def _with_emails(account: Account, emails: list[Email]) -> Account:
    return dataclasses.replace(account, emails=tuple(emails))


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _chunks(items: Iterator[Account], size: int) -> Iterator[list[Account]]:
    chunk: list[Account] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _score(timestamp: str) -> float:
    try:
        return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").timestamp()
    except ValueError:
        return 0.0

