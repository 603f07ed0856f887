"""Account <-> SCIM User resource (RFC 7643 §3, §4.1), pure functions, no Flask.

:func:`to_resource` is what GET returns; :func:`to_account` is the one way back,
used by POST, PUT (RFC 7644 §3.5.1) and PATCH (which edits the resource first).

Rules of the mapping:

* ``userName`` is the primary address and always one of ``emails``; a
  ``userName`` missing from ``emails`` is added first. In a POST/PUT body it
  decides the primary address; the ``primary`` flags sent are not used.
* the address list becomes exactly the one given; kept addresses keep their
  verified flag, new ones start unverified (``verifiedEmails`` is readOnly);
* readWrite attributes left out are cleared; readOnly ones (``id``, ``meta``,
  ``status``, ``verifiedEmails``) are ignored, but an ``id`` other than the
  resource's is refused (``mutability``);
* ``active`` left out keeps the status; ``false`` disables; ``true`` re-enables
  a disabled account as ``active`` if it has a password, else ``provisioned``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..accounts.emails import normalize_email
from ..accounts.errors import InvalidAccount, InvalidEmail
from ..accounts.models import Account, Email, NameQualifiers
from .problems import invalid_syntax, invalid_value, mutability
from .schema import (
    CORE,
    CORE_ATTRS,
    EXTENSION,
    EXTENSION_ATTRS,
    Attr,
    canonical_object,
    check_schemas,
    find,
    same_urn,
)


def etag(account: Account) -> str:
    """The weak entity tag of an account version (RFC 7644 §3.14)."""
    return f'W/"{account.version}"'


def location(base_url: str, account_id: str) -> str:
    """Absolute URI of a User (RFC 7643 §3.1 ``meta.location``); ``base_url`` ends in /scim/v2."""
    return f"{base_url}/Users/{account_id}"


def to_resource(account: Account, base_url: str) -> dict[str, Any]:
    """The User resource of ``account``; empty attributes are left out (RFC 7643 §2.5)."""
    resource: dict[str, Any] = {
        "schemas": [CORE, EXTENSION], "id": account.id, "userName": account.primary_email,
    }
    name = {k: v for k, v in (("givenName", account.given_name), ("familyName", account.family_name)) if v}
    if name:
        resource["name"] = name
    if account.display_name:
        resource["displayName"] = account.display_name
    resource["emails"] = [
        {"value": e.address, "type": "work", "primary": i == 0} for i, e in enumerate(account.emails)
    ]
    resource["active"] = account.status != "disabled"
    resource[EXTENSION] = _extension(account)
    resource["meta"] = {
        "resourceType": "User",
        "created": account.created_at,
        "lastModified": account.updated_at,
        "location": location(base_url, account.id),
        "version": etag(account),
    }
    return resource


def _extension(account: Account) -> dict[str, Any]:
    ext: dict[str, Any] = {}
    if account.affiliations:
        ext["affiliations"] = list(account.affiliations)
    if account.establishment:
        ext["establishment"] = account.establishment
    if account.eppn:
        ext["eppn"] = account.eppn
    if account.legacy_ids:
        ext["legacyIds"] = [_legacy_id(account, sp) for sp in sorted(account.legacy_ids)]
    if account.legacy_eppns:
        ext["legacyEppns"] = [
            {"serviceProvider": sp, "value": value} for sp, value in sorted(account.legacy_eppns.items())
        ]
    if account.liste_rouge:
        ext["listeRouge"] = True
    ext["status"] = account.status
    if account.verified_addresses:
        ext["verifiedEmails"] = list(account.verified_addresses)
    return ext


def to_account(resource: Mapping[str, Any], current: Account | None, account_id: str) -> Account:
    """The account a POST/PUT body describes (RFC 7644 §3.3, §3.5.1).

    ``current`` is None for a creation. Raises ScimProblem, InvalidAccount.
    """
    core, ext = split(resource, current)
    user_name = _user_name(core.get("userName"))
    addresses = dict.fromkeys([user_name, *_addresses(core.get("emails"))])
    name = canonical_object(_core("name"), core.get("name") or {})
    legacy = _per_sp(ext.get("legacyIds"), "legacyIds")
    return Account(
        id=account_id,
        emails=tuple(Email(a, _was_verified(current, a)) for a in addresses),
        given_name=_text(name.get("givenName"), "name.givenName"),
        family_name=_text(name.get("familyName"), "name.familyName"),
        display_name=_text(core.get("displayName"), "displayName"),
        affiliations=_affiliations(ext.get("affiliations")),
        establishment=_text(ext.get("establishment"), "establishment"),
        eppn=_text(ext.get("eppn"), "eppn"),
        legacy_ids=_values(legacy),
        legacy_qualifiers={sp: NameQualifiers(entry["nameQualifier"], entry.get("spNameQualifier", ""))
                           for sp, entry in legacy.items() if "nameQualifier" in entry},
        legacy_eppns=_values(_per_sp(ext.get("legacyEppns"), "legacyEppns")),
        liste_rouge=_boolean(ext.get("listeRouge"), "listeRouge"),
        status=_status(core.get("active"), current),
        password_hash=current.password_hash if current else "",
        created_at=current.created_at if current else "",
        updated_at=current.updated_at if current else "",
        version=current.version if current else 0,
    )


def split(resource: Mapping[str, Any], current: Account | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Core and extension attributes by canonical name; readOnly and null ones dropped."""
    if not isinstance(resource, Mapping):
        raise invalid_syntax("expected a JSON object")
    core: dict[str, Any] = {}
    ext: dict[str, Any] = {}
    for key, value in resource.items():
        folded = str(key).casefold()
        if folded == "schemas":
            check_schemas(value, CORE)
        elif folded == "id":
            if value is not None and (current is None or value != current.id):
                raise mutability("id is readOnly: it is assigned by the gateway and never changes")
        elif folded == "meta":
            continue
        elif same_urn(key, EXTENSION):
            ext = _extension_attrs(value)
        elif (attr := find(CORE_ATTRS, key)) is not None:
            if value is not None:
                core[attr.name] = value
        else:
            raise invalid_syntax(f"{key}: unknown attribute (see /Schemas)")
    if "schemas" not in {str(k).casefold() for k in resource}:
        raise invalid_syntax(f"schemas: must include {CORE}")
    return core, ext


