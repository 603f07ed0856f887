"""Per-app services kept in ``app.extensions`` and the accessors views use.

Nothing here connects at import time; ``init_app`` builds the objects and
Redis is contacted on first use.
"""
from __future__ import annotations

from typing import cast

from flask import Flask, current_app

from .accounts.directory import Directory
from .accounts.passwords import Passwords
from .config import Settings
from .store import Store


def init_app(app: Flask) -> None:
    settings = cast(Settings, app.extensions["gateway.settings"])
    store = Store.from_settings(settings.redis)
    app.extensions["gateway.store"] = store
    app.extensions["gateway.directory"] = Directory(store)
    app.extensions["gateway.passwords"] = Passwords(settings.passwords)


def settings() -> Settings:
    return cast(Settings, current_app.extensions["gateway.settings"])


def store() -> Store:
    return cast(Store, current_app.extensions["gateway.store"])


def directory() -> Directory:
    return cast(Directory, current_app.extensions["gateway.directory"])


def passwords() -> Passwords:
    return cast(Passwords, current_app.extensions["gateway.passwords"])
