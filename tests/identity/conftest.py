"""Fixtures for the identity core: a real Redis, a clock the test moves by hand."""
from __future__ import annotations

import time

import pytest

from gateway.config import LimitSettings, RedisSettings, SessionSettings
from gateway.identity.sessions import SessionStore
from gateway.identity.throttle import Throttle
from gateway.store import Store


class Clock:
    """A clock that only moves when told (seconds since the epoch)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(start if start is not None else time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(redis_server, redis_client):
    store = Store.from_settings(RedisSettings(url=redis_server.url))
    yield store
    store.close()


@pytest.fixture
def settings() -> SessionSettings:
    return SessionSettings()


@pytest.fixture
def sessions(store, settings, clock) -> SessionStore:
    return SessionStore(store, settings, clock=clock)


@pytest.fixture
def throttle(store, clock) -> Throttle:
    return Throttle(store, LimitSettings(throttle_pair=3, throttle_account=5, throttle_client=8,
                                         throttle_max_delay=900), clock=clock)
