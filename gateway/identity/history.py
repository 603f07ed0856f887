"""Each account's recent activity, for the person ("Activité récente") and for support.

What is kept: sign-ins and their failures, codes and links mailed (with the
mail's Message-ID, so that its fate can be shown), address and password
changes, delays and limits applied, logouts and what support did. Nothing new
is emitted for it: the audit trail is the one home of what happened
(:func:`gateway.logs.audit`), and :func:`entry_of` keeps, from an audit event
naming an account, the fields worth showing (the browser's user agent and
known-device reference come from the request, added by the Flask glue).

One capped Redis list per account, newest first: ``gw:history:<account id>``,
at most ``support.history_size`` entries, its TTL renewed to
``support.history_days`` at each write (an account idle that long has none);
refusals by a limit, which anyone typing the address can cause at any rate,
are kept once per :data:`REFUSAL_EVERY` (``gw:history-refused:<id>``).
Addresses appear as the audit's ``email_hash`` only; the page matches them
against the account's addresses when it shows them.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..accounts.directory import Write
from ..config import SupportSettings
from ..store import Store, key

#: The audit events an account's history keeps.
EVENTS = frozenset({
    "login.succeeded", "login.failed", "login.disabled", "limit.refused", "logout",
    "code.sent", "code.failed", "activation.sent", "activation.completed", "activation.failed",
    "reset.sent", "reset.completed", "password.changed", "account.password_set", "account.disabled",
    "email.added", "email.removed", "email.verified", "email.primary", "email.code_sent",
    "support.code_given", "support.unblocked",
})
#: The fields kept from an audit event (the rest stay in the audit log only).
FIELDS = ("ip", "agent", "device", "known_device", "message_id", "email_hash", "rule", "wait", "methods",
          "operator", "service", "reason", "purpose", "step", "source")
#: The longest user agent kept (characters).
MAX_AGENT = 256
#: Refusals by a limit or a delay cost whoever triggers them nothing and come at any rate, from anyone
#: typing the address: one is kept per account per this many seconds (the longest delay), so that a
#: flood cannot push the account's sign-ins out of its history (the audit log keeps every one).
REFUSAL_EVERY = 15 * 60


@dataclasses.dataclass(frozen=True)
class Entry:
    """One thing that happened to an account: ``event`` (an audit name) at ``at`` (Unix time), its fields."""

    at: int
    event: str
    fields: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def account_of(fields: Mapping[str, Any]) -> str | None:
    """The account an audit event names (``account``, or ``account_id`` in SCIM's and the CLI's)."""
    value = fields.get("account") or fields.get("account_id")
    return str(value) if value else None


def entry_of(event: str, fields: Mapping[str, Any], at: float) -> Entry | None:
    """The history entry of an audit event, or None when the history does not keep it."""
    if event not in EVENTS or account_of(fields) is None:
        return None
    kept = {name: fields[name] for name in FIELDS if fields.get(name) not in (None, "")}
    if "agent" in kept:
        kept["agent"] = str(kept["agent"])[:MAX_AGENT]
    return Entry(int(at), event, kept)


def browser_fields(agent: str, device: str | None) -> dict[str, Any]:
    """What an entry says of the browser an event came from: its user agent, whether its known-device
    cookie names the account (``device``: the device id it names, None), and a short reference to that
    device (a hash of its id, never the cookie)."""
    return {"agent": agent, "known_device": device is not None,
            "device": hashlib.sha256(device.encode()).hexdigest()[:8] if device else ""}


@contextlib.contextmanager
def written_ahead(event: str, account_id: str) -> Iterator[None]:
    """Inside, :meth:`History.record` of ``event`` for ``account_id`` writes nothing: the caller writes
    that entry itself, with its own atomic step (:meth:`History.writes`; a password sign-in's last check
    after the hash), and audits the event once that step succeeded."""
    token = _AHEAD.set((event, account_id))
    try:
        yield
    finally:
        _AHEAD.reset(token)


def written_by_caller(event: str, account_id: str) -> bool:
    """Whether the entry of ``event`` for ``account_id`` is being written by its caller's own step
    (:func:`written_ahead`): the audit hook has nothing to add."""
    return _AHEAD.get() == (event, account_id)


#: The entry a step writes itself (:func:`written_ahead`): (event, account id), for this context only.
_AHEAD: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("history_ahead", default=None)


class History:
    """The capped, expiring list of each account's recent activity."""

    def __init__(self, store: Store, settings: SupportSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def record(self, event: str, fields: Mapping[str, Any]) -> None:
        """Keep the audit event ``event`` in its account's history when it is one the history keeps (and
        its caller did not write it itself, :func:`written_ahead`)."""
        account_id = account_of(fields)
        if account_id is None or written_by_caller(event, account_id):
            return
        writes = self.writes(event, fields)
        if not writes or not self._first_refusal(event, account_id):
            return
        pipe = self.store.redis.pipeline(transaction=False)  # one round trip; nothing here needs MULTI
        for command in writes:
            pipe.execute_command(*command)
        pipe.execute()

    def writes(self, event: str, fields: Mapping[str, Any]) -> list[Write]:
        """The commands that keep ``event``'s entry (none when the history does not keep it): pushed first,
        the list capped, its TTL renewed."""
        entry = entry_of(event, fields, self.clock())
        account_id = account_of(fields)
        if entry is None or account_id is None:
            return []
        name = key("history", account_id)
        value = json.dumps({"at": entry.at, "event": entry.event, **entry.fields}, separators=(",", ":"),
                           default=str)
        return [("LPUSH", name, value), ("LTRIM", name, 0, self.settings.history_size - 1),
                ("EXPIRE", name, self.settings.history_days * 86400)]

    def _first_refusal(self, event: str, account_id: str) -> bool:
        """False for a ``limit.refused`` within :data:`REFUSAL_EVERY` of the last one kept for the account."""
        if event != "limit.refused":
            return True
        return bool(self.store.redis.set(key("history-refused", account_id), "1", nx=True, ex=REFUSAL_EVERY))

    def recent(self, account_id: str, limit: int | None = None) -> list[Entry]:
        """The account's entries, newest first (at most ``limit``)."""
        last = (limit or self.settings.history_size) - 1
        entries = []
        for raw in self.store.redis.lrange(key("history", account_id), 0, last):
            data = dict(json.loads(raw))
            at, event = int(data.pop("at")), str(data.pop("event"))
            entries.append(Entry(at, event, data))
        return entries
