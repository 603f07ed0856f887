"""``GET /healthz``: is this instance able to serve (Redis reachable)?"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from . import csrf, services
from .errors import log_unavailable
from .identity.flaskglue.session_interface import session_unused

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@session_unused
def healthz() -> tuple[Response, int]:
    """200 ``{"status": "ok", "redis": "ok"}``; 503 with ``"redis": "unreachable"``, cookie or not."""
    if services.store().is_reachable():
        return jsonify(status="ok", redis="ok"), 200
    log_unavailable("unreachable")
    return jsonify(status="unavailable", redis="unreachable"), 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf.exempt(app, bp)  # probes post nothing; any other method is answered 405, not a CSRF page
