"""uness-gateway: email + password sign-in, handed to UNESS applications over SAML 2.0 and OIDC."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .configbase import ROOT

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["ROOT", "create_app"]


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the WSGI app. Raises config.ConfigError listing every configuration problem.

    ``config`` is a nested mapping shaped like the TOML file; it wins over the
    file and the environment (the tests use it).
    """
    from flask import Flask

    from . import csrf, errors, headers, health, i18n, jobs, logs, mail, metrics, scim, services, support, web
    from .config import load_settings
    from .identity.flaskglue import session_interface
    from .oidc import app as oidc
    from .saml import app as saml

    settings = load_settings(environ, overrides=config)
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "templates" / "static"))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PREFERRED_URL_SCHEME="https" if settings.public_url.startswith("https") else "http",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    # The app-wide pieces, each before what relies on it:
    logs.init_app(app)  # logging and the security logger: first, so everything after can log
    metrics.init_app(app)  # every request timed (a WSGI wrapper around Flask's); counters fed by logs.audit
    services.init_app(app, settings)  # the settings, the store and the core objects over it (nothing contacted)
    jobs.init_app(app)  # the job queue: before the packages that queue jobs (mail, saml, oidc)
    session_interface.init_app(app, services.sessions(app))  # flask.session in Redis, the cookie an opaque id
    csrf.init_app(app)  # every form checked; the packages below exempt their own cross-site views
    i18n.init_app(app)  # French first, English second
    headers.init_app(app)  # security headers on every response (a WSGI wrapper around the timed app)
    errors.init_app(app)  # friendly pages for people, JSON for /oidc and /scim
    # Then each package: its settings checks, its objects, its blueprints.
    mail.init_app(app)
    health.init_app(app)
    scim.init_app(app)
    support.init_app(app)  # each account's activity history (fed by logs.audit), the support API
    web.init_app(app)
    saml.init_app(app)
    oidc.init_app(app)
    return app
