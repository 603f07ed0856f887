"""Attributes: the account in the words Renater SPs already understand (F: ATT01-ATT07; E: NID04-NID07).

Names are ``urn:oid:…`` (the URN itself for subject-id and pairwise-id) with
NameFormat ``uri`` and a FriendlyName (ATT01); one AttributeValue per value
(ATT02), ``xs:string``; values over 256 characters are never sent (RSP11).

* eduPersonPrincipalName is, byte for byte, the account's legacy eppn for this SP
  (``legacy_eppns[SP]``, issue 11), else its eppn (NID07), else
  ``<account id>@<gateway scope>``.
  An eppn whose scope is not configured (``saml.scope``, ``saml.extra_scopes``)
  is withheld, with the scoped affiliations (A03, see :mod:`.scopes`).
* eduPersonScopedAffiliation uses the scope of the eppn this SP gets: eduPerson
  (§2.2.6) scopes it by the home organisation, and the home organisation an SP
  knows the person by is the one its eppn names: the former IdP sent
  ``member@univ-a.fr`` with ``jd@univ-a.fr``, and so does the gateway. Every scope
  used is a configured one, published in the metadata (A03).
* eduPersonTargetedID is NameID-valued (NID06) and carries the persistent
  identifier with its qualifiers (the legacy one and the former IdP's
  NameQualifier when the account has them for this SP; see :mod:`.nameids`).
* subject-id is stable for the person, pairwise-id per (person, SP); both are
  derived from stored values (the account id, the persistent identifier), never
  from a secret, so rotating secrets changes nothing (NID04).

What an SP gets (:func:`released_names`) is its release policy
(:func:`policy_attributes`), optionally cut to its md:RequestedAttribute, and its
subject-id:req (NID05). The policy is the SP's ``attributes`` setting when there
is one: an operator's explicit list for one SP is deliberate, and stays the one
place to read what that SP gets; else, for an SP tagged Research and Scholarship,
the R&S bundle (ATT06), cut to its md:RequestedAttribute when it lists any (the
checklist's rule: R&S vouches for what the SP needs, the SP says what it uses);
else the Renater set.

supannListeRouge (ATT07): the names and mail of a person on the liste rouge
(:data:`LISTE_ROUGE_HIDDEN`) are what SupAnn keeps out of directories, so they
reach only SPs with ``liste_rouge = true``; this wins over every policy, R&S
included. supannListeRouge itself goes where an SP's ``attributes`` list it (an
authorised SP should, to hide the person in turn); it is in no default set, as
the default Shibboleth SP attribute-map does not know it.
"""
from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Collection, Iterable, Mapping

from lxml import etree
from ...accounts.models import Account
from ..wire.xml import SAML, escaped_attribute, escaped_text
from .attribute_names import ATTRIBUTES, URI
from .nameids import IssuedNameId, email_address
from .policy import RENATER_ATTRIBUTES, RESEARCH_AND_SCHOLARSHIP_BUNDLE
from .providers import ServiceProvider
from .scopes import eppn_is_assertable

#: What a liste-rouge person's contact data is, in SupAnn's sense: withheld from SPs not authorised.
#: givenName and sn go too: together they are the displayName.
LISTE_ROUGE_HIDDEN = frozenset({"displayName", "cn", "givenName", "sn", "mail"})
MAX_VALUE = 256
Value = str | IssuedNameId


def eppn(account: Account, scope: str, sp_entity_id: str = "") -> str:
    """The SP's legacy eppn, else the account's, exactly; else one scoped by the gateway (never
    reassigned: ids are not).
    """
    return account.eppn_for(sp_entity_id) or f"{account.id}@{scope}"


def scope_of(account: Account, scope: str, sp_entity_id: str = "") -> str:
    return eppn(account, scope, sp_entity_id).rsplit("@", 1)[1]


