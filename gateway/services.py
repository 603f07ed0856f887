"""Per-app services kept in ``app.extensions`` and their accessors.

Nothing here connects at import time; ``init_app`` builds the objects and
Redis is contacted on first use. This module owns the ``gateway.*`` keys of the
shared core objects: packages call its accessors (the current app's object, or
``app``'s while it is being built), never ``app.extensions[...]`` by name.
"""
from __future__ import annotations

from typing import cast

from flask import Flask, current_app

from .accounts.codes import Codes
from .accounts.directory import Directory
from .accounts.passwords import Passwords
from .config import Settings
from .identity.devices import KnownDevices
from .identity.history import History
from .identity.parties import Parties
from .identity.ratelimits import RateLimits
from .identity.sessions import SessionStore
from .identity.throttle import Throttle
from .store import Store


def init_app(app: Flask, settings: Settings) -> None:
    """Keep the settings, build the store and the core objects over it; nothing is contacted."""
    app.extensions["gateway.settings"] = settings
    store = Store.from_settings(settings.redis)
    app.extensions["gateway.store"] = store
    app.extensions["gateway.directory"] = Directory(store, settings.saml.scopes)
    app.extensions["gateway.passwords"] = Passwords(settings.passwords)
    app.extensions["gateway.sessions"] = SessionStore(store, settings.sessions)
    app.extensions["gateway.codes"] = Codes(store, settings.secret_key)
    app.extensions["gateway.throttle"] = Throttle(store, settings.limits)
    app.extensions["gateway.ratelimits"] = RateLimits(store, settings.limits)
    app.extensions["gateway.parties"] = Parties(store)
    app.extensions["gateway.devices"] = KnownDevices(settings.secret_key)
    app.extensions["gateway.history"] = History(store, settings.support)


def settings(app: Flask | None = None) -> Settings:
    return cast(Settings, _extensions(app)["gateway.settings"])


def store(app: Flask | None = None) -> Store:
    return cast(Store, _extensions(app)["gateway.store"])


def directory(app: Flask | None = None) -> Directory:
    return cast(Directory, _extensions(app)["gateway.directory"])


def passwords(app: Flask | None = None) -> Passwords:
    return cast(Passwords, _extensions(app)["gateway.passwords"])


def sessions(app: Flask | None = None) -> SessionStore:
    return cast(SessionStore, _extensions(app)["gateway.sessions"])


def codes(app: Flask | None = None) -> Codes:
    return cast(Codes, _extensions(app)["gateway.codes"])


def throttle(app: Flask | None = None) -> Throttle:
    return cast(Throttle, _extensions(app)["gateway.throttle"])


def ratelimits(app: Flask | None = None) -> RateLimits:
    return cast(RateLimits, _extensions(app)["gateway.ratelimits"])


def parties(app: Flask | None = None) -> Parties:
    return cast(Parties, _extensions(app)["gateway.parties"])


def devices(app: Flask | None = None) -> KnownDevices:
    return cast(KnownDevices, _extensions(app)["gateway.devices"])


def _extensions(app: Flask | None) -> dict[str, object]:
    return (app if app is not None else current_app).extensions


def history(app: Flask | None = None) -> History:
    return cast(History, _extensions(app)["gateway.history"])
