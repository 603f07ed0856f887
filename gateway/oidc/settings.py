"""The OpenID Connect provider's settings (the ``[oidc]`` section) and their checks.

The settings of :mod:`gateway.oidc`, owned here; :mod:`gateway.config` composes
them into its ``Settings`` and runs :meth:`OidcSettings.problems` with every
other check, so an operator gets one ConfigError listing every problem. What
the values cannot tell (a key folder whose key set is marked dev-only, the
clients file's contents) is checked when the provider is built
(:func:`gateway.oidc.app.init_app`). This module imports nothing of
:mod:`gateway.oidc` nor :mod:`gateway.config` (an import-linter contract in
``setup.cfg`` holds it): config imports it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..configbase import DEV_CONFIG_DIR, ROOT, secret

#: The dev-only signing keys and clients, used in development when nothing else is configured.
DEV_KEYS = DEV_CONFIG_DIR / "oidc" / "keys"
DEV_CLIENTS = DEV_CONFIG_DIR / "oidc-clients.toml"


@dataclasses.dataclass(frozen=True)
class OidcSettings:
    """The OpenID Connect provider (gateway/oidc). Keys are read by the oidc package."""

    #: Defaults to <public_url>; byte-identical in discovery and every token's iss.
    issuer: str = ""
    #: File of configured clients (TOML). Development falls back to config/dev/oidc-clients.toml.
    clients_file: str = "config/oidc-clients.toml"
    #: Managed signing-key directory (``gateway keys rotate`` writes it). Development defaults to
    #: config/dev/oidc/keys; production refuses that folder.
    keys_dir: str = ""
    #: SECRET. Static PEM private keys (RSA >= 2048 bits, EC P-256), one after another, e.g. from
    #: GATEWAY_OIDC_SIGNING_KEYS_FILE. Always published; they sign only for an algorithm
    #: that has no active key in ``keys_dir``.
    signing_keys: str = secret("")
    #: SECRET. Key of the pairwise subject HMAC (OIDC Core §8.1). Never change it once pairwise
    #: clients exist: every pairwise ``sub`` would change. Required in production for pairwise clients.
    pairwise_secret: str = secret("")
    #: SECRET. Initial access tokens for Dynamic Client Registration (name -> token), RFC 7591 §3.
    #: In production, registration needs one of them; in development it is open.
    initial_access_tokens: dict[str, str] = secret({})
    #: Dynamic Client Registration (RFC 7591/7592) at all.
    registration_enabled: bool = True
    #: Lifetime of a dynamically registered client (and of its secret).
    registered_client_days: int = 180
    #: Lifetimes, in seconds.
    code_seconds: int = 60
    access_token_seconds: int = 600
    id_token_seconds: int = 600
    refresh_token_seconds: int = 43200
    #: An authorization request waits this long for the person to sign in.
    request_seconds: int = 1800
    #: ``gateway keys rotate`` refuses to start signing with a key published for less than this.
    key_publish_seconds: int = 86400
    #: Back-Channel Logout 1.0: HTTP timeout and the delays between delivery attempts.
    backchannel_timeout: float = 5.0
    backchannel_retry_intervals: tuple[int, ...] = (10, 60, 300, 1800)

    def keys_path(self, production: bool) -> Path | None:
        """The managed key folder: configured, else the dev-only one in development."""
        if self.keys_dir:
            return _path(self.keys_dir)
        return None if production else DEV_KEYS

    def clients_path(self, production: bool) -> Path:
        """The clients file; in development, the dev-only one when the configured file does not exist."""
        path = _path(self.clients_file)
        return DEV_CLIENTS if not path.exists() and not production else path

    def problems(self, production: bool) -> list[str]:
        """The [oidc] rules that span keys, one line per problem."""
        found = []
        for name in ("code_seconds", "access_token_seconds", "id_token_seconds", "refresh_token_seconds",
                     "request_seconds", "registered_client_days"):
            if getattr(self, name) <= 0:
                found.append(f"oidc.{name}: must be positive")
        if self.code_seconds > 600:
            found.append("oidc.code_seconds: at most 600 (RFC 6749 §4.1.2)")
        if self.issuer and (self.issuer.endswith("/") or "?" in self.issuer or "#" in self.issuer):
            found.append("oidc.issuer: an URL without trailing slash, query or fragment")
        if production:
            found += self._production_problems()
        return found

    def _production_problems(self) -> list[str]:
        found = []
        if self.issuer and not self.issuer.startswith("https://"):
            found.append("oidc.issuer: must be https in production mode")
        folder = self.keys_path(production=True)
        if folder is not None and folder.resolve().is_relative_to(DEV_CONFIG_DIR):
            found.append(dev_keys_problem(folder))
        if self.clients_path(production=True).resolve().is_relative_to(DEV_CONFIG_DIR):
            found.append("oidc.clients_file: a development file, in production mode")
        return found


def dev_keys_problem(folder: Path) -> str:
    """The line saying ``folder`` holds development keys (by its place, or its key set's mark)."""
    return f"oidc.keys_dir: {folder} holds development keys, refused in production mode"


def _path(value: str) -> Path:
    """A configured path; relative ones are read from the project folder."""
    path = Path(value)
    return path if path.is_absolute() else ROOT / path
