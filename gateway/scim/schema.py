"""The User schema and its gateway extension, as data (RFC 7643 §2, §4.1, §7).

One table describes every attribute the gateway supports. The parsers use it
for case-insensitive names (RFC 7643 §2.1) and mutability (§2.2), and
:mod:`.discovery` publishes it at ``/Schemas``, so what is advertised is what
is implemented.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..accounts.models import AFFILIATIONS, STATUSES
from .problems import invalid_syntax, invalid_value

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
EXTENSION = "urn:uness:params:scim:schemas:extension:gateway:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
MEDIA_TYPE = "application/scim+json"


@dataclasses.dataclass(frozen=True)
class Attr:
    """One attribute definition (RFC 7643 §7 "attributes")."""

    name: str
    type: str = "string"
    multi: bool = False
    required: bool = False
    mutability: str = "readWrite"
    case_exact: bool = False
    uniqueness: str = "none"
    description: str = ""
    sub: tuple[Attr, ...] = ()
    canonical: tuple[str, ...] = ()
    #: for multi-valued complex attributes: the sub-attribute identifying a value
    key: str = ""

    @property
    def read_only(self) -> bool:
        return self.mutability == "readOnly"

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    def child(self, name: str) -> Attr | None:
        """A sub-attribute by case-insensitive name."""
        return find(self.sub, name)


CORE_ATTRS: tuple[Attr, ...] = (
    Attr("userName", required=True, uniqueness="server",
         description="The primary address of the account; always one of 'emails'."),
    Attr("name", "complex", description="The person's name.", sub=(
        Attr("givenName", description="Given name (first name)."),
        Attr("familyName", description="Family name (last name)."),
    )),
    Attr("displayName", description="The name shown to people."),
    Attr("emails", "complex", multi=True, key="value", uniqueness="server",
         description="Sign-in addresses. The primary one equals userName.", sub=(
             Attr("value", required=True, description="The address, normalised (lower-case, IDNA domain)."),
             Attr("type", canonical=("work",),
                  description="Always 'work' when returned; other values are accepted and not kept."),
             Attr("primary", "boolean", description="True for the one address equal to userName."),
         )),
    Attr("active", "boolean",
         description="False when the account is disabled; true re-enables it."),
)

EXTENSION_ATTRS: tuple[Attr, ...] = (
    Attr("affiliations", multi=True, canonical=AFFILIATIONS,
         description="eduPersonAffiliation values (eduPerson 202208 §2.2.1)."),
    Attr("establishment", case_exact=True,
         description="supannEtablissement code, such as {UAI}0751717J."),
    Attr("eppn", description="eduPersonPrincipalName, user@scope."),
    Attr("legacyIds", "complex", multi=True, key="serviceProvider", case_exact=True, uniqueness="server",
         description="The persistent identifier each service provider already stores for this person "
                     "(unique per service provider).", sub=(
             Attr("serviceProvider", required=True, case_exact=True, description="The SP entityID."),
             Attr("value", required=True, case_exact=True, description="That SP's identifier."),
             Attr("nameQualifier", case_exact=True,
                  description="The former IdP's entityID, when the SP stores the identifier with it "
                              "(Shibboleth persistent-id); the gateway then sends it as NameQualifier."),
             Attr("spNameQualifier", case_exact=True,
                  description="The SPNameQualifier the former IdP sent, if not the SP's entityID."),
         )),
    Attr("legacyEppns", "complex", multi=True, key="serviceProvider", case_exact=True, uniqueness="server",
         description="The eppn each service provider already knows this person by; for that SP it "
                     "replaces eppn (unique per service provider, in a configured scope).", sub=(
             Attr("serviceProvider", required=True, case_exact=True, description="The SP entityID."),
             Attr("value", required=True, description="That SP's eppn, user@scope."),
         )),
    Attr("listeRouge", "boolean",
         description="supannListeRouge: the person's names and mail go only to applications authorised "
                     "for it. Returned only when true; left out of a PUT: false."),
    Attr("status", mutability="readOnly", canonical=STATUSES,
         description="provisioned (no password yet), active, or disabled."),
    Attr("verifiedEmails", multi=True, mutability="readOnly",
         description="Addresses the person proved to control through the gateway."),
)

#: Common attributes (RFC 7643 §3.1) the client can never set.
READ_ONLY_COMMON = ("id", "meta", "schemas")


def find(attrs: tuple[Attr, ...], name: str) -> Attr | None:
    """An attribute by case-insensitive name (RFC 7643 §2.1)."""
    folded = name.casefold()
    return next((a for a in attrs if a.name.casefold() == folded), None)


def same_urn(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def canonical_object(attr: Attr, value: Any, *, keep_null: bool = False) -> dict[str, Any]:
    """A complex value with canonical sub-attribute names; null members dropped unless ``keep_null``.

    Raises ScimProblem (invalidValue: not an object; invalidSyntax: unknown sub-attribute).
    """
    if not isinstance(value, Mapping):
        raise invalid_value(f"{attr.name}: expected an object")
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = attr.child(str(key))
        if sub is None:
            raise invalid_syntax(f"{attr.name}.{key}: unknown attribute (see /Schemas)")
        if item is not None or keep_null:
            out[sub.name] = item
    return out


def check_schemas(value: Any, required: str) -> None:
    """``schemas`` must be a list of URIs naming ``required`` (RFC 7643 §3; RFC 7644 §3.5.2)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_syntax(f"schemas: expected a list holding {required}")
    if not any(same_urn(v, required) for v in value):
        raise invalid_syntax(f"schemas: must include {required}")
