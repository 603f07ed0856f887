"""Per-app services kept in ``app.extensions`` and the accessors views use.

Nothing here connects at import time; ``init_app`` builds the objects and
Redis is contacted on first use.
"""
from __future__ import annotations

from typing import cast

from flask import Flask, current_app

from .accounts.codes import Codes
from .accounts.directory import Directory
from .accounts.passwords import Passwords
from .config import Settings
from .identity.devices import KnownDevices
from .identity.parties import Parties
from .identity.ratelimits import RateLimits
from .identity.sessions import SessionStore
from .identity.throttle import Throttle
from .store import Store


def init_app(app: Flask) -> None:
    settings = cast(Settings, app.extensions["gateway.settings"])
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


def settings() -> Settings:
    return cast(Settings, current_app.extensions["gateway.settings"])


def store() -> Store:
    return cast(Store, current_app.extensions["gateway.store"])


def directory() -> Directory:
    return cast(Directory, current_app.extensions["gateway.directory"])


def passwords() -> Passwords:
    return cast(Passwords, current_app.extensions["gateway.passwords"])


def sessions() -> SessionStore:
    return cast(SessionStore, current_app.extensions["gateway.sessions"])


def codes() -> Codes:
    return cast(Codes, current_app.extensions["gateway.codes"])


def throttle() -> Throttle:
    return cast(Throttle, current_app.extensions["gateway.throttle"])


def ratelimits() -> RateLimits:
    return cast(RateLimits, current_app.extensions["gateway.ratelimits"])


def parties() -> Parties:
    return cast(Parties, current_app.extensions["gateway.parties"])


def devices() -> KnownDevices:
    return cast(KnownDevices, current_app.extensions["gateway.devices"])
