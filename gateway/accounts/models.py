"""The account value object, its rules, and its two serialised forms.

* the Redis hash (:func:`to_hash` / :func:`from_hash`), private to the directory;
* the provisioning record (:func:`to_record` / :func:`record_fields`), the JSON
  Lines shape used by ``gateway users import|export``. Besides the account's
  fields it carries ``saml_persistent_ids`` (:func:`record_persistent_ids`): the
  persistent identifiers made for SPs, stored beside the account, not in it.

Legacy identifiers (what an application already stores for the person, issue 11):
``legacy_ids`` maps an SP entityID to the persistent NameID value that SP knows,
``legacy_qualifiers`` to the NameQualifier (the former IdP's entityID) and
optional SPNameQualifier it came with, and ``legacy_eppns`` to the eppn that SP
knows. In a record, in the Redis hash and over SCIM, a ``legacy_ids`` entry is a
plain string (no qualifiers) or ``{"value", "name_qualifier", "sp_name_qualifier"?}``
(:func:`legacy_ids_record`, :func:`parse_legacy_ids`).
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from json.encoder import encode_basestring
from typing import Any

from .emails import normalize_email
from .errors import InvalidAccount

STATUSES = ("provisioned", "active", "disabled")
#: eduPersonAffiliation vocabulary (eduPerson 202208, §2.2.1).
AFFILIATIONS = ("student", "faculty", "staff", "employee", "member", "affiliate", "alum", "library-walk-in")
_ESTABLISHMENT = re.compile(r"^\{[A-Za-z0-9_.-]+\}\S+$")  # supannEtablissement, e.g. {UAI}0751717J
_EPPN = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_NAME_MAX = 256
#: What XML 1.0 text cannot hold (its Char production, §2.2; tab, LF and CR aside): such a value could not
#: be sent in a SAML Assertion, and a lone surrogate cannot even be stored (it has no UTF-8).
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: How a provisioning file may write a boolean (CSV cells; French Excel writes VRAI/FAUX).
_BOOLEANS = {"true": True, "1": True, "vrai": True, "oui": True,
             "false": False, "0": False, "faux": False, "non": False}


def utcnow() -> str:
    """Now, as the ISO 8601 UTC timestamp stored on accounts (second precision)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class Email:
    """One address of an account; ``address`` is normalised."""

    address: str
    verified: bool = False


@dataclasses.dataclass(frozen=True)
class NameQualifiers:
    """The qualifiers a former IdP put on a persistent NameID (SAML Core §8.3.7).

    ``name_qualifier`` is that IdP's entityID; ``sp_name_qualifier`` empty means the SP's own entityID.
    """

    name_qualifier: str
    sp_name_qualifier: str = ""


@dataclasses.dataclass(frozen=True)
class Account:
    """A person of the UNESS network. ``emails[0]`` is the primary address."""

    id: str
    emails: tuple[Email, ...]
    given_name: str = ""
    family_name: str = ""
    display_name: str = ""
    affiliations: tuple[str, ...] = ()
    establishment: str = ""
    eppn: str = ""
    #: SP entityID -> the persistent identifier that SP already stores for this person
    legacy_ids: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: SP entityID -> the qualifiers the former IdP gave that SP's legacy id (none: the gateway's)
    legacy_qualifiers: Mapping[str, NameQualifiers] = dataclasses.field(default_factory=dict)
    #: SP entityID -> the eppn that SP knows; for that SP it replaces ``eppn``
    legacy_eppns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: supannListeRouge: the person's names and mail are kept from SPs not authorised (ATT07)
    liste_rouge: bool = False
    status: str = "provisioned"
    password_hash: str = ""
    created_at: str = ""
    updated_at: str = ""
    #: bumped by every write; the directory's compare-and-set guard
    version: int = 0

    @property
    def primary_email(self) -> str:
        return self.emails[0].address

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(e.address for e in self.emails)

    @property
    def verified_addresses(self) -> tuple[str, ...]:
        return tuple(e.address for e in self.emails if e.verified)

    def email(self, address: str) -> Email | None:
        return next((e for e in self.emails if e.address == address), None)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def eppn_for(self, sp_entity_id: str) -> str:
        """The eppn this SP knows: its legacy eppn, else the account's (may be empty)."""
        return self.legacy_eppns.get(sp_entity_id) or self.eppn

    def same_content(self, other: Account) -> bool:
        """Equal but for version and timestamps (import reports these as unchanged)."""
        def core(a: Account) -> Account:
            return dataclasses.replace(a, version=0, updated_at="", created_at="")

        return core(self) == core(other)