def _extension_attrs(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid_value(f"{EXTENSION}: expected an object")
    ext: dict[str, Any] = {}
    for key, item in value.items():
        attr = find(EXTENSION_ATTRS, str(key))
        if attr is None:
            raise invalid_syntax(f"{EXTENSION}:{key}: unknown attribute (see /Schemas)")
        if item is not None and not attr.read_only:
            ext[attr.name] = item
    return ext


def _core(name: str) -> Attr:
    attr = find(CORE_ATTRS, name)
    assert attr is not None
    return attr


def _text(value: Any, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_value(f"{label}: expected a string")
    return value.strip()


def _boolean(value: Any, label: str) -> bool:
    if value is not None and not isinstance(value, bool):
        raise invalid_value(f"{label}: expected true or false")
    return bool(value)


def _user_name(value: Any) -> str:
    if value is None or value == "":
        raise invalid_value("userName: required (the primary address)")
    if not isinstance(value, str):
        raise invalid_value("userName: expected a string")
    try:
        return normalize_email(value)
    except InvalidEmail as exc:
        raise InvalidAccount("userName", exc.reason) from None


def _addresses(value: Any) -> list[str]:
    """The normalised ``value`` of each ``emails`` entry (RFC 7643 §4.1.2)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_value("emails: expected a list of objects")
    emails_attr = _core("emails")
    addresses = []
    for item in value:
        entry = canonical_object(emails_attr, item)
        if not isinstance(entry.get("value"), str):
            raise invalid_value("emails: each entry needs a string 'value'")
        if not isinstance(entry.get("primary", False), bool):
            raise invalid_value("emails.primary: expected true or false")
        if not isinstance(entry.get("type", ""), str):
            raise invalid_value("emails.type: expected a string")
        addresses.append(normalize_email(entry["value"]))
    return addresses


def _was_verified(current: Account | None, address: str) -> bool:
    email = current.email(address) if current else None
    return bool(email and email.verified)


def _affiliations(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_value("affiliations: expected a list of strings")
    return tuple(dict.fromkeys(v.strip().lower() for v in value))


def _legacy_id(account: Account, sp: str) -> dict[str, str]:
    entry = {"serviceProvider": sp, "value": account.legacy_ids[sp]}
    qualifiers = account.legacy_qualifiers.get(sp)
    if qualifiers is not None:
        entry["nameQualifier"] = qualifiers.name_qualifier
        if qualifiers.sp_name_qualifier:
            entry["spNameQualifier"] = qualifiers.sp_name_qualifier
    return entry


def _values(entries: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {sp: entry["value"] for sp, entry in entries.items()}


def _per_sp(value: Any, name: str) -> dict[str, dict[str, str]]:
    """A list of ``{serviceProvider, value, …}`` objects by SP entityID, strings stripped.

    Raises ScimProblem (invalidValue).
    """
    if value is None:
        return {}
    if not isinstance(value, list):
        raise invalid_value(f"{name}: expected a list of {{serviceProvider, value}} objects")
    attr = find(EXTENSION_ATTRS, name)
    assert attr is not None
    out: dict[str, dict[str, str]] = {}
    for item in value:
        entry = canonical_object(attr, item)
        needed = {"serviceProvider", "value"} <= set(entry)
        if not needed or not all(isinstance(v, str) for v in entry.values()):
            raise invalid_value(f"{name}: each entry needs string 'serviceProvider' and 'value'")
        sp = entry.pop("serviceProvider").strip()
        if sp in out:
            raise invalid_value(f"{name}: {sp} is listed twice")
        out[sp] = {k: v.strip() for k, v in entry.items()}
    return out


def _status(active: Any, current: Account | None) -> str:
    _boolean(active, "active")
    if active is None:
        return current.status if current else "provisioned"
    if active is False:
        return "disabled"
    if current is None:
        return "provisioned"
    if current.status != "disabled":
        return current.status
    return "active" if current.password_hash else "provisioned"
