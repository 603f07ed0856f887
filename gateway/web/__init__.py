"""The pages people see: sign-in, activation, codes, reset, logout, "Mes informations".

Views are thin: parse the form, call one function of ``signin`` or of the
directory, render. Sessions are server-side (identity.flaskglue.session_interface), CSRF is
on every form (gateway.csrf, installed by ``create_app``), Flask-Login knows
who is signed in.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, session
from flask_login import LoginManager

from ..identity.flaskglue.current import destination_name, page_language
from ..identity.flaskglue.signin import shown_address
from ..identity.logout import on_session_end
from ..identity.sessions import AUTH
from . import account, login, logout, mail_status, reset, site
from ..identity.flaskglue.user import load_user


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
    mail_status.init_app(app)
    app.jinja_env.globals["shown_address"] = shown_address  # the macros' too (imported without context)
    on_session_end(app, login.forget_last_email)


def _template_globals() -> dict[str, Any]:
    lang = page_language()
    signed_in = bool(session.get(AUTH))
    return {"signed_in": signed_in, "lang": lang, "footer": site.footer(lang),
            "signed_in_name": site.signed_in_name() if signed_in else "", "destination": destination_name(lang)}
