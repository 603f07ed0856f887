"""The pages people see: sign-in, activation, codes, reset, logout, "Mes informations".

Views are thin: parse the form, call one function of ``signin`` or of the
directory, render. Sessions are server-side (identity.flask_session), CSRF is
on every form (gateway.csrf, installed by ``create_app``), Flask-Login knows
who is signed in.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, session
from flask_login import LoginManager

from ..identity.current import destination_name, page_language
from ..identity.sessions import AUTH
from . import account, login, logout, reset
from ..identity.flask_user import load_user


def init_app(app: Flask) -> None:
    """Flask-Login over the server-side session, and the sign-in, reset, logout and account pages."""
    manager = LoginManager(app)
    manager.session_protection = None
    manager.login_view = "login.address"
    manager.login_message = None
    manager.user_loader(load_user)
    for module in (login, reset, logout, account):
        app.register_blueprint(module.bp)
    app.context_processor(_template_globals)


def _template_globals() -> dict[str, Any]:
    lang = page_language()
    return {"signed_in": bool(session.get(AUTH)), "lang": lang, "destination": destination_name(lang)}
