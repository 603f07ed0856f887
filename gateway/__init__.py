"""uness-gateway: email + password sign-in, handed to UNESS applications over SAML 2.0 and OIDC."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the WSGI app. Raises config.ConfigError listing every configuration problem.

    ``config`` is a nested mapping shaped like the TOML file; it wins over the
    file and the environment (the tests use it).
    """
    from . import errors, health, i18n, jobs, logs, mail, metrics, oidc, saml, scim, services, web
    from .config import load_settings

    settings = load_settings(environ, overrides=config)
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "templates" / "static"))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PREFERRED_URL_SCHEME="https" if settings.public_url.startswith("https") else "http",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.extensions["gateway.settings"] = settings
    logs.init_app(app)
    metrics.init_app(app)
    services.init_app(app)
    jobs.init_app(app)  # before the packages that queue jobs (mail, saml, oidc)
    mail.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    scim.init_app(app)
    web.init_app(app)
    saml.init_app(app)
    oidc.init_app(app)
    return app
