"""Growing delays after wrong passwords, never a lockout.

Failures are counted per (account, client address), per account and per
client address. Past a threshold, each further failure doubles the wait before
the next try is even checked, up to ``throttle_max_delay``. Nothing is locked
for good: the wait ends by itself, a correct password clears the account's
counters, and the emailed sign-in code stays a way in. Whether an account is
being delayed is never told apart from the generic "try again in N minutes".
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..config import LimitSettings
from ..store import Store, key

WINDOW = 3600  # failures are forgotten an hour after the last one


class Throttle:
    def __init__(self, store: Store, settings: LimitSettings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def _keys(self, account_id: str, client: str) -> list[tuple[str, int]]:
        return [
            (key("throttle", "pair", account_id, client), self.settings.throttle_pair),
            (key("throttle", "account", account_id), self.settings.throttle_account),
            (key("throttle", "client", client), self.settings.throttle_client),
        ]

    def wait_seconds(self, account_id: str, client: str) -> int:
        """Seconds before the next password try may be checked (0: go ahead)."""
        return self.check(account_id, client)[0]

    def check(self, account_id: str, client: str) -> tuple[int, bool]:
        """(seconds to wait, whether the account has no failure on record at all)."""
        keys = self._keys(account_id, client)
        pipe = self.store.redis.pipeline(transaction=False)
        for name, _ in keys:
            pipe.hmget(name, "count", "last")
        now = self.clock()
        wait = 0.0
        counts = pipe.execute()
        clean = all(count is None for count, _ in counts[:2])
        for (_, threshold), (count, last) in zip(keys, counts):
            if count is None or int(count) < threshold:
                continue
            delay = min(2 ** (int(count) - threshold), self.settings.throttle_max_delay)
            wait = max(wait, float(last) + delay - now)
        return max(0, math.ceil(wait)), clean

    def failed(self, account_id: str, client: str) -> None:
        now = self.clock()
        pipe = self.store.redis.pipeline()
        for name, _ in self._keys(account_id, client):
            pipe.hincrby(name, "count", 1)
            pipe.hset(name, "last", now)
            pipe.expire(name, WINDOW)
        pipe.execute()

    def succeeded(self, account_id: str, client: str, *, known_clean: bool = False) -> None:
        """The right password: forget this account's failures (not the client's).

        ``known_clean``: wait_seconds just found no failure for the account, so skip the round trip.
        """
        if known_clean:
            return
        keys = self._keys(account_id, client)
        self.store.redis.delete(keys[0][0], keys[1][0])
