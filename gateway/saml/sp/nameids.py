"""Subject identifiers: which NameID format, and the values that never change (E: NID01-NID08).

* **Format** (NID03, REQ10): the AuthnRequest's NameIDPolicy/@Format, else the
  first format of the SP metadata the gateway supports, else the SP's
  configured default (transient). ``unspecified`` counts as not asking.
  InvalidNameIDPolicy only when the format truly cannot be produced.
* **Persistent** (NID02, NID07): the account's ``legacy_ids[SP entityID]`` exactly
  as the SP already stores it; otherwise a random opaque value made once per
  (account, SP) and kept in Redis *without TTL* (``gw:saml:persistent-id:<account>``,
  a hash keyed by SP entityID, written with HSETNX), so it survives secret
  rotation and never changes. It is also the eduPersonTargetedID value (NID06).
  ``gateway users export`` carries these values and ``import`` restores them
  (accounts.directory owns that side; the key name is ``Store.persistent_ids_key``).
* **Legacy qualifiers** (issue 11): a legacy id imported with the former IdP's
  ``name_qualifier`` (and ``sp_name_qualifier``) goes out with them, in the NameID
  and in eduPersonTargetedID (:meth:`NameIds.persistent_name_id`), so Shibboleth's
  ``persistent-id`` (``NameQualifier!SPNameQualifier!value``) is the string the
  application stored. Otherwise NameQualifier is the gateway, SPNameQualifier the SP.
* **Legacy NameID wins** (issue 11; :func:`format_for`): an SP for which the
  account has a legacy id gets it as a persistent NameID even when it asks for
  transient or unspecified: the former IdPs did so, and the application keys its
  users on it. The SP's ``legacy_name_id = false`` setting restores the strict
  reading of NameIDPolicy (SAML Core §3.4.1.1). The NameID then carries the
  identifier in place of eduPersonTargetedID, which is left out
  (:func:`legacy_replaces_transient`): Shibboleth SP 3 maps both to
  ``persistent-id`` and would join them as ``X;X``, a string no former IdP
  (which sent one or the other) gave the application.
* **Transient** (NID01): random, one per (SSO session, SP), kept for SLO in the
  session's parties record (identity.parties).
* **Email**: the primary address if verified, else the first verified one; only
  for SPs configured with ``email_name_id`` (NID08).
"""
from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from typing import cast

from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT

from ...accounts.models import Account
from ...logs import audit
from ...store import Store
from ..errors import InvalidNameIDPolicy
from .providers import ServiceProvider

UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
FORMATS: dict[str, str] = {
    "transient": NAMEID_FORMAT_TRANSIENT,
    "persistent": NAMEID_FORMAT_PERSISTENT,
    "email": NAMEID_FORMAT_EMAILADDRESS,
}


@dataclasses.dataclass(frozen=True)
class NameIdPolicy:
    """What the AuthnRequest's samlp:NameIDPolicy asked (absent: all None)."""

    format: str | None = None
    allow_create: bool | None = None
    sp_name_qualifier: str | None = None


@dataclasses.dataclass(frozen=True)
class IssuedNameId:
    """A saml:NameID as issued (and recorded for SLO)."""

    value: str
    format: str
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None


def supported_formats(sp: ServiceProvider) -> tuple[str, ...]:
    formats = (NAMEID_FORMAT_TRANSIENT, NAMEID_FORMAT_PERSISTENT)
    return formats + ((NAMEID_FORMAT_EMAILADDRESS,) if sp.policy.email_name_id else ())


def choose_format(sp: ServiceProvider, policy: NameIdPolicy) -> str:
    """NID03's order. Raises InvalidNameIDPolicy for a format the SP may not have."""
    supported = supported_formats(sp)
    if policy.format and policy.format != UNSPECIFIED:
        if policy.format not in supported:
            raise InvalidNameIDPolicy(f"NameID format {policy.format} not available")
        return policy.format
    for wanted in sp.name_id_formats:
        if wanted in supported:
            return wanted
    return FORMATS[sp.policy.name_id_format]


def legacy_replaces_transient(account: Account, sp: ServiceProvider, policy: NameIdPolicy) -> bool:
    """The SP would get a transient NameID, but the account has a legacy persistent id for it and the
    SP's ``legacy_name_id`` is on: that id is sent instead (issue 11). Raises InvalidNameIDPolicy.
    """
    return (sp.policy.legacy_name_id and bool(account.legacy_ids.get(sp.entity_id))
            and choose_format(sp, policy) == NAMEID_FORMAT_TRANSIENT)


def format_for(account: Account, sp: ServiceProvider, policy: NameIdPolicy) -> str:
    """:func:`choose_format`, or persistent when :func:`legacy_replaces_transient`.

    Raises InvalidNameIDPolicy.
    """
    if legacy_replaces_transient(account, sp, policy):
        return NAMEID_FORMAT_PERSISTENT
    return choose_format(sp, policy)


