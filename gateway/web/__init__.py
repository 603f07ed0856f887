"""The pages people see: sign-in, activation, codes, reset, logout, "Mes informations".

Views are thin: parse the form, call one function of ``signin`` or of the
directory, render. Sessions are server-side (identity.flask_session), CSRF is
on every form (Flask-WTF), Flask-Login knows who is signed in.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect

from ..identity import flask_session
from ..identity.sessions import AUTH
from .users import load_user


def init_app(app: Flask) -> None:
    settings = app.extensions["gateway.settings"]
    flask_session.init_app(app, app.extensions["gateway.sessions"])
    app.config.update(WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=False)
    csrf = CSRFProtect(app)
    app.extensions["gateway.csrf"] = csrf
    for name in ("scim", "health"):
        csrf.exempt(app.blueprints[name])  # a string would name a view function, not a blueprint
    manager = LoginManager(app)
    manager.session_protection = None
    manager.login_view = "login.address"
    manager.login_message = None
    manager.user_loader(load_user)

    from . import account, login, logout, reset

    for module in (login, reset, logout, account):
        app.register_blueprint(module.bp)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.after_request(_security_headers)
    app.context_processor(_template_globals)
    app.config["GATEWAY_HTTPS"] = settings.public_url.startswith("https://")


def _security_headers(response: Response) -> Response:
    """CSP, no framing, no referrer (links carry tokens), HSTS under https, no caching of pages."""
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    )
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.environ.get("wsgi.url_scheme") == "https" or _https():
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response


def _csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """An expired or forged form: say so calmly, offer to start again; nothing is done."""
    from flask import render_template
    from flask_babel import gettext as _

    return render_template(
        "error.html", status=400, title=_("Page expirée"),
        text=_("Cette page a expiré ou ne vient pas de la passerelle UNESS. Rechargez-la et recommencez."),
    ), 400


def _https() -> bool:
    from flask import current_app

    return bool(current_app.config.get("GATEWAY_HTTPS"))


def _template_globals() -> dict[str, Any]:
    from flask import session
    from flask_babel import get_locale

    return {"signed_in": bool(session.get(AUTH)), "lang": str(get_locale() or "fr")}
