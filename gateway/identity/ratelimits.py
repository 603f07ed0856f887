"""Rate limits counted in Redis, with the ``limits`` library (the core of Flask-Limiter).

Used programmatically rather than as route decorators, because a sign-in page
answers a refused step on the same form ("Trop de tentatives, réessayez dans
N minutes") and limits some steps per typed address, not only per client.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from limits import parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from ..config import LimitSettings
from ..store import Store, key


class RateLimits:
    def __init__(self, store: Store, settings: LimitSettings) -> None:
        self.settings = settings
        storage = RedisStorage("redis://", connection_pool=store.redis.connection_pool, key_prefix=key("limit"))
        self.limiter = FixedWindowRateLimiter(storage)

    def hit(self, rule: str, *identifiers: str) -> int:
        """Count one use under ``rule`` (a LimitSettings field name) for ``identifiers``.

        Returns 0 when allowed, else the seconds until the window resets.
        """
        return self._check(self.limiter.hit, rule, identifiers)

    def exceeded(self, rule: str, *identifiers: str) -> int:
        """Like :meth:`hit`, without counting a use: 0 when one more is allowed, else the seconds to wait.

        For rules that count failures only (SCIM bearer tokens), checked before the attempt.
        """
        return self._check(self.limiter.test, rule, identifiers)

    def _check(self, probe: Callable[..., bool], rule: str, identifiers: tuple[str, ...]) -> int:
        if not self.settings.enabled:
            return 0
        # hashed: typed addresses are not kept in Redis key names
        identifiers = tuple(hashlib.sha256(i.encode()).hexdigest()[:24] for i in identifiers)
        for item in parse_many(getattr(self.settings, rule)):
            if not probe(item, rule, *identifiers):
                reset = self.limiter.get_window_stats(item, rule, *identifiers).reset_time
                return max(1, int(reset - time.time()))
        return 0
