"""What a provisioning service may write: its address domains and eppn scopes (``scim.reach``).

A service listed in ``scim.reach`` (``{addresses = [...], scopes = [...]}``) may

* change only accounts it can see as its own: one address in its domains, or an
  eppn in its scopes (so it cannot disable, rename or re-key another
  university's people);
* add only addresses in its domains, and set only an eppn or a legacy eppn (per SP) in its scopes.

A domain pattern is ``"*"`` (any), ``"univ-exemple.fr"`` (that domain) or
``"*.univ-exemple.fr"`` (its subdomains); a scope is one of ``saml.scope`` /
``saml.extra_scopes`` or ``"*"`` (any of them; the directory refuses the rest).
A write outside is refused with 403, RFC 7644 §3.12's status for an operation
"not permitted based on the supplied authorization"; the request was well
formed, so it is not a 400. Services not listed are not limited.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..accounts.models import Account, eppn_scope
from .problems import ScimProblem


@dataclasses.dataclass(frozen=True)
class Reach:
    """The address domain patterns and eppn scopes of one service."""

    addresses: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    def has_address(self, address: str) -> bool:
        domain = address.rsplit("@", 1)[-1].lower()
        return any(pattern == "*" or domain == pattern.lower()
                   or (pattern.startswith("*.") and domain.endswith(pattern[1:].lower()))
                   for pattern in self.addresses)

    def has_eppn(self, eppn: str) -> bool:
        return bool(eppn) and ("*" in self.scopes or eppn_scope(eppn) in self.scopes)

    def holds(self, account: Account) -> bool:
        """The account is within reach: one address in the domains, or the eppn in the scopes."""
        return any(map(self.has_address, account.addresses)) or self.has_eppn(account.eppn)


def reach_of(service: str, reach: Mapping[str, Any]) -> Reach | None:
    """The service's :class:`Reach` from ``scim.reach`` (checked by the settings), None: not limited."""
    table = reach.get(service)
    if table is None:
        return None
    return Reach(tuple(table.get("addresses", ())), tuple(table.get("scopes", ())))


def check_write(reach: Reach | None, before: Account | None, after: Account) -> None:
    """Refuse a write outside the service's reach. Raises ScimProblem (403)."""
    if reach is None:
        return
    if before is not None and not reach.holds(before):
        raise ScimProblem(403, "this service may not change this User (none of its addresses or eppn "
                               "is in the service's domains)")
    kept = set(before.addresses) if before else set()
    for address in after.addresses:
        if address not in kept and not reach.has_address(address):
            raise ScimProblem(403, f"emails: this service may not add an address at "
                                   f"{address.rsplit('@', 1)[-1]}")
    if after.eppn and after.eppn != (before.eppn if before else "") and not reach.has_eppn(after.eppn):
        raise ScimProblem(403, f"eppn: this service may not set an eppn in scope {eppn_scope(after.eppn)!r}")
    old = before.legacy_eppns if before else {}
    for sp, eppn in sorted(after.legacy_eppns.items()):
        if old.get(sp) != eppn and not reach.has_eppn(eppn):
            raise ScimProblem(403, "legacyEppns: this service may not set an eppn in scope "
                                   f"{eppn_scope(eppn)!r}")
