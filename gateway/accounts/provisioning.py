"""Create-or-update from a provisioning record (the JSON Lines / CSV line shape).

Used by ``gateway users import`` and ``gateway users add``. The rules, so that
the authorised service can re-send the same file every night:

* an account is found by ``id``, else by the first (primary) address;
* the listed addresses are made present, the first becomes primary; addresses
  not listed are kept (the person may have added them) — removal is explicit;
* a plain-string address keeps its verified flag, a new one starts unverified;
  ``{"address": ..., "verified": true}`` sets the flag;
* fields absent from the record are left as they are; ``status: provisioned``
  does not undo an activation;
* ``saml_persistent_ids`` are restored beside the account, as the IdP stores
  them (once per (account, SP), never changed): one already stored and equal is
  unchanged, a different one rejects the whole record.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from .directory import Directory, new_account_id
from .errors import AddressTaken, InvalidAccount, PersistentIdConflict
from .models import Account, Email, parse_emails, record_fields, record_persistent_ids

Action = Literal["created", "updated", "unchanged"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    action: Action
    account: Account


def apply_record(directory: Directory, record: Mapping[str, Any]) -> Outcome:
    """Upsert one record and restore its persistent identifiers.

    Raises InvalidAccount, AddressTaken, PersistentIdConflict (nothing is written then).
    """
    if not isinstance(record, Mapping):
        raise InvalidAccount("line", "expected a JSON object")
    fields = record_fields(record)
    persistent_ids = record_persistent_ids(record)
    emails = parse_emails(record["emails"]) if record.get("emails") not in (None, "", []) else []
    account_id = record.get("id") or None
    if account_id is not None and not isinstance(account_id, str):
        raise InvalidAccount("id", "expected a string")
    taken: AddressTaken | None = None
    for _ in range(2):  # a second pass if a concurrent writer created it meanwhile
        existing = _find(directory, account_id, emails)
        if existing is not None:
            added = _new_persistent_ids(directory, existing.id, persistent_ids)
            updated = directory.update(existing.id, lambda a: _merge(a, fields, emails), added)
            changed = bool(added) or updated.version != existing.version
            return Outcome("updated" if changed else "unchanged", updated)
        if not emails:
            raise InvalidAccount("emails", "a new account needs at least one address")
        account = Account(
            id=account_id or new_account_id(),
            emails=tuple(e if isinstance(e, Email) else Email(e) for e in dict.fromkeys(emails)),
            **{"status": "provisioned", **fields},
        )
        try:
            return Outcome("created", directory.create(account, persistent_ids))
        except AddressTaken as exc:
            if account_id is not None:
                raise
            taken = exc  # report the address actually taken, not necessarily the first
    raise taken or AddressTaken(_address(emails[0]), directory.owner_of(_address(emails[0])) or "?")


def _find(directory: Directory, account_id: str | None, emails: list[Email | str]) -> Account | None:
    if account_id is not None:
        return directory.get(account_id)
    if not emails:
        raise InvalidAccount("id", "give an id or at least one address")
    return directory.find_by_email(_address(emails[0]))


def _new_persistent_ids(directory: Directory, account_id: str, given: Mapping[str, str]) -> dict[str, str]:
    """Those of ``given`` not yet stored for the account. Raises PersistentIdConflict.

    The directory's write checks again, atomically; this read tells "updated" from "unchanged".
    """
    stored = directory.persistent_ids(account_id) if given else {}
    for sp, value in given.items():
        if stored.get(sp, value) != value:
            raise PersistentIdConflict(account_id, sp)
    return {sp: value for sp, value in given.items() if sp not in stored}


def _address(email: Email | str) -> str:
    return email.address if isinstance(email, Email) else email


def _merge(current: Account, fields: Mapping[str, Any], emails: list[Email | str]) -> Account:
    changes = {k: v for k, v in fields.items() if k not in ("created_at", "updated_at")}
    if changes.get("status") == "provisioned" and current.status == "active":
        del changes["status"]
    if not changes.get("password_hash", True):
        del changes["password_hash"]  # an empty hash in a file never wipes a password
    if emails:
        listed: dict[str, Email] = {}
        for item in emails:
            if isinstance(item, Email):
                listed[item.address] = item
            else:
                old = current.email(item)
                listed[item] = old or Email(item)
        rest = [e for e in current.emails if e.address not in listed]
        changes["emails"] = (*listed.values(), *rest)
    return dataclasses.replace(current, **changes)

