"""CSRF protection of every form (Flask-WTF), app-wide; each package exempts its own cross-site views.

``init_app`` installs one :class:`~flask_wtf.csrf.CSRFProtect` per app (kept in
``app.extensions["gateway.csrf"]``, which only this module reads) and the page
shown when a form's token is missing, expired or forged. A package whose views
receive cross-site requests by design (SAML bindings, OIDC endpoints, SCIM,
``/healthz``) calls :func:`exempt` for them in its own ``init_app``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import cast

from flask import Blueprint, Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

EXTENSION = "gateway.csrf"


def init_app(app: Flask) -> None:
    """Require a CSRF token on every POST, PUT, PATCH and DELETE of ``app`` except exempted views."""
    app.config.update(WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=False)
    app.extensions[EXTENSION] = CSRFProtect(app)
    app.register_error_handler(CSRFError, _csrf_failed)


def exempt(app: Flask, view: Blueprint | Callable[..., object]) -> None:
    """Let ``view`` (a blueprint or a view function) of ``app`` take requests without a CSRF token.

    Raises KeyError when :func:`init_app` has not run for ``app``.
    """
    cast(CSRFProtect, app.extensions[EXTENSION]).exempt(view)


def _csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """An expired or forged form: say so calmly, offer to start again; nothing is done."""
    return render_template(
        "error.html", status=400, title=_("Page expirée"),
        text=_("Cette page a expiré ou ne vient pas de la passerelle UNESS. Rechargez-la et recommencez."),
    ), 400
