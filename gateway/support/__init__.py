"""Support tools: each account's activity history, and what the help desk needs to unblock a person.

* :mod:`.activity` — the history fed by the audit trail (:func:`gateway.logs.on_audit`), each mail's fate;
* :mod:`.diagnosis` — why a person can or cannot sign in, as a value;
* :mod:`.actions` — a one-time code read out by phone, lifting delays and limits (audited);
* :mod:`.words` — the diagnosis and the history in French or English (the pages' catalogue);
* :mod:`.views` — the JSON API under ``/support/v1`` for cockpit (bearer token, ``support`` scope).

The command line (``gateway support …``) is :mod:`gateway.cli.support`.
"""
from __future__ import annotations

from flask import Flask

from .. import csrf, logs
from . import activity


def init_app(app: Flask) -> None:
    from .views import bp

    logs.on_audit(app, activity.record)
    app.register_blueprint(bp)
    csrf.exempt(app, bp)  # a service authenticated by its bearer token, not a browser: no CSRF token
