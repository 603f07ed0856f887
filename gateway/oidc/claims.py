"""Claims: who the person is, in the words of each relying party (OIDC Core §5, checklist M).

Values come from the account; a client receives the claims of the scopes it
both asked for and may have (its ``scopes`` in the clients file), plus those
it names in the ``claims`` request parameter (OIDC Core §5.5) within the same
policy. In the code flow the scope claims are served by UserInfo, not put in
the ID token (OIDC Core §5.4, checklist OIDC09).

``sub`` (OIDC Core §8, checklist OIDC10) is the account id for ``public``
clients: ids are never reused, so a ``sub`` is never reassigned. For
``pairwise`` clients it is ``base64url(HMAC-SHA256(pairwise key, sector "|"
account id))``: stable (no storage needed), the same for every client of one
sector, unlinkable across sectors. The pairwise key (``oidc.pairwise_secret``)
must therefore never change.

R&E claims use the REFEDS/GÉANT lower-snake-case names (CLM02): scope
``eduperson`` gives ``eduperson_principal_name``, ``eduperson_affiliation``
and ``eduperson_scoped_affiliation`` (arrays, CLM04); scope ``supann`` gives
``supann_etablissement`` (an array, as the SupAnn attribute is multi-valued;
CLM03) and ``supann_liste_rouge`` (a JSON boolean, CLM04). A client configured
with ``legacy_id_source`` also gets the identifier that SP already stores, as
``legacy_id_claim``.

For a person on the liste rouge (supannListeRouge, ATT07) the name and email
claims (:data:`LISTE_ROUGE_HIDDEN`, as on the SAML side) go only to clients
configured with ``liste_rouge = true``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from authlib.oauth2.rfc6749 import scope_to_list

if TYPE_CHECKING:
    from ..accounts.models import Account


class Client(Protocol):
    """What releasing claims reads of a client (:class:`gateway.oidc.clients.Client` has it all);
    a protocol, so that ``clients``, which imports this module's scopes, is not imported back."""

    @property
    def scopes(self) -> tuple[str, ...]: ...
    @property
    def subject_type(self) -> str: ...
    @property
    def sector(self) -> str: ...
    @property
    def liste_rouge(self) -> bool: ...
    @property
    def legacy_id_source(self) -> str: ...
    @property
    def legacy_id_claim(self) -> str: ...

#: Scope -> the claims it releases (OIDC Core §5.4; REFEDS names for R&E claims).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name"),
    "email": ("email", "email_verified"),
    "eduperson": ("eduperson_principal_name", "eduperson_affiliation", "eduperson_scoped_affiliation"),
    "supann": ("supann_etablissement", "supann_liste_rouge"),
}
#: The claims of a liste-rouge person's names and mail, withheld from clients not authorised (ATT07).
LISTE_ROUGE_HIDDEN = frozenset({"name", "given_name", "family_name", "email", "email_verified"})
SUPPORTED_SCOPES = tuple(SCOPE_CLAIMS)
#: What discovery lists as claims_supported (OIDC Discovery §3).
CLAIMS_SUPPORTED = ("iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "at_hash",
                    *(c for claims in SCOPE_CLAIMS.values() for c in claims))
#: Authentication methods recorded in the session -> RFC 8176 amr values.
AMR = {"pwd": ("pwd",), "otp": ("otp",), "activation": ("otp", "pwd"), "reset": ("otp", "pwd")}


def subject(account_id: str, client: Client, pairwise_key: bytes) -> str:
    """The ``sub`` this client knows the account by (OIDC Core §8.1)."""
    if client.subject_type != "pairwise":
        return account_id
    digest = hmac.new(pairwise_key, f"{client.sector}|{account_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def amr(methods: Iterable[str]) -> list[str]:
    """RFC 8176 method references for the session's methods, without repeats."""
    return list(dict.fromkeys(v for m in methods for v in AMR.get(m, ())))


def _email(account: Account) -> tuple[str, bool]:
    """The primary address if verified, else the first verified one, else the unverified primary."""
    if account.emails[0].verified:
        return account.emails[0].address, True
    verified = account.verified_addresses
    return (verified[0], True) if verified else (account.primary_email, False)


def account_claims(account: Account, legacy_source: str = "") -> dict[str, Any]:
    """Every claim value the account has, before any release decision (CLM01-CLM04).

    ``legacy_source``: the SP entityID whose identifiers the client takes over (its
    ``legacy_id_source``): the account's legacy eppn there, if any, replaces its eppn, and scopes
    the affiliations, as over SAML for that SP (issue 11).
    """
    email, verified = _email(account)
    eppn = account.eppn_for(legacy_source)
    scope = eppn.rpartition("@")[2] if eppn else ""
    return {
        "name": account.display_name or f"{account.given_name} {account.family_name}".strip(),
        "given_name": account.given_name,
        "family_name": account.family_name,
        "email": email,
        "email_verified": verified,
        "eduperson_principal_name": eppn,
        "eduperson_affiliation": list(account.affiliations),
        "eduperson_scoped_affiliation": [f"{a}@{scope}" for a in account.affiliations] if scope else [],
        "supann_etablissement": [account.establishment] if account.establishment else [],
        "supann_liste_rouge": account.liste_rouge,
    }


def releasable(client: Client, scope: str, requested: Iterable[str] = ()) -> list[str]:
    """Claim names for these granted scopes, plus requested names the client's policy allows."""
    names = [c for s in scope_to_list(scope) or [] for c in SCOPE_CLAIMS.get(s, ())]
    allowed = {c for s in client.scopes for c in SCOPE_CLAIMS.get(s, ())}
    names += [c for c in requested if c in allowed]
    return list(dict.fromkeys(names))


def release(account: Account, client: Client, names: Iterable[str], sub: str) -> dict[str, Any]:
    """``sub`` and the named claims that have a value; the client's legacy identifier if configured.

    Nothing of :data:`LISTE_ROUGE_HIDDEN` for a liste-rouge person, unless the client is authorised.
    """
    values = account_claims(account, client.legacy_id_source)
    claims: dict[str, Any] = {"sub": sub}
    hidden = LISTE_ROUGE_HIDDEN if account.liste_rouge and not client.liste_rouge else frozenset()
    for name in (n for n in names if n not in hidden):
        value = values.get(name)
        if value not in (None, "", []):
            claims[name] = value
    if client.legacy_id_source and (legacy := account.legacy_ids.get(client.legacy_id_source)):
        claims[client.legacy_id_claim] = legacy
    return claims


def parse_claims_request(raw: str | None) -> dict[str, list[str]]:
    """The claim names of the ``claims`` parameter (OIDC Core §5.5), by target. Raises ValueError."""
    if not raw:
        return {"userinfo": [], "id_token": []}
    data = json.loads(raw)
    if not isinstance(data, Mapping):
        raise ValueError("claims must be a JSON object")
    found: dict[str, list[str]] = {}
    for target in ("userinfo", "id_token"):
        part = data.get(target) or {}
        if not isinstance(part, Mapping):
            raise ValueError(f"claims.{target} must be a JSON object")
        found[target] = [str(name) for name in part]
    return found
