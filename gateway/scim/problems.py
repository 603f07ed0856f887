"""SCIM failures and how directory errors translate to them (RFC 7644 §3.12).

The pure modules of this package raise :class:`ScimProblem`; the blueprint
turns it (and the errors of :mod:`gateway.accounts.errors`) into SCIM's error
JSON through :func:`gateway.errors.scim_error`.
"""
from __future__ import annotations

from ..accounts.errors import (
    AccountExists,
    AccountNotFound,
    AccountsError,
    AddressTaken,
    ConcurrentUpdate,
    IdentifierTaken,
    InvalidAccount,
    LastVerifiedAddress,
)

#: Account field -> the SCIM attribute a client knows it by.
SCIM_NAMES = {
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "display_name": "displayName",
    "legacy_ids": "legacyIds",
    "legacy_eppns": "legacyEppns",
    "affiliations": "affiliations",
    "establishment": "establishment",
    "eppn": "eppn",
    "liste_rouge": "listeRouge",
    "emails": "emails",
    "status": "active",
}


class ScimProblem(Exception):
    """A request SCIM refuses: HTTP status, optional ``scimType`` and a detail (RFC 7644 §3.12)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


def invalid_value(detail: str) -> ScimProblem:
    return ScimProblem(400, detail, "invalidValue")


def invalid_syntax(detail: str) -> ScimProblem:
    return ScimProblem(400, detail, "invalidSyntax")


def invalid_path(detail: str) -> ScimProblem:
    return ScimProblem(400, detail, "invalidPath")


def no_target(detail: str) -> ScimProblem:
    return ScimProblem(400, detail, "noTarget")


def mutability(detail: str) -> ScimProblem:
    return ScimProblem(400, detail, "mutability")


def not_found(account_id: str) -> ScimProblem:
    return ScimProblem(404, f"no User with id {account_id!r}")


def from_accounts_error(exc: AccountsError) -> ScimProblem:
    """The SCIM answer to a directory error (RFC 7644 §3.12 status and scimType table)."""
    if isinstance(exc, InvalidAccount):
        return invalid_value(f"{SCIM_NAMES.get(exc.field, exc.field)}: {exc.reason}")
    if isinstance(exc, AddressTaken):
        # The owner's id is not disclosed; the client can filter on emails.value.
        return ScimProblem(409, f"{exc.address} already belongs to another account", "uniqueness")
    if isinstance(exc, IdentifierTaken):  # the owner is not disclosed either
        return ScimProblem(409, f"{SCIM_NAMES.get(exc.field, exc.field)}: {exc.value}"
                                f"{' for ' + exc.sp if exc.sp else ''} already belongs to another account",
                           "uniqueness")
    if isinstance(exc, AccountExists):
        return ScimProblem(409, "an account with this id exists already", "uniqueness")
    if isinstance(exc, AccountNotFound):
        return ScimProblem(404, f"not found: {exc.ref}")
    if isinstance(exc, ConcurrentUpdate):
        return ScimProblem(409, "the User kept changing while being updated; try again")
    if isinstance(exc, LastVerifiedAddress):
        return invalid_value(str(exc))
    return ScimProblem(500, "unexpected directory error")
