"""The scopes the IdP publishes as shibmd:Scope: every one it will ever assert (A03 [BRK]).

Shibboleth SP 3 silently drops eppn, scoped affiliations, subject-id and
pairwise-id whose scope is not in the IdP's metadata. Published: the gateway's
own scope, ``saml.extra_scopes``, and the domain of every legacy eppn in the
directory. The directory is read by iteration (never KEYS), at most every
``saml.scope_cache_seconds``, shared between workers through Redis and kept a
minute in each process; an SSO about to assert a scope not yet published drops
those caches first (:meth:`Scopes.ensure`), so the next metadata fetch lists it.
SPs only learn it when they reload the metadata: new legacy domains belong in
``saml.extra_scopes`` before their accounts are imported.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import cast

from flask import current_app

from ..accounts.directory import Directory
from ..accounts.models import Account
from ..config import SamlSettings
from ..store import Store, key

log = logging.getLogger("gateway.saml")

_LOCAL_SECONDS = 60.0


class Scopes:
    def __init__(self, directory: Directory, store: Store, settings: SamlSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.store = store
        self.settings = settings
        self.clock = clock
        self._cached: tuple[float, tuple[str, ...]] | None = None

    def current(self) -> tuple[str, ...]:
        """Every scope, sorted."""
        now = self.clock()
        if self._cached and now - self._cached[0] < min(_LOCAL_SECONDS, self.settings.scope_cache_seconds):
            return self._cached[1]
        found = self.store.get(("saml", "scopes"))
        if found is None:
            found = sorted(self.from_directory())
            self.store.put(("saml", "scopes"), found, ttl=max(1, self.settings.scope_cache_seconds))
        scopes = tuple(sorted({self.settings.scope, *self.settings.extra_scopes, *found}))
        self._cached = (now, scopes)
        return scopes

    def ensure(self, account: Account) -> None:
        """Before asserting the account's legacy eppn: its scope is published, or the caches go (A03)."""
        if not account.eppn:
            return
        scope = account.eppn.rsplit("@", 1)[1]
        # The last list this process saw, even if stale: domains do not vanish, and the SSO path must
        # not pay for reading the directory (only a fresh worker, or an unknown scope, reads it).
        known = self._cached[1] if self._cached else self.current()
        if scope in known:
            return
        self.store.redis.delete(key("saml", "scopes"))
        self._cached = None
        log.warning("scope %s asserted before the SPs could read it in the metadata: until they reload "
                    "it, Shibboleth SPs drop the scoped attributes (add it to saml.extra_scopes)", scope)

    def from_directory(self) -> set[str]:
        """The domain of every account's legacy eppn."""
        return {account.eppn.rsplit("@", 1)[1] for account in self.directory.iter_accounts() if account.eppn}


def published_scopes() -> Scopes:
    """The application's :class:`Scopes`."""
    return cast(Scopes, current_app.extensions["gateway.saml.scopes"])
