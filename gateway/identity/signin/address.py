"""Step 1, the address: which way it leads (unknown, disabled, activate, password).

The product tells a person an address is not recognised (they have several);
that answer is counted per client and per typed address, and farming unknown
addresses has its own per-client limit (STYLE 7).

Every address the directory holds for an active account leads to the password:
the directory holds only the addresses cockpit registered (import, SCIM, CLI),
confirmed or not yet, and those a person added on "Mes informations", which are
written only once their mailed code came back
(:mod:`.account_addresses`). So nobody can reserve someone else's address, and a
second cockpit address works like the first (the code or reset link mailed from
the password step confirms it).
"""
from __future__ import annotations

import dataclasses

from ...accounts.emails import normalize_email
from ...accounts.models import Account
from .context import Collaborators, Facts, Pending, email_hash
from .limits import limit, refuse


@dataclasses.dataclass(frozen=True)
class Identified:
    """What the address step found: ``kind`` is unknown, disabled, activate or password.

    ``pending`` is the sign-in to keep for the next steps (None for unknown and disabled).
    """

    kind: str
    address: str
    account: Account | None = None
    pending: Pending | None = None


def identify(c: Collaborators, facts: Facts, raw: str) -> Identified:
    """Which way the address leads. Raises TooManyAttempts, accounts.errors.InvalidEmail.

    Counted per client (every answer, high enough for a hospital's NAT), per (typed address,
    client), and per client for unknown addresses only (what farming addresses produces).
    """
    limit(c, facts, "address_per_client")
    address = normalize_email(raw)
    limit(c, facts, "address_per_address_client", address, address=address)  # every spelling counts together
    wait = c.ratelimits.wait("unknown_per_client", client=facts.client)
    if wait:
        refuse(c, facts, "unknown_per_client", wait, address=address)
    account = c.directory.find_by_email(address)
    if account is None:
        c.ratelimits.hit("unknown_per_client", client=facts.client)
        c.audit("login.unknown_address", email_hash=email_hash(address), ip=facts.client)
        return Identified("unknown", address)
    if account.status == "disabled":
        c.audit("login.disabled", account=account.id, ip=facts.client)
        return Identified("disabled", address, account)
    pending = Pending(account.id, address)
    if account.status == "provisioned":
        return Identified("activate", address, account, pending)
    return Identified("password", address, account, pending)


def pending_account(c: Collaborators, pending: Pending | None) -> tuple[Account, str] | None:
    """The active or provisioned account of ``pending``, with the address typed; None once it is
    disabled, gone, or no longer holds the address (the glue then forgets the pending sign-in)."""
    if pending is None:
        return None
    return still_pending(pending, c.directory.get(pending.account_id))


def still_pending(pending: Pending, account: Account | None) -> tuple[Account, str] | None:
    """:func:`pending_account` once its account was read (``account``: None when gone)."""
    if account is None or account.status == "disabled" or pending.email not in account.addresses:
        return None
    return account, pending.email
