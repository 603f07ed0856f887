"""What became of each mail: the one record the worker writes and pages and support read.

Every mail has a :class:`MailFate` from the moment it is queued until
``mail.fate_days`` after its last change::

    queued ──► accepted   SMTP said 250 (its reply kept)
       │  ▲
       │  └─ retrying     a temporary error (4xx, SMTP away); ``next_try`` says when
       ├──► refused       for good (5xx for the recipient, or an address the server
       │                  cannot take): the server's reason; never tried again
       ├──► failed        still not sent after the whole retry schedule
       └──► expired       its code ended before it could be sent: dropped

Under ``gw:mail:fate:<Message-ID>`` (JSON, with the address masked) and, for
"the last mails to this address", ``gw:mail:to:<hash of the address>``: a list
of the last :data:`PER_ADDRESS` Message-IDs, newest first, with the same TTL.
Neither holds the address in clear, a code or a link.

    record(store, fate, days)             write a fate (never raises)
    fate(store, message_id)               one mail's fate, or None
    recent(store, address, limit)         the last mails to an address, newest first
    latest(store, address, templates)     the newest of those templates, or None
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from typing import Any

import redis

from ..accounts.emails import mask_email
from ..store import Store, key

__all__ = ["ACCEPTED", "EXPIRED", "FAILED", "MailFate", "PER_ADDRESS", "QUEUED", "REFUSED", "RETRYING",
           "STATES", "clean_text", "fate", "latest", "masked", "recent", "record", "track"]

QUEUED, ACCEPTED, RETRYING = "queued", "accepted", "retrying"
REFUSED, FAILED, EXPIRED = "refused", "failed", "expired"
STATES = (QUEUED, ACCEPTED, RETRYING, REFUSED, FAILED, EXPIRED)
#: How many mails per address are remembered (the newest).
PER_ADDRESS = 20
#: Longest kept text of an SMTP reply or a reason.
_TEXT = 300
#: An address inside a server's reply (it names the recipient): masked before it is kept.
_ADDRESS = re.compile(r"[^\s'\"<>(),:;\[\]]+@[^\s'\"<>(),:;\[\]]+")

log = logging.getLogger("gateway.mail")


@dataclasses.dataclass(frozen=True)
class MailFate:
    """One mail's fate. Times are Unix seconds (UTC); ``to`` is masked (``c***n@chu-x.fr``)."""

    message_id: str
    template: str
    to: str
    state: str
    #: When the mail reached ``state``.
    at: float
    queued_at: float
    #: The SMTP server's last reply (code and text), when it answered.
    smtp_code: int | None = None
    smtp_reply: str = ""
    #: ``retrying``: when the next attempt is due.
    next_try: float | None = None
    #: ``refused``, ``failed``: why, in the server's words or ours (addresses masked).
    reason: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"not a mail state: {self.state!r}")

    @property
    def final(self) -> bool:
        """Whether nothing more will happen to this mail (accepted, refused, failed, expired)."""
        return self.state not in (QUEUED, RETRYING)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> MailFate:
        """Raises ValueError (or TypeError) for a record of another shape."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: value[name] for name in fields if name in value})


def masked(address: str) -> str:
    """How an address is kept in a fate: masked, as pages show it."""
    return mask_email(address)


def clean_text(text: str | bytes) -> str:
    """A server's reply or an error text as it may be kept: one line, addresses masked, bounded."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    one_line = " ".join(text.split())
    return _ADDRESS.sub(lambda m: mask_email(m.group(0)), one_line)[:_TEXT]


def _fate_key(message_id: str) -> tuple[str, ...]:
    return ("mail", "fate", message_id.strip("<>"))


def _address_key(address: str) -> str:
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]
    return key("mail", "to", digest)


def record(store: Store, fate: MailFate, days: int) -> None:
    """Keep ``fate`` for ``days`` days (from now). Never raises: a mail must not be sent again,
    nor a page fail, because its fate could not be written (it is logged instead)."""
    try:
        store.put(_fate_key(fate.message_id), fate.to_json(), ttl=days * 86400)
    except redis.RedisError as exc:
        log.warning("mail %s: fate %s not recorded: %s", fate.message_id, fate.state, type(exc).__name__)


def track(store: Store, address: str, fate: MailFate, days: int) -> None:
    """Record a new mail's first fate and list it among the last :data:`PER_ADDRESS` to ``address``.

    Raises ``redis.RedisError`` (the caller, queueing the mail, fails the same way)."""
    with store.redis.pipeline(transaction=True) as pipe:
        pipe.set(key(*_fate_key(fate.message_id)), _dumps(fate), ex=days * 86400)
        pipe.lpush(_address_key(address), fate.message_id)
        pipe.ltrim(_address_key(address), 0, PER_ADDRESS - 1)
        pipe.expire(_address_key(address), days * 86400)
        pipe.execute()


def fate(store: Store, message_id: str) -> MailFate | None:
    """What became of the mail ``message_id``; None if unknown (never queued, or forgotten).

    Raises ``redis.RedisError``."""
    return _parse(store.get(_fate_key(message_id)))


def recent(store: Store, address: str, limit: int = PER_ADDRESS) -> list[MailFate]:
    """The last ``limit`` mails to ``address`` (at most :data:`PER_ADDRESS`), newest first.

    Raises ``redis.RedisError``."""
    if limit <= 0:
        return []
    ids = store.redis.lrange(_address_key(address), 0, min(limit, PER_ADDRESS) - 1)
    if not ids:
        return []
    values = store.redis.mget([key(*_fate_key(message_id)) for message_id in ids])
    found = [_parse(_loads(value)) for value in values if value is not None]
    return [item for item in found if item is not None]


def latest(store: Store, address: str, templates: tuple[str, ...]) -> MailFate | None:
    """The newest mail to ``address`` made from one of ``templates``, or None. Raises ``redis.RedisError``."""
    return next((item for item in recent(store, address) if item.template in templates), None)


def _dumps(fate: MailFate) -> str:
    return json.dumps(fate.to_json(), separators=(",", ":"))


def _loads(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _parse(value: Any) -> MailFate | None:
    if not isinstance(value, dict):
        return None
    try:
        return MailFate.from_json(value)
    except (TypeError, ValueError):
        return None  # a record of an older version (before the typed fate): forgotten like an expired one
