"""Per-SP options: ``[saml.sp."<entityID>"]`` in the configuration, checked at start.

Every key is optional; an SP without a table gets :data:`DEFAULT`, whose
``attributes`` is unset: the SP's entity categories then decide (the R&S
bundle for an R&S SP), else :data:`RENATER_ATTRIBUTES` (see
:func:`.attributes.policy_attributes`)::

    [saml.sp."https://moodle.univ-exemple.fr/shibboleth"]
    attributes = ["eduPersonPrincipalName", "mail", "displayName"]  # release policy (ATT03, ATT06)
    requested_only = false       # true: only what the SP's md:RequestedAttribute lists
    liste_rouge = false          # true: may receive a liste-rouge person's names and mail (ATT07)
    sign_response = true         # CRY01: both signed by default
    sign_assertion = true        # forced on when the SP metadata says WantAssertionsSigned
    encrypt = "auto"             # "auto" (when the metadata has an encryption key), true, false (CRY04)
    encryption_method = "auto"   # "auto" (GCM unless the metadata lists only CBC), aes256-gcm, aes256-cbc…
    name_id_format = "transient" # when neither the request nor the metadata asks (NID03)
    email_name_id = false        # allow emailAddress NameIDs for this SP (NID08: only if it relied on them)
    legacy_name_id = true        # a person's legacy persistent id for this SP is its NameID, even when the
                                 # SP asks for transient/unspecified (issue 11; false: NameIDPolicy strictly)
    form_action = []             # extra CSP form-action sources where the ACS redirects cross-origin
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..wire.crypto import CIPHERS
from .attribute_names import ATTRIBUTES

#: The Renater set, released by default (ATT05 names).
RENATER_ATTRIBUTES = (
    "eduPersonPrincipalName", "mail", "displayName", "givenName", "sn", "cn", "eduPersonAffiliation",
    "eduPersonScopedAffiliation", "eduPersonPrimaryAffiliation", "supannEtablissement",
    "eduPersonTargetedID", "subject-id", "pairwise-id",
)
#: The REFEDS R&S bundle (ATT06; REFEDS R&S §6): eppn is never reassigned here (account ids are
#: not reused), so no eduPersonTargetedID; names as displayName and givenName + sn; mail; the
#: optional eduPersonScopedAffiliation.
RESEARCH_AND_SCHOLARSHIP_BUNDLE = (
    "eduPersonPrincipalName", "mail", "displayName", "givenName", "sn", "eduPersonScopedAffiliation",
)
NAME_ID_CHOICES = ("transient", "persistent", "email")


@dataclasses.dataclass(frozen=True)
class SpPolicy:
    """How the gateway answers one SP."""

    #: None: not configured (entity categories, else the Renater set); a list always wins.
    attributes: tuple[str, ...] | None = None
    requested_only: bool = False
    #: authorised to receive the names and mail of a person on the liste rouge (ATT07)
    liste_rouge: bool = False
    sign_response: bool = True
    sign_assertion: bool = True
    #: None: decided by the SP metadata (an encryption key means encrypt).
    encrypt: bool | None = None
    #: None: GCM, or CBC when the SP metadata lists only CBC methods.
    encryption_method: str | None = None
    name_id_format: str = "transient"
    email_name_id: bool = False
    #: a legacy persistent id for this SP replaces a transient NameID (see saml.sp.nameids.format_for)
    legacy_name_id: bool = True
    form_action: tuple[str, ...] = ()


DEFAULT = SpPolicy()


def parse_policies(raw: Mapping[str, Any]) -> tuple[dict[str, SpPolicy], list[str]]:
    """Policies by entityID, and one problem line per mistake (every mistake, not the first)."""
    policies: dict[str, SpPolicy] = {}
    problems: list[str] = []
    for entity_id, table in raw.items():
        where = f"saml.sp.{entity_id!r}"
        if not isinstance(table, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        values, found = _values(table, where)
        problems.extend(found)
        if not found:
            policies[entity_id] = dataclasses.replace(DEFAULT, **values)
    return policies, problems


def _values(table: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    problems = [f"{where}.{name}: unknown key" for name in sorted(set(table) - _FIELDS)]
    for name, value in table.items():
        if name not in _FIELDS:
            continue
        checked = _CHECKS[name](value)
        if isinstance(checked, _Bad):
            problems.append(f"{where}.{name}: {checked.reason}, not {value!r}")
        else:
            values[name] = checked
    if values.get("sign_response") is False and values.get("sign_assertion") is False:
        problems.append(f"{where}: sign_response and sign_assertion cannot both be false")
    return values, problems


class _Bad:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _bool(value: Any) -> Any:
    return value if isinstance(value, bool) else _Bad("true or false")


def _auto_or_bool(value: Any) -> Any:
    if value == "auto":
        return None
    return value if isinstance(value, bool) else _Bad("auto, true or false")


def _auto_or_cipher(value: Any) -> Any:
    if value == "auto":
        return None
    return value if value in CIPHERS else _Bad("auto or one of " + ", ".join(CIPHERS))


def _names(value: Any) -> Any:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return _Bad("a list of attribute names")
    unknown = [v for v in value if v not in ATTRIBUTES]
    return _Bad(f"unknown attribute(s) {', '.join(unknown)}") if unknown else tuple(value)


def _sources(value: Any) -> Any:
    ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) and v.startswith("https://")
                                                  for v in value)
    return tuple(value) if ok else _Bad("a list of https:// sources")


_CHECKS = {
    "attributes": _names, "requested_only": _bool, "liste_rouge": _bool,
    "sign_response": _bool, "sign_assertion": _bool,
    "encrypt": _auto_or_bool, "encryption_method": _auto_or_cipher,
    "name_id_format": lambda v: v if v in NAME_ID_CHOICES else _Bad("transient, persistent or email"),
    "email_name_id": _bool, "legacy_name_id": _bool, "form_action": _sources,
}
_FIELDS = set(_CHECKS)
