"""The scopes the IdP asserts and publishes as shibmd:Scope: configuration only (A03 [BRK]).

Shibboleth SP 3 silently drops eppn, scoped affiliations, subject-id and
pairwise-id whose scope is not in the IdP's metadata; and whatever scope the
metadata lists, the SPs believe the IdP speaks for. So the scopes are
``saml.scope`` and ``saml.extra_scopes`` (:attr:`gateway.saml.settings.SamlSettings.scopes`),
never read from the directory: the directory refuses an eppn in another scope
(:class:`gateway.accounts.directory.Directory`), and an eppn written before
that rule is withheld from every Response, with its scoped affiliations, and an
audit line (``saml.sso.eppn_withheld``) naming the account and the scope.
"""
from __future__ import annotations

from collections.abc import Collection

from ...accounts.models import Account, eppn_scope
from ...logs import audit


def eppn_is_assertable(account: Account, scopes: Collection[str], sp_entity_id: str = "") -> bool:
    """The eppn the account has for this SP (its legacy eppn there, else its own), if any, is in a
    configured scope (compared byte for byte).
    """
    eppn = account.eppn_for(sp_entity_id)
    return not eppn or eppn_scope(eppn) in scopes


def note_withheld_eppn(account: Account, sp_entity_id: str, scopes: Collection[str]) -> None:
    """Audit an SSO that withholds the account's eppn (scope not configured) from ``sp_entity_id``."""
    if not eppn_is_assertable(account, scopes, sp_entity_id):
        audit("saml.sso.eppn_withheld", sp=sp_entity_id, account=account.id,
              scope=eppn_scope(account.eppn_for(sp_entity_id)))
