"""Accounts for tests: one factory, whatever the account needs (several addresses, a password or
none, active or awaiting activation, R&E attributes, an eppn, legacy identifiers...)."""
from __future__ import annotations

from typing import Any

from gateway.accounts.directory import Directory
from gateway.accounts.models import Account, Email
from gateway.accounts.passwords import Passwords
from gateway.config import PasswordSettings

#: The password every test account is given unless told otherwise.
PASSWORD = "correct horse battery staple"
#: Fast argon2, the same the test apps and test gunicorns get (so no rehash at sign-in).
FAST_ARGON2 = PasswordSettings(time_cost=1, memory_cost=1024, parallelism=1)

_passwords = Passwords(FAST_ARGON2)


def create_account(directory: Directory, *addresses: str, account_id: str | None = None,
                   password: str | None = PASSWORD, status: str = "active", verified: bool = True,
                   **fields: Any) -> Account:
    """Create an account in ``directory`` and return it as stored.

    ``addresses``: its addresses, the first one primary, all ``verified`` (or none); ``account_id``:
    by default the first address's local part, dots as dashes (``camille.martin@…`` ->
    ``camille-martin``); ``password``: hashed into the account (None: no password; a
    ``"provisioned"`` account never has one); ``fields``: any other :class:`Account` field
    (given_name, eppn, affiliations, legacy_ids..., or a ``password_hash`` made once for
    many accounts). Raises what ``Directory.create`` raises
    (AccountExists, AddressTaken...).
    """
    assert addresses, "an account needs at least one address"
    if "password_hash" not in fields:  # a hash made once for many accounts may be given instead
        fields["password_hash"] = _passwords.hash(password) if password and status != "provisioned" else ""
    account = Account(
        id=account_id or addresses[0].split("@")[0].replace(".", "-"),
        emails=tuple(Email(address, verified) for address in addresses),
        status=status,
        **fields,
    )
    return directory.create(account)