def validate(account: Account) -> Account:
    """Check every rule; return the account unchanged. Raises InvalidAccount."""
    if not account.id or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", account.id):
        raise InvalidAccount("id", "1 to 64 letters, digits, '.', '_' or '-'")
    if not account.emails:
        raise InvalidAccount("emails", "at least one address is required")
    if len(set(account.addresses)) != len(account.addresses):
        raise InvalidAccount("emails", "an address is listed twice")
    for email in account.emails:
        if normalize_email(email.address) != email.address:
            raise InvalidAccount("emails", f"{email.address!r} is not normalised")
    for name in ("given_name", "family_name", "display_name"):
        value = getattr(account, name)
        if len(value) > _NAME_MAX or any(ord(c) < 32 for c in value) or _NOT_XML_TEXT.search(value):
            raise InvalidAccount(name, "at most 256 printable characters")
    for name in ("establishment", "eppn"):
        if _NOT_XML_TEXT.search(getattr(account, name)):
            raise InvalidAccount(name, "a character that is not text")
    for value in account.affiliations:
        if value not in AFFILIATIONS:
            raise InvalidAccount("affiliations", f"{value!r} is not one of {', '.join(AFFILIATIONS)}")
    if account.establishment and not _ESTABLISHMENT.match(account.establishment):
        raise InvalidAccount("establishment", "expected a supannEtablissement code such as {UAI}0751717J")
    if account.eppn and not _EPPN.match(account.eppn):
        raise InvalidAccount("eppn", "expected user@scope, such as jdupont@univ-exemple.fr")
    check_identifiers(account.legacy_ids, "legacy_ids")
    check_qualifiers(account)
    check_identifiers(account.legacy_eppns, "legacy_eppns")
    for eppn in account.legacy_eppns.values():
        if not _EPPN.match(eppn):
            raise InvalidAccount("legacy_eppns", f"{eppn!r}: expected user@scope")
    if account.status not in STATUSES:
        raise InvalidAccount("status", f"must be one of {', '.join(STATUSES)}")
    if account.password_hash and not account.password_hash.startswith("$argon2"):
        raise InvalidAccount("password_hash", "only argon2 hashes are accepted")
    return account


def eppn_scope(eppn: str) -> str:
    """The scope of an eppn: what follows its last ``@`` (eduPerson 202208 §2.2.6)."""
    return eppn.rsplit("@", 1)[-1]


#: Kinds of identifier that name one account at most (see :func:`unique_entries`), and the
#: account field each comes from.
UNIQUE_KINDS = {"eppn": "eppn", "legacy_id": "legacy_ids", "legacy_eppn": "legacy_eppns"}


def unique_entries(account: Account) -> list[str]:
    """The account's entries of the uniqueness index, one per (kind, SP entityID, value).

    Each is the compact JSON array ``[kind, sp, value]`` (``sp`` empty for the eppn). Eppns,
    legacy or not, are compared lowercased: two accounts never differ by their case alone. A
    legacy id is unique on its value per SP, whatever its qualifiers.
    """
    triples = [("legacy_id", sp, value) for sp, value in sorted(account.legacy_ids.items())]
    triples += [("legacy_eppn", sp, value.lower()) for sp, value in sorted(account.legacy_eppns.items())]
    if account.eppn:
        triples.insert(0, ("eppn", "", account.eppn.lower()))
    return [unique_entry(*triple) for triple in triples]


def identifier_of(account: Account, kind: str, sp: str) -> str:
    """The account's value behind a uniqueness entry (as written, not lowercased)."""
    if kind == "eppn":
        return account.eppn
    return (account.legacy_ids if kind == "legacy_id" else account.legacy_eppns).get(sp, "")


def unique_entry(kind: str, sp: str, value: str) -> str:
    """``json.dumps([kind, sp, value], ensure_ascii=False, separators=(",", ":"))``, written with json's
    own string encoder (json.dumps makes an encoder per call when given options: a cut-over check
    makes hundreds of thousands of entries)."""
    return f"[{encode_basestring(kind)},{encode_basestring(sp)},{encode_basestring(value)}]"


def check_identifiers(identifiers: Mapping[str, str], field: str) -> None:
    """Each entry maps an SP entityID to a non-empty identifier (at most 1024 characters).

    Raises InvalidAccount.
    """
    for sp, value in identifiers.items():
        if not isinstance(sp, str) or not sp or not isinstance(value, str) or not value or len(value) > 1024:
            raise InvalidAccount(field, "each entry maps an SP entityID to a non-empty identifier")


def check_qualifiers(account: Account) -> None:
    """Qualifiers only for an SP with a legacy id; the NameQualifier given, both at most 1024
    characters without spaces. Raises InvalidAccount.
    """
    for sp, qualifiers in account.legacy_qualifiers.items():
        if sp not in account.legacy_ids:
            raise InvalidAccount("legacy_ids", f"qualifiers for {sp} without a value")
        for text in (qualifiers.name_qualifier, qualifiers.sp_name_qualifier):
            if len(text) > 1024 or any(c.isspace() or not c.isprintable() for c in text):
                raise InvalidAccount("legacy_ids", "qualifiers are entityIDs: no spaces, at most 1024")
        if not qualifiers.name_qualifier:
            raise InvalidAccount("legacy_ids", f"{sp}: name_qualifier (the former IdP entityID) is required")


