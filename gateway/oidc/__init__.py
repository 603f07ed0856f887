"""OpenID Connect provider (authlib): discovery, authorize, token, userinfo, logout, registration.

``init_app`` checks the ``[oidc]`` settings, loads the signing keys and the
clients file, builds the :class:`~gateway.oidc.provider.Provider` with
:func:`~gateway.oidc.server.build_provider` (``app.extensions["gateway.oidc"]``,
read with :func:`~gateway.oidc.provider.current_provider`), registers the views,
the logout hook (Back-Channel Logout, its jobs on :data:`gateway.jobs.LOGOUT`).

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
from ..config import DEV_CONFIG_DIR, ROOT, ConfigError, Settings
from ..identity.logout import on_session_end, on_session_renewed
from .backchannel import session_ended
from .clients import Client, load_clients
from .errors import ClientConfigError, SigningKeyError
from .keys import KeyStore, read_state
from .provider import EXTENSION
from .server import build_provider
from .views import bp

DEV_KEYS = DEV_CONFIG_DIR / "oidc" / "keys"
DEV_CLIENTS = DEV_CONFIG_DIR / "oidc-clients.toml"
log = logging.getLogger("gateway")


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def keys_dir(settings: Settings) -> Path | None:
    """The managed key folder: configured, else the dev-only one in development."""
    if settings.oidc.keys_dir:
        return _path(settings.oidc.keys_dir)
    return None if settings.is_production else DEV_KEYS


def clients_file(settings: Settings) -> Path:
    """The clients file; in development, the dev-only one when the configured file does not exist."""
    path = _path(settings.oidc.clients_file)
    return DEV_CLIENTS if not path.exists() and not settings.is_production else path


def problems(settings: Settings) -> list[str]:
    """The [oidc] rules that span keys, one line per problem."""
    oidc, found = settings.oidc, []
    for name in ("code_seconds", "access_token_seconds", "id_token_seconds", "refresh_token_seconds",
                 "request_seconds", "registered_client_days"):
        if getattr(oidc, name) <= 0:
            found.append(f"oidc.{name}: must be positive")
    if oidc.code_seconds > 600:
        found.append("oidc.code_seconds: at most 600 (RFC 6749 §4.1.2)")
    if oidc.issuer and (oidc.issuer.endswith("/") or "?" in oidc.issuer or "#" in oidc.issuer):
        found.append("oidc.issuer: an URL without trailing slash, query or fragment")
    if settings.is_production:
        found += _production_problems(settings)
    return found


def _production_problems(settings: Settings) -> list[str]:
    found = []
    if settings.oidc.issuer and not settings.oidc.issuer.startswith("https://"):
        found.append("oidc.issuer: must be https in production mode")
    folder = keys_dir(settings)
    dev_keys = folder is not None and (folder.resolve().is_relative_to(DEV_CONFIG_DIR)
                                       or bool(read_state(folder).get("dev_only")))
    if dev_keys:
        found.append(f"oidc.keys_dir: {folder} holds development keys, refused in production mode")
    if clients_file(settings).resolve().is_relative_to(DEV_CONFIG_DIR):
        found.append("oidc.clients_file: a development file, in production mode")
    return found


def _load(settings: Settings) -> tuple[KeyStore | None, dict[str, Client]]:
    found = problems(settings)
    if found:
        raise ConfigError(found)
    folder = keys_dir(settings)
    try:
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
