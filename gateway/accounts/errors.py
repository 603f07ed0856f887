"""Errors of the account directory.

::

    AccountsError
     ├── InvalidAccount        a field breaks a rule (field, reason)
     │    └── InvalidEmail     an address cannot be normalised
     ├── AddressTaken          an address belongs to another account (address, owner_id)
     ├── IdentifierTaken       an eppn or an SP's legacy id is another account's (field, sp, value)
     ├── AccountExists         create() with an id already in use
     ├── AccountNotFound       no account with that id or address
     ├── LastVerifiedAddress   removing it would leave no verified address
     ├── PersistentIdConflict  another persistent identifier is stored for (account, SP)
     └── ConcurrentUpdate      retries exhausted against concurrent writers
"""
from __future__ import annotations


class AccountsError(Exception):
    """Base of the account directory errors."""


class InvalidAccount(AccountsError):
    """A field breaks a rule of the directory."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidEmail(InvalidAccount):
    """An address that cannot be normalised."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__("emails", f"{address!r} is not a valid address ({reason})")
        self.address = address


class AddressTaken(AccountsError):
    """The address already belongs to another account."""

    def __init__(self, address: str, owner_id: str) -> None:
        super().__init__(f"{address} already belongs to another account")
        self.address = address
        self.owner_id = owner_id


class IdentifierTaken(AccountsError):
    """An eppn, or an SP's legacy identifier, already belongs to another account (never disclosed)."""

    def __init__(self, field: str, sp: str, value: str) -> None:
        where = f" for {sp}" if sp else ""
        super().__init__(f"{field}: {value}{where} already belongs to another account")
        self.field = field
        self.sp = sp
        self.value = value


class AccountExists(AccountsError):
    """An account with this id exists already."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id} exists already")
        self.account_id = account_id


class AccountNotFound(AccountsError):
    """No account with that id or address."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"no account for {ref}")
        self.ref = ref


class LastVerifiedAddress(AccountsError):
    """The change would leave the account without a verified address."""


class PersistentIdConflict(AccountsError):
    """A different persistent identifier is already stored for (account, SP); a stored one never changes."""

    def __init__(self, account_id: str, sp_entity_id: str) -> None:
        super().__init__(f"saml_persistent_ids: account {account_id} already has a different "
                         f"persistent identifier for {sp_entity_id}")
        self.account_id = account_id
        self.sp_entity_id = sp_entity_id


class ConcurrentUpdate(AccountsError):
    """Other writers kept changing the account; the update was not applied."""