class NameIds:
    """Makes and remembers identifiers; ``store`` holds the persistent ones."""

    def __init__(self, store: Store, idp_entity_id: str) -> None:
        self.store = store
        self.idp_entity_id = idp_entity_id

    def persistent_value(self, account: Account, sp_entity_id: str, create: bool = True) -> str | None:
        """The legacy value, else the stored one, else (``create``) a new one, stored once.

        A new one is returned only once the replicas hold it (raises NotReplicated, see
        :meth:`gateway.store.Store.execute_durably`): an SP must never see it change.
        """
        legacy = account.legacy_ids.get(sp_entity_id)
        if legacy:
            return legacy
        name = Store.persistent_ids_key(account.id)
        found = self.stored(account.id, sp_entity_id)
        if found is not None or not create:
            return cast("str | None", found)
        pipe = self.store.redis.pipeline(transaction=False)  # acknowledged once a replica has it
        pipe.hsetnx(name, sp_entity_id, secrets.token_urlsafe(32))
        pipe.hget(name, sp_entity_id)  # the winner of a race
        created, value = self.store.execute_durably(pipe)
        if created:
            audit("saml.persistent_id.created", account=account.id, sp=sp_entity_id)
        return cast("str | None", value)

    def persistent_name_id(self, account: Account, sp_entity_id: str,
                           create: bool = True) -> IssuedNameId | None:
        """The persistent NameID for this SP (:meth:`persistent_value`) with its qualifiers: the former
        IdP's for a qualified legacy id, else the gateway's entityID and the SP's (SAML Core §8.3.7).
        """
        value = self.persistent_value(account, sp_entity_id, create)
        if value is None:
            return None
        legacy = account.legacy_qualifiers.get(sp_entity_id) if account.legacy_ids.get(sp_entity_id) else None
        if legacy is None:
            return IssuedNameId(value, NAMEID_FORMAT_PERSISTENT, self.idp_entity_id, sp_entity_id)
        return IssuedNameId(value, NAMEID_FORMAT_PERSISTENT, legacy.name_qualifier,
                            legacy.sp_name_qualifier or sp_entity_id)

    def stored(self, account_id: str, sp_entity_id: str) -> str | None:
        """The persistent value made for (account, SP), if any."""
        return cast("str | None", self.store.redis.hget(Store.persistent_ids_key(account_id), sp_entity_id))

    def issue(self, account: Account, sp: ServiceProvider, name_format: str, policy: NameIdPolicy,
              previous: IssuedNameId | None) -> IssuedNameId:
        """The NameID for this SP in this session. Raises InvalidNameIDPolicy."""
        qualifiers = {"name_qualifier": self.idp_entity_id, "sp_name_qualifier": sp.entity_id}
        if policy.sp_name_qualifier not in (None, sp.entity_id):
            raise InvalidNameIDPolicy("affiliations (SPNameQualifier) are not supported")
        if name_format == NAMEID_FORMAT_TRANSIENT:
            if previous is not None and previous.format == name_format:
                return previous
            return IssuedNameId("_" + secrets.token_hex(20), name_format, **qualifiers)
        if name_format == NAMEID_FORMAT_PERSISTENT:
            create = policy.allow_create is not False
            persistent = self.persistent_name_id(account, sp.entity_id, create)
            if persistent is not None:
                return persistent
            if policy.format == NAMEID_FORMAT_PERSISTENT:
                raise InvalidNameIDPolicy("no persistent identifier yet and AllowCreate is false")
            return self.issue(account, sp, NAMEID_FORMAT_TRANSIENT, policy, previous)  # not asked for by name
        if account.liste_rouge and not sp.policy.liste_rouge:  # the address is withheld (ATT07)
            if policy.format == NAMEID_FORMAT_EMAILADDRESS:
                raise InvalidNameIDPolicy("the address of a person on the liste rouge: SP not authorised")
            return self.issue(account, sp, NAMEID_FORMAT_TRANSIENT, policy, previous)
        address = email_address(account)
        if address is None:
            raise InvalidNameIDPolicy("no verified address")
        return IssuedNameId(address, NAMEID_FORMAT_EMAILADDRESS)


class KnownNameIds(NameIds):
    """:class:`NameIds` with the stored persistent values of some accounts for one SP already read
    (one SSO reads its account's with everything else; the cutover check reads many in a pipeline).
    """

    def __init__(self, base: NameIds, sp_entity_id: str, known: Mapping[str, str | None]) -> None:
        super().__init__(base.store, base.idp_entity_id)
        self._sp = sp_entity_id
        self._known = known

    def stored(self, account_id: str, sp_entity_id: str) -> str | None:
        if sp_entity_id == self._sp and account_id in self._known:
            return self._known[account_id]
        return super().stored(account_id, sp_entity_id)


def email_address(account: Account) -> str | None:
    """The primary address when verified, else the first verified one."""
    verified = account.verified_addresses
    if account.primary_email in verified:
        return account.primary_email
    return verified[0] if verified else None