def legacy_ids_record(account: Account) -> dict[str, str | dict[str, str]]:
    """``legacy_ids`` as records, the Redis hash and SCIM write it: a plain string, or
    ``{"value", "name_qualifier", "sp_name_qualifier"?}`` when the former IdP qualified it; sorted.
    """
    out: dict[str, str | dict[str, str]] = {}
    for sp, value in sorted(account.legacy_ids.items()):
        qualifiers = account.legacy_qualifiers.get(sp)
        if qualifiers is None:
            out[sp] = value
            continue
        out[sp] = {"value": value, "name_qualifier": qualifiers.name_qualifier}
        if qualifiers.sp_name_qualifier:
            out[sp]["sp_name_qualifier"] = qualifiers.sp_name_qualifier  # type: ignore[index]
    return out


def parse_legacy_ids(value: Any) -> tuple[dict[str, str], dict[str, NameQualifiers]]:
    """A ``legacy_ids`` object (see :func:`legacy_ids_record`): values and qualifiers by SP entityID.

    Strings are stripped. Raises InvalidAccount.
    """
    value = value or {}
    if not isinstance(value, dict):
        raise InvalidAccount("legacy_ids", "expected an object mapping SP entityID to identifier")
    ids: dict[str, str] = {}
    qualifiers: dict[str, NameQualifiers] = {}
    for sp, entry in value.items():
        sp = str(sp).strip()
        if isinstance(entry, dict):
            unknown = set(entry) - {"value", "name_qualifier", "sp_name_qualifier"}
            texts = [entry.get(k, "") for k in ("value", "name_qualifier", "sp_name_qualifier")]
            if unknown or not all(isinstance(t, str) for t in texts):
                raise InvalidAccount("legacy_ids", 'an object entry is {"value", "name_qualifier", '
                                                   '"sp_name_qualifier"} (strings)')
            entry, name_qualifier, sp_name_qualifier = (t.strip() for t in texts)
            qualifiers[sp] = NameQualifiers(name_qualifier, sp_name_qualifier)
        if not isinstance(entry, str):
            raise InvalidAccount("legacy_ids", "expected an identifier, or an object with its qualifiers")
        ids[sp] = entry.strip()
    return ids, qualifiers


# -- Redis hash form -----------------------------------------------------------

