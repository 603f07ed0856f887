"""SCIM 2.0 (RFC 7643/7644) Users API for the authorised provisioning service."""
from __future__ import annotations

from flask import Flask

from .. import csrf


def init_app(app: Flask) -> None:
    from .views import bp

    app.register_blueprint(bp)
    csrf.exempt(app, bp)  # a service authenticated by its bearer token, not a browser: no CSRF token
