"""OpenID Connect provider (authlib): discovery, authorize, token, userinfo, logout, registration.

The ``[oidc]`` settings and their checks are :mod:`gateway.oidc.settings`'s
(run by :func:`gateway.config.load_settings` with every other check).
``init_app`` checks what the values cannot tell (a key set marked dev-only in
production), loads the signing keys and the clients file, builds the
:class:`~gateway.oidc.provider.Provider` with :func:`~gateway.oidc.server.build_provider`
(``app.extensions["gateway.oidc"]``, read with :func:`~gateway.oidc.provider.current_provider`),
registers the views, the logout hook (Back-Channel Logout, its jobs on
:data:`gateway.jobs.LOGOUT`).

Development uses the dev-only keys of config/dev/oidc/keys and the dev-only
clients of config/dev/oidc-clients.toml when nothing else is configured;
production refuses both, and without any signing key the provider is off (its
pages answer 404), as the SAML IdP is without its key.

Module map, each importing only those before it: ``errors``, ``credentials``,
``keys``, ``claims``, ``models``, ``clients`` (and registered clients in Redis),
``tokens`` (Redis), ``provider`` (the facade the parts call), ``grants``, ``discovery``,
``endpoints``, ``registration``, ``authorize``, ``backchannel``, ``views``, and
``server`` (the builder wiring authlib's server around the facade). ``grants``
holds code, refresh, PKCE and the ID token; ``endpoints`` revocation,
introspection, end session, userinfo and private_key_jwt; ``registration`` RFC
7591/7592; ``authorize`` the authorization endpoint and the hand-over to the
sign-in pages; ``backchannel`` the logout tokens.
"""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from .. import csrf, services
from ..config import ConfigError, Settings
from ..identity.logout import on_session_end, on_session_renewed
from .backchannel import session_ended
from .clients import Client, load_clients
from .errors import ClientConfigError, SigningKeyError
from .keys import KeyStore, read_state
from .provider import EXTENSION
from .server import build_provider
from .settings import dev_keys_problem
from .views import bp

log = logging.getLogger("gateway")


def keys_dir(settings: Settings) -> Path | None:
    """The managed key folder: configured, else the dev-only one in development."""
    return settings.oidc.keys_path(settings.is_production)


def clients_file(settings: Settings) -> Path:
    """The clients file; in development, the dev-only one when the configured file does not exist."""
    return settings.oidc.clients_path(settings.is_production)


def key_folder_problems(settings: Settings) -> list[str]:
    """In production, a key folder whose key set is marked dev-only (a copy of the dev keys): what the
    values of [oidc] cannot tell (:meth:`~gateway.oidc.settings.OidcSettings.problems` checks those).
    Raises SigningKeyError for an unreadable key set."""
    folder = keys_dir(settings)
    if not settings.is_production or folder is None or not read_state(folder).get("dev_only"):
        return []
    return [dev_keys_problem(folder)]


def _load(settings: Settings) -> tuple[KeyStore | None, dict[str, Client]]:
    folder = keys_dir(settings)
    try:
        found = key_folder_problems(settings)
        if found:
            raise ConfigError(found)
        keys = None
        if folder is not None or settings.oidc.signing_keys:
            keys = KeyStore(folder, settings.oidc.signing_keys)
        clients = load_clients(clients_file(settings), production=settings.is_production)
    except SigningKeyError as exc:
        raise ConfigError([f"oidc signing keys: {exc}"]) from exc
    except ClientConfigError as exc:
        raise ConfigError([f"oidc.clients_file: {p}" for p in exc.problems]) from exc
    if settings.is_production and not settings.oidc.pairwise_secret \
            and any(c.subject_type == "pairwise" for c in clients.values()):
        raise ConfigError(["oidc.pairwise_secret: required in production for pairwise clients"])
    return keys, clients


def init_app(app: Flask) -> None:
    """Build the provider and register its pages. Raises config.ConfigError listing every problem."""
    settings = services.settings(app)
    keys, clients = _load(settings)
    if keys is None:
        log.warning("oidc: no signing key configured (oidc.keys_dir, oidc.signing_keys): the provider is off")
        return
    provider = app.extensions[EXTENSION] = build_provider(settings, services.store(app), clients, keys)
    on_session_end(app, session_ended)
    on_session_renewed(app, provider.tokens.move_session)
    app.register_blueprint(bp)
    csrf.exempt(app, bp)  # cross-site POSTs by design; the logout confirmation checks its own token
