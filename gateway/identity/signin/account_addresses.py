"""A signed-in person's addresses ("Mes informations"): add, confirm, remove, choose the primary.

An address joins the account only once the code mailed to it comes back:
nothing is written to the directory before, so nobody can reserve (and so
block) someone else's address by typing it. Another account's address is
refused with one answer whatever the reason (the page never tells whether an
address is known to UNESS). The account never loses its last confirmed
address, and only a confirmed one may be the primary (where UNESS writes to).
"""
from __future__ import annotations

from ...accounts.codes import InvalidCode
from ...accounts.emails import normalize_email
from ...accounts.errors import AccountNotFound, AddressTaken, InvalidEmail, LastVerifiedAddress
from ...accounts.models import Account
from .context import Collaborators, Facts, Flow, email_hash
from .errors import (
    AddressAlreadyYours,
    AddressNotConfirmed,
    AddressNotYours,
    AddressUnavailable,
    LastConfirmedAddress,
    NotAwaitingConfirmation,
)
from .limits import limit, mail_limits

VERIFY = "verify_email"  # code purpose and mail template: an address being confirmed


def add_address(c: Collaborators, facts: Facts, account: Account, raw: str) -> Flow:
    """Mail a code to a new address; the flow returned (its address normalised) is this browser's.

    Raises TooManyAttempts, accounts.errors.InvalidEmail, AddressAlreadyYours, AddressUnavailable.
    """
    limit(c, facts, "address_per_client", account_id=account.id)
    address = normalize_email(raw)
    existing = account.email(address)
    if existing and existing.verified:
        raise AddressAlreadyYours()
    owner = c.directory.owner_of(address)
    if owner is not None and owner != account.id:
        raise AddressUnavailable()
    mail_limits(c, facts, address, account.id)
    return _mail_code(c, facts, account, address)


def send_again(c: Collaborators, facts: Facts, account: Account, address: str) -> Flow:
    """A new code for an address this browser is adding, or one of the account's not confirmed yet.

    Raises NotAwaitingConfirmation, TooManyAttempts.
    """
    email = account.email(address)
    adding = facts.confirming
    being_added = adding is not None and adding.email == address and email is None
    if not being_added and (email is None or email.verified):
        raise NotAwaitingConfirmation()
    mail_limits(c, facts, address, account.id)
    return _mail_code(c, facts, account, address)


def _mail_code(c: Collaborators, facts: Facts, account: Account, address: str) -> Flow:
    """A new code for ``address`` (voiding the account's previous one, whatever the browser), by mail."""
    minutes = c.code_settings.email_verification_minutes
    flow, code = c.codes.start_code(VERIFY, account.id, minutes * 60, c.code_settings.signin_code_attempts,
                                    {"account": account.id, "email": address})
    message_id = c.mail(VERIFY, address, facts.lang, code=code, minutes=minutes,
                        link=c.links.address(flow, code))
    c.audit("email.code_sent", account=account.id, email_hash=email_hash(address), ip=facts.client,
            message_id=message_id)
    return Flow(VERIFY, flow, address, message_id or "")


def pending_address(c: Collaborators, account: Account, flow: str) -> str | None:
    """The address a still-open code flow of this account is for (nothing is spent)."""
    data = c.codes.code_data(VERIFY, flow)
    if data is None or data.get("account") != account.id:
        return None
    return str(data["email"])


def verify_address(c: Collaborators, facts: Facts, account: Account, flow: str, code: str) -> str:
    """Spend the code (only this account's flows are tried): the address joins the account, confirmed.

    Raises TooManyAttempts, accounts.codes.WrongCode (``.remaining`` tries), InvalidCode (unknown,
    used, expired, or another account's), AddressUnavailable (another account confirmed it first).
    """
    limit(c, facts, "code_per_client", account_id=account.id)
    if pending_address(c, account, flow) is None:
        raise InvalidCode("no open code flow of this account")
    address = str(c.codes.check_code(VERIFY, flow, code)["email"])
    try:
        c.directory.add_email(account.id, address, verified=True)
    except AddressTaken:
        raise AddressUnavailable() from None
    hashed = email_hash(address)
    if account.email(address) is None:
        c.audit("email.added", account=account.id, email_hash=hashed, ip=facts.client)
    c.audit("email.verified", account=account.id, email_hash=hashed, ip=facts.client)
    return address


def remove_address(c: Collaborators, facts: Facts, account: Account, address: str) -> Account:
    """Remove an address; the primary moves to a confirmed one. Returns the account as it is now.

    Raises LastConfirmedAddress (never the only or the last confirmed address), AddressNotYours.
    """
    try:
        updated = c.directory.remove_email(account.id, address)
    except LastVerifiedAddress:
        raise LastConfirmedAddress(only=len(account.emails) == 1) from None
    except (AccountNotFound, InvalidEmail):
        raise AddressNotYours() from None
    c.audit("email.removed", account=account.id, email_hash=email_hash(address), ip=facts.client)
    if updated.verified_addresses and not updated.emails[0].verified:
        updated = make_primary(c, facts, updated, updated.verified_addresses[0])
    return updated


def make_primary(c: Collaborators, facts: Facts, account: Account, address: str) -> Account:
    """Make a confirmed address the primary one. Raises AddressNotYours, AddressNotConfirmed."""
    email = account.email(address)
    if email is None:
        raise AddressNotYours()
    if not email.verified:
        raise AddressNotConfirmed()
    updated = c.directory.set_primary(account.id, address)
    c.audit("email.primary", account=account.id, email_hash=email_hash(address), ip=facts.client)
    return updated