def to_hash(account: Account) -> dict[str, str]:
    """Flat string fields for HSET; ``addresses`` is read by the directory's Lua scripts."""
    return {
        "id": account.id,
        "emails": json.dumps([[e.address, e.verified] for e in account.emails]),
        "addresses": json.dumps(list(account.addresses)),
        "given_name": account.given_name,
        "family_name": account.family_name,
        "display_name": account.display_name,
        "affiliations": json.dumps(list(account.affiliations)),
        "establishment": account.establishment,
        "eppn": account.eppn,
        "legacy_ids": json.dumps(legacy_ids_record(account), sort_keys=True),
        "legacy_eppns": json.dumps(dict(account.legacy_eppns), sort_keys=True),
        "liste_rouge": "1" if account.liste_rouge else "",
        "status": account.status,
        "password_hash": account.password_hash,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


def from_hash(fields: Mapping[str, str]) -> Account:
    legacy_ids, legacy_qualifiers = parse_legacy_ids(json.loads(fields.get("legacy_ids", "{}")))
    return Account(
        id=fields["id"],
        emails=tuple(Email(a, bool(v)) for a, v in json.loads(fields["emails"])),
        given_name=fields.get("given_name", ""),
        family_name=fields.get("family_name", ""),
        display_name=fields.get("display_name", ""),
        affiliations=tuple(json.loads(fields.get("affiliations", "[]"))),
        establishment=fields.get("establishment", ""),
        eppn=fields.get("eppn", ""),
        legacy_ids=legacy_ids,
        legacy_qualifiers=legacy_qualifiers,
        legacy_eppns=json.loads(fields.get("legacy_eppns", "{}")),
        liste_rouge=fields.get("liste_rouge") == "1",
        status=fields.get("status", "provisioned"),
        password_hash=fields.get("password_hash", ""),
        created_at=fields.get("created_at", ""),
        updated_at=fields.get("updated_at", ""),
        version=int(fields.get("version", 0)),
    )


# -- provisioning record form (JSON Lines) -------------------------------------

#: The account's fields in a record, in export order.
ACCOUNT_FIELDS = (
    "id", "emails", "given_name", "family_name", "display_name", "affiliations",
    "establishment", "eppn", "legacy_ids", "legacy_eppns", "liste_rouge", "status", "password_hash",
    "created_at", "updated_at",
)
#: SP entityID -> the persistent identifier made for it (saml.sp.nameids), kept beside the account.
PERSISTENT_IDS = "saml_persistent_ids"
#: Every field of a record (the CSV columns), in export order.
RECORD_FIELDS = (*ACCOUNT_FIELDS, PERSISTENT_IDS)


def to_record(account: Account, persistent_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The export form: every account field, addresses as ``{"address", "verified"}`` objects,
    identifier maps sorted; ``saml_persistent_ids`` too when given.
    """
    record = {name: getattr(account, name) for name in ACCOUNT_FIELDS}
    record["emails"] = [{"address": e.address, "verified": e.verified} for e in account.emails]
    record["affiliations"] = list(account.affiliations)
    record["legacy_ids"] = legacy_ids_record(account)
    record["legacy_eppns"] = dict(sorted(account.legacy_eppns.items()))
    if persistent_ids is not None:
        record[PERSISTENT_IDS] = dict(sorted(persistent_ids.items()))
    return record


def parse_emails(value: Any) -> list[Email | str]:
    """Record ``emails``: a list of addresses or ``{"address", "verified"}`` objects.

    Plain strings come back as normalised strings (verification left to the
    caller: an existing address keeps its flag); objects as :class:`Email`.
    Raises InvalidAccount.
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidAccount("emails", "expected a non-empty list of addresses")
    parsed: list[Email | str] = []
    for item in value:
        if isinstance(item, str):
            parsed.append(normalize_email(item))
        elif isinstance(item, dict) and isinstance(item.get("address", item.get("value")), str):
            verified = item.get("verified", False)
            if not isinstance(verified, bool):
                raise InvalidAccount("emails", "verified must be true or false")
            parsed.append(Email(normalize_email(str(item.get("address", item.get("value")))), verified))
        else:
            raise InvalidAccount("emails", f"unexpected entry {item!r}")
    return parsed


def record_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check the types of a record's scalar fields and return them as Account kwargs.

    ``emails``, ``id`` and ``saml_persistent_ids`` (:func:`record_persistent_ids`) are left to the
    caller. Raises InvalidAccount.
    """
    unknown = set(record) - set(RECORD_FIELDS)
    if unknown:
        raise InvalidAccount(sorted(unknown)[0], "unknown field")
    out: dict[str, Any] = {}
    for name in ("given_name", "family_name", "display_name", "establishment", "eppn", "status",
                 "password_hash", "created_at", "updated_at"):
        if name in record:
            value = record[name] if record[name] is not None else ""
            if not isinstance(value, str):
                raise InvalidAccount(name, "expected a string")
            out[name] = value.strip()
    if "affiliations" in record:
        value = record["affiliations"] or []
        if isinstance(value, str):
            value = [v for v in re.split(r"[;,\s]+", value) if v]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidAccount("affiliations", "expected a list of strings")
        out["affiliations"] = tuple(dict.fromkeys(v.strip().lower() for v in value))
    if "legacy_ids" in record:
        out["legacy_ids"], out["legacy_qualifiers"] = parse_legacy_ids(record["legacy_ids"])
    if "legacy_eppns" in record:
        out["legacy_eppns"] = _identifier_map(record["legacy_eppns"], "legacy_eppns")
    if "liste_rouge" in record:
        out["liste_rouge"] = _boolean(record["liste_rouge"], "liste_rouge")
    return out


def record_persistent_ids(record: Mapping[str, Any]) -> dict[str, str]:
    """A record's ``saml_persistent_ids``, checked (absent or null: none). Raises InvalidAccount."""
    identifiers = _identifier_map(record.get(PERSISTENT_IDS), PERSISTENT_IDS)
    check_identifiers(identifiers, PERSISTENT_IDS)
    if any(len(value) > 256 or any(c.isspace() or not c.isprintable() for c in value)
           for value in identifiers.values()):  # sent as a persistent NameID: SAML Core §8.3.7, RSP11
        raise InvalidAccount(PERSISTENT_IDS, "identifiers of at most 256 characters, without spaces")
    return identifiers


def _identifier_map(value: Any, field: str) -> dict[str, str]:
    """An object mapping SP entityID to identifier, keys and values stripped. Raises InvalidAccount."""
    value = value or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidAccount(field, "expected an object mapping SP entityID to identifier")
    return {str(k).strip(): v.strip() for k, v in value.items()}


def _boolean(value: Any, field: str) -> bool:
    """A JSON boolean, or a file's ``true``/``false`` (also 1/0, vrai/faux, oui/non, any case); null is false.

    Raises InvalidAccount.
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    found = _BOOLEANS.get(value.strip().lower()) if isinstance(value, str) else None
    if found is None:
        raise InvalidAccount(field, "expected true or false")
    return found
