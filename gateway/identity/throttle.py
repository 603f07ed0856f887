"""Growing delays after wrong passwords, never a lockout.

Failures are counted per (account, client), per account, per client, and per
(account, known device). Past a threshold, each further failure doubles the
wait before the next try is even checked, up to ``throttle_max_delay``.

A browser that signed in to the account before (a valid known-device cookie,
:mod:`gateway.identity.devices`) is judged by its own (device, account) counter
only: failures made by others, from anywhere, cannot delay it (OWASP, "Slow Down
Online Guessing Attacks with Device Cookies"). Every other browser is judged by
the (account, client), account and client counters, so a distributed guessing
attack is still slowed. Clients are keyed as in :func:`.ratelimits.client_key`
(an IPv6 /64), and a client of ``limits.trusted_networks`` has its own threshold.

Nothing is locked for good: the wait ends by itself, a correct password clears
the account's counters, and the emailed sign-in code stays a way in. Whether an
account is being delayed is never told apart from the generic "try again in N minutes".
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

from redis.client import Pipeline

from ..config import LimitSettings
from ..store import Store, key
from .ratelimits import Clients, client_key

WINDOW = 3600  # failures are forgotten an hour after the last one


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Seconds to wait (0: go ahead), the counter that imposes it, and whether the account is clean."""

    wait: int
    rule: str
    clean: bool


@dataclasses.dataclass(frozen=True)
class Delay:
    """A delay in force on an account's password tries: ``rule``, for ``whom`` (a client key, a known
    device's id, or "" for every browser without a known-device cookie), ``until``: when it ends
    (Unix time)."""

    rule: str
    whom: str
    until: int


@dataclasses.dataclass(frozen=True)
class _Counter:
    name: str
    threshold: int
    rule: str


class Throttle:
    def __init__(self, store: Store, settings: LimitSettings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clients = Clients(settings)
        self.clock = clock

    def _counters(self, account_id: str, client: str, device: str | None) -> list[_Counter]:
        """The counters: the known device's first when there is one (it alone judges), then the others."""
        keyed, limits = client_key(client), self.settings
        per_client = int(str(self.clients.setting("throttle_client", client)))
        others = [
            _Counter(key("throttle", "pair", account_id, keyed), limits.throttle_pair, "throttle_pair"),
            _Counter(key("throttle", "account", account_id), limits.throttle_account, "throttle_account"),
            _Counter(key("throttle", "client", keyed), per_client, "throttle_client"),
        ]
        if device is None:
            return others
        return [_Counter(key("throttle", "device", device, account_id), self.settings.throttle_pair,
                         "throttle_device"), *others]

    def wait_seconds(self, account_id: str, client: str, device: str | None = None) -> int:
        """Seconds before the next password try may be checked (0: go ahead)."""
        return self.check(account_id, client, device).wait

    def check(self, account_id: str, client: str, device: str | None = None) -> Verdict:
        """Whether this browser may try a password now. ``device``: its known-device id for this account."""
        pipe = self.store.redis.pipeline(transaction=False)
        judge = self.queue_check(pipe, account_id, client, device)
        return judge(pipe.execute())

    def queue_check(self, pipe: Pipeline, account_id: str, client: str,
                    device: str | None = None) -> Callable[[list[Any]], Verdict]:
        """:meth:`check`'s reads queued on ``pipe`` (so that a caller reads them with its own, in one
        round trip); returns what turns their replies, the last ones of ``pipe``, into the verdict."""
        counters = self._counters(account_id, client, device)
        for counter in counters:
            pipe.hmget(counter.name, "count", "last")
        return lambda replies: self._judge(counters, replies[-len(counters):], device is not None)

    def _judge(self, counters: list[_Counter], replies: list[Any], known_device: bool) -> Verdict:
        values = dict(zip((c.rule for c in counters), replies))
        own = ("throttle_pair", "throttle_account", "throttle_device")
        clean = all(values[rule][0] is None for rule in own if rule in values)
        judging = counters[:1] if known_device else counters
        now = self.clock()
        wait, rule = 0.0, ""
        for counter in judging:
            count, last = values[counter.rule]
            if count is None or int(count) < counter.threshold:
                continue
            delay = min(2 ** (int(count) - counter.threshold), self.settings.throttle_max_delay)
            if float(last) + delay - now > wait:
                wait, rule = float(last) + delay - now, counter.rule
        return Verdict(max(0, math.ceil(wait)), rule, clean)

    def _account_counters(self, account_id: str) -> list[tuple[str, str, str]]:
        """Every counter of the account, whatever the client or device: (Redis key, rule, whom)."""
        found = [(key("throttle", "account", account_id), "throttle_account", "")]
        pair = key("throttle", "pair", account_id, "")
        found += [(name, "throttle_pair", name[len(pair):])
                  for name in self.store.scan("throttle", "pair", account_id)]
        device = key("throttle", "device", "")
        for name in self.store.redis.scan_iter(match=key("throttle", "device", "*", account_id), count=500):
            found.append((name, "throttle_device", name[len(device):-len(account_id) - 1]))
        return found

    def delays(self, account_id: str) -> list[Delay]:
        """The delays in force on the account's password tries now, longest first (support's diagnosis)."""
        counters = self._account_counters(account_id)
        pipe = self.store.redis.pipeline(transaction=False)
        for name, _rule, _whom in counters:
            pipe.hmget(name, "count", "last")
        threshold = {"throttle_account": self.settings.throttle_account}
        now, found = self.clock(), []
        for (_name, rule, whom), (count, last) in zip(counters, pipe.execute()):
            limit = threshold.get(rule, self.settings.throttle_pair)
            if count is None or last is None or int(count) < limit:
                continue
            until = float(last) + min(2 ** (int(count) - limit), self.settings.throttle_max_delay)
            if until > now:
                found.append(Delay(rule, whom, math.ceil(until)))
        return sorted(found, key=lambda d: -d.until)

    def forgive(self, account_id: str) -> int:
        """Forget every failure counted against the account (support lifting its delays); how many
        counters went. The clients' own counters stay: they are not the account's."""
        names = [name for name, _rule, _whom in self._account_counters(account_id)]
        return int(self.store.redis.delete(*names))

    def failed(self, account_id: str, client: str, device: str | None = None) -> None:
        """A wrong password: every counter of this (account, client, device) grows."""
        now = self.clock()
        pipe = self.store.redis.pipeline()
        for counter in self._counters(account_id, client, device):
            pipe.hincrby(counter.name, "count", 1)
            pipe.hset(counter.name, "last", now)
            pipe.expire(counter.name, WINDOW)
        pipe.execute()

    def succeeded(self, account_id: str, client: str, device: str | None = None, *,
                  known_clean: bool = False) -> None:
        """The right password: forget this account's failures (not the client's).

        ``known_clean``: check() just found no failure for the account, so skip the round trip.
        """
        if known_clean:
            return
        self.store.redis.delete(*self.own_counters(account_id, client, device))

    def own_counters(self, account_id: str, client: str, device: str | None = None) -> list[str]:
        """The counters a right password clears (the account's, not the client's): their Redis keys."""
        return [c.name for c in self._counters(account_id, client, device) if c.rule != "throttle_client"]
