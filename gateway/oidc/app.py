"""Installing the OpenID Connect provider into the app: :func:`init_app`, called by ``gateway.create_app``.

Loads the signing keys and the clients file (refusing what the ``[oidc]`` values
cannot tell: a key set marked dev-only in production), builds the provider
(:func:`.server.build_provider`), registers the pages and the logout hooks.
"""
from __future__ import annotations

import logging
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


def key_folder_problems(settings: Settings) -> list[str]:
    """In production, a key folder whose key set is marked dev-only (a copy of the dev keys): what the
    values of [oidc] cannot tell (:meth:`~gateway.oidc.settings.OidcSettings.problems` checks those).
    Raises SigningKeyError for an unreadable key set."""
    folder = settings.oidc.keys_path(settings.is_production)
    if not settings.is_production or folder is None or not read_state(folder).get("dev_only"):
        return []
    return [dev_keys_problem(folder)]


def _load(settings: Settings) -> tuple[KeyStore | None, dict[str, Client]]:
    folder = settings.oidc.keys_path(settings.is_production)
    try:
        found = key_folder_problems(settings)
        if found:
            raise ConfigError(found)
        keys = None
        if folder is not None or settings.oidc.signing_keys:
            keys = KeyStore(folder, settings.oidc.signing_keys)
        clients = load_clients(settings.oidc.clients_path(settings.is_production), production=settings.is_production)
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
