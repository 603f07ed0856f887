"""Why a person can or cannot sign in, as one value support reads (:mod:`.words` puts it in words).

:func:`diagnose` gathers, for the account holding an address: its status, each address
and whether it is confirmed, whether a password is set, the growing delays on password
tries (:meth:`gateway.identity.throttle.Throttle.delays`) and the rate limits refusing
mails or address steps for its addresses (:meth:`gateway.identity.ratelimits.RateLimits.blocks`)
with when they end, the codes still open, the last mails and their fate, the last events
of its history, and its sessions. :func:`reasons` turns that into the short list of what
stops the person (or what still works), each a :class:`Reason` with a code and values.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from .. import services
from ..accounts.emails import normalize_email
from ..accounts.errors import InvalidEmail
from ..accounts.models import Account
from ..identity.history import Entry
from ..identity.sessions import SessionInfo
from ..identity.signin.account_addresses import VERIFY
from ..identity.signin.codes import SUPPORT
from ..identity.signin.context import email_hash
from ..identity.throttle import Delay
from .activity import mail_fate

#: History events that mailed something: the template's kind, as words.py names it.
MAIL_EVENTS = ("code.sent", "activation.sent", "reset.sent", "email.code_sent", "password.changed")
#: The code purposes support looks at.
CODE_PURPOSES = ("activation", "signin", VERIFY)
#: How many mails and events a diagnosis shows.
SHOWN = 10


class UnknownAddress(Exception):
    """No account holds this address (or it is not an address)."""


@dataclasses.dataclass(frozen=True)
class AddressState:
    address: str
    verified: bool
    primary: bool
    #: Rate limits refusing this address now: (rule, seconds left).
    blocks: tuple[tuple[str, int], ...]


@dataclasses.dataclass(frozen=True)
class OpenCode:
    purpose: str
    address: str
    expires_at: int
    #: The operator who gave it by phone, "" for a mailed one.
    operator: str


@dataclasses.dataclass(frozen=True)
class MailSent:
    at: int
    event: str
    #: The address it went to ("" once it is no longer the account's).
    address: str
    message_id: str
    #: a :data:`gateway.mail.fate.STATES` (queued, accepted, retrying, refused, failed, expired), or ""
    #: once its fate is forgotten.
    fate: str


@dataclasses.dataclass(frozen=True)
class Reason:
    """One thing that stops the person, or what still works: ``code`` (words.py has its words) and values."""

    code: str
    values: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    account: Account
    asked: str
    now: int
    password_set: bool
    addresses: tuple[AddressState, ...]
    delays: tuple[Delay, ...]
    codes: tuple[OpenCode, ...]
    mails: tuple[MailSent, ...]
    events: tuple[Entry, ...]
    sessions: tuple[SessionInfo, ...]


def find_account(raw: str) -> tuple[Account, str]:
    """The account holding the address ``raw``, and the address normalised. Raises UnknownAddress."""
    try:
        address = normalize_email(raw)
    except InvalidEmail:
        raise UnknownAddress(raw) from None
    account = services.directory().find_by_email(address)
    if account is None:
        raise UnknownAddress(address)
    return account, address


def diagnose(raw: str) -> Diagnosis:
    """Everything support needs to tell why the holder of ``raw`` can or cannot sign in.

    Raises UnknownAddress.
    """
    account, asked = find_account(raw)
    limits, entries = services.ratelimits(), services.history().recent(account.id)
    addresses = tuple(AddressState(e.address, e.verified, e.address == account.primary_email,
                                   tuple(limits.blocks(e.address))) for e in account.emails)
    return Diagnosis(
        account=account, asked=asked, now=int(time.time()), password_set=bool(account.password_hash),
        addresses=addresses, delays=tuple(services.throttle().delays(account.id)),
        codes=open_codes(account), mails=tuple(mails_of(account, entries)[:SHOWN]),
        events=tuple(entries[:SHOWN]), sessions=tuple(services.sessions().list_for(account.id)),
    )


def open_codes(account: Account) -> tuple[OpenCode, ...]:
    """The account's codes still open, by purpose (each purpose has one live code at most)."""
    codes, found = services.codes(), []
    for purpose in CODE_PURPOSES:
        flow = codes.latest_flow(purpose, account.id)
        data = codes.code_data(purpose, flow) if flow else None
        if data is not None:
            found.append(OpenCode(purpose, str(data.get("email", "")), int(data["exp"]),
                                  str(data.get(SUPPORT, ""))))
    return tuple(found)


def address_of(account: Account, hashed: str) -> str:
    """The account's address whose audit hash is ``hashed`` ("" for one it no longer has)."""
    return next((a for a in account.addresses if email_hash(a) == hashed), "")


def mails_of(account: Account, entries: list[Entry]) -> list[MailSent]:
    """The mails the history names, newest first, each with its fate."""
    found = []
    for entry in entries:
        message_id = str(entry.get("message_id") or "")
        if entry.event in MAIL_EVENTS and message_id:
            address = address_of(account, str(entry.get("email_hash", ""))) if entry.get("email_hash") \
                else account.primary_email
            found.append(MailSent(entry.at, entry.event, address, message_id, mail_fate(message_id) or ""))
    return found


def reasons(d: Diagnosis) -> list[Reason]:
    """What stops the person from signing in, in the order to tell it, or what works ("ok")."""
    status = d.account.status
    if status == "disabled":
        return [Reason("disabled")]
    found = [Reason("provisioned")] if status == "provisioned" else []
    if status == "active" and not d.password_set:
        found.append(Reason("no_password"))
    if not d.account.verified_addresses:
        found.append(Reason("no_confirmed_address"))
    asked = next((a for a in d.addresses if a.address == d.asked), None)
    if asked is not None and not asked.verified and status == "active":
        found.append(Reason("asked_unconfirmed", {"address": d.asked}))
    for delay in d.delays:
        found.append(Reason(delay.rule, {"until": delay.until, "whom": delay.whom}))
    for state in d.addresses:
        for rule, wait in state.blocks:
            found.append(Reason("limit", {"address": state.address, "rule": rule, "until": d.now + wait}))
    last = d.mails[0] if d.mails else None
    if last is not None and last.fate in ("refused", "failed", "expired"):
        found.append(Reason(f"mail_{last.fate}", {"address": last.address, "at": last.at}))
    return found or [Reason("ok")]