@functools.lru_cache(maxsize=4096)  # the same person's ids at every SSO; base32 is pure Python (~6 us)
def opaque_id(kind: str, value: str, scope: str) -> str:
    """``unique@scope`` with a lowercase base32 unique part (SubjId §3.3: [A-Za-z0-9=-], <= 127)."""
    digest = hashlib.sha256(f"{kind}|{value}".encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower() + "@" + scope.lower()


def account_values(account: Account, sp: ServiceProvider, scope: str, persistent: IssuedNameId | None,
                   *, scopes: Collection[str], names: Collection[str] | None = None) -> dict[str, tuple[Value, ...]]:
    """Every attribute the gateway can say about the account to this SP (before the release policy).

    ``persistent`` is the SP's persistent NameID (:meth:`.nameids.NameIds.persistent_name_id`;
    None: eduPersonTargetedID and pairwise-id are not said). Without ``liste_rouge`` in its policy,
    an SP is told nothing of :data:`LISTE_ROUGE_HIDDEN` for a person on the liste rouge (ATT07).
    An eppn outside ``scopes`` (the configured ones) is not said, nor the affiliations scoped by it (A03).
    ``names``: only these attributes (None: all; the cut-over check asks for the identifiers only).
    """
    wanted = ATTRIBUTES.keys() if names is None else frozenset(names)
    scoped = eppn_is_assertable(account, scopes, sp.entity_id)
    display = account.display_name or f"{account.given_name} {account.family_name}".strip()
    mail = email_address(account)
    values: dict[str, tuple[Value, ...]] = {
        "eduPersonPrincipalName": (eppn(account, scope, sp.entity_id),) if scoped else (),
        "mail": (mail,) if mail else (),
        "displayName": (display,),
        "givenName": (account.given_name,),
        "sn": (account.family_name,),
        "cn": (display,),
        "eduPersonAffiliation": account.affiliations,
        "eduPersonScopedAffiliation": tuple(f"{a}@{scope_of(account, scope, sp.entity_id)}"
                                            for a in account.affiliations if scoped),
        "eduPersonPrimaryAffiliation": account.affiliations[:1],
        "supannEtablissement": (account.establishment,),
        "supannListeRouge": ("TRUE" if account.liste_rouge else "FALSE",),
        "eduPersonTargetedID": (persistent,) if persistent else (),
        "subject-id": (opaque_id("subject-id", account.id, scope),) if "subject-id" in wanted else (),
        "pairwise-id": (opaque_id("pairwise-id", persistent.value, scope),)
        if persistent and "pairwise-id" in wanted else (),
    }
    hidden = LISTE_ROUGE_HIDDEN if account.liste_rouge and not sp.policy.liste_rouge else frozenset()
    return {name: kept for name, found in values.items()
            if name in wanted and name not in hidden and (kept := _sendable(found))}


def policy_attributes(sp: ServiceProvider) -> tuple[tuple[str, ...], str]:
    """The SP's release policy and where it comes from: "settings", "R&S" or "default" (ATT03, ATT06)."""
    if sp.policy.attributes is not None:
        return sp.policy.attributes, "settings"
    if sp.is_research_and_scholarship:
        bundle = RESEARCH_AND_SCHOLARSHIP_BUNDLE
        return _requested(sp, bundle) if sp.requested_attributes else bundle, "R&S"
    return RENATER_ATTRIBUTES, "default"


def released_names(sp: ServiceProvider) -> list[str]:
    """The attributes this SP gets, in table order (ATT03, ATT06, ATT07, NID05)."""
    names = set(policy_attributes(sp)[0])
    if sp.policy.requested_only:
        names = set(_requested(sp, names))
    wanted = sp.subject_id_req
    if wanted in ("none", "subject-id", "pairwise-id", "any"):
        names -= {"subject-id", "pairwise-id"}
        if wanted != "none":
            names.add("subject-id" if wanted == "subject-id" else "pairwise-id")
    return [n for n in ATTRIBUTES if n in names]


def release(sp: ServiceProvider, values: Mapping[str, tuple[Value, ...]],
            names: Iterable[str] | None = None) -> dict[str, tuple[Value, ...]]:
    """``values`` of the released attributes, in table order; ``names``: :func:`released_names` (or some of
    them, in its order) when the caller has it already."""
    return {name: values[name] for name in (released_names(sp) if names is None else names) if name in values}


def attribute_statement_text(released: Mapping[str, tuple[Value, ...]]) -> str:
    """saml:AttributeStatement as XML text (every value escaped), for an Assertion written as text that
    declares the ``saml``, ``xs`` and ``xsi`` prefixes; "" when nothing is released (RSP04: zero or one)."""
    if not released:
        return ""
    parts = ["<saml:AttributeStatement>"]
    for friendly, values in released.items():
        parts.append(_ATTRIBUTE_OPENINGS[friendly])
        for value in values:
            if isinstance(value, IssuedNameId):
                parts.append(f"<saml:AttributeValue>{name_id_text(value)}</saml:AttributeValue>")
            else:
                parts.append(f'<saml:AttributeValue xsi:type="xs:string">{escaped_text(value)}'
                             "</saml:AttributeValue>")
        parts.append("</saml:Attribute>")
    parts.append("</saml:AttributeStatement>")
    return "".join(parts)


#: Each attribute's opening tag (ATT01: its URI Name, NameFormat uri, FriendlyName).
_ATTRIBUTE_OPENINGS = {
    friendly: f'<saml:Attribute Name="{escaped_attribute(name)}" NameFormat="{escaped_attribute(URI)}" '
              f'FriendlyName="{escaped_attribute(friendly)}">'
    for friendly, name in ATTRIBUTES.items()}


def name_id_text(name_id: IssuedNameId) -> str:
    """A saml:NameID as XML text, as :func:`name_id_element` builds it (the document declares ``saml``)."""
    qualifiers = "".join(f' {attribute}="{escaped_attribute(value)}"' for attribute, value in (
        ("NameQualifier", name_id.name_qualifier), ("SPNameQualifier", name_id.sp_name_qualifier)) if value)
    return (f'<saml:NameID Format="{escaped_attribute(name_id.format)}"{qualifiers}>'
            f"{escaped_text(name_id.value)}</saml:NameID>")


def name_id_element(name_id: IssuedNameId) -> etree._Element:
    element = etree.Element(SAML + "NameID", Format=name_id.format)
    if name_id.name_qualifier:
        element.set("NameQualifier", name_id.name_qualifier)
    if name_id.sp_name_qualifier:
        element.set("SPNameQualifier", name_id.sp_name_qualifier)
    element.text = name_id.value
    return element


def _requested(sp: ServiceProvider, names: Iterable[str]) -> tuple[str, ...]:
    """``names`` the SP's md:RequestedAttribute lists, by Name or FriendlyName."""
    wanted = sp.requested_attributes
    return tuple(n for n in names if n in wanted or ATTRIBUTES[n] in wanted)


def _sendable(values: tuple[Value, ...]) -> tuple[Value, ...]:
    """Non-empty values of at most 256 characters (RSP11)."""
    return tuple(v for v in values if 0 < len(v.value if isinstance(v, IssuedNameId) else v) <= MAX_VALUE)
