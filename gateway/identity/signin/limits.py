"""Rate limits for the sign-in steps: one home for every refusal (audited as ``limit.refused``)."""
from __future__ import annotations

from typing import Any

from .context import Collaborators, Facts, email_hash
from .errors import TooManyAttempts


def refuse(c: Collaborators, facts: Facts, rule: str, wait: int, account_id: str | None = None,
           address: str | None = None) -> None:
    """Audit a refusal by a limit or a delay (naming the account when known), then raise TooManyAttempts."""
    if account_id is None and address is not None:
        account_id = c.directory.owner_of(address)
    fields: dict[str, Any] = {"rule": rule, "ip": facts.client, "wait": wait}
    if account_id is not None:
        fields["account"] = account_id
    if address is not None:
        fields["email_hash"] = email_hash(address)
    c.audit("limit.refused", **fields)
    raise TooManyAttempts(wait, rule)


def limit(c: Collaborators, facts: Facts, rule: str, *identifiers: str, account_id: str | None = None,
          address: str | None = None) -> None:
    """Count one use of ``rule`` for ``identifiers`` and this client. Raises TooManyAttempts (audited)."""
    wait = c.ratelimits.hit(rule, *identifiers, client=facts.client)
    if wait:
        refuse(c, facts, rule, wait, account_id, address)


def mail_limits(c: Collaborators, facts: Facts, address: str, account_id: str) -> None:
    """Before mailing ``address``: per (address, client), per client, then the ceiling per address.

    One client's requests are refused at its own per-(address, client) quota before they
    reach the shared ceiling, so nobody can spend a person's mails. Raises TooManyAttempts.
    """
    limit(c, facts, "mail_per_address_client", address, account_id=account_id, address=address)
    limit(c, facts, "mail_per_client", account_id=account_id, address=address)
    wait = c.ratelimits.hit("mail_per_address", address)
    if wait:
        refuse(c, facts, "mail_per_address", wait, account_id, address)
