"""Rate limits counted in Redis, with the ``limits`` library (the core of Flask-Limiter).

Used programmatically rather than as route decorators, because a sign-in page
answers a refused step on the same form ("Trop de tentatives, réessayez dans
N minutes") and limits some steps per typed address, not only per client.

A client is what one machine cannot multiply cheaply and many people rarely
share: an IPv4 address, or the /64 of an IPv6 address (one subscriber's prefix,
RFC 6177 §2; a machine picks any address inside it). Networks listed in
``limits.trusted_networks`` (a hospital's NAT) get their own, higher per-client
rules: the ``trusted_<rule>`` settings.
"""
from __future__ import annotations

import hashlib
import ipaddress
import time

from limits import parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from ..config import LimitSettings
from ..store import Store, key

IPV6_PREFIX = 64


def client_key(address: str) -> str:
    """What counters are keyed by for a client address: IPv4 as is, IPv6 as its /64.

    An IPv4-mapped IPv6 address is its IPv4 address. Anything unparsable is kept as is.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def _hashed(identifier: str) -> str:
    """How an identifier appears in a counter's key: typed addresses are not kept in Redis key names."""
    return hashlib.sha256(identifier.encode()).hexdigest()[:24]


class Clients:
    """Keys client addresses and tells which belong to ``limits.trusted_networks``."""

    def __init__(self, settings: LimitSettings) -> None:
        self.settings = settings
        self.networks = [ipaddress.ip_network(n, strict=False) for n in settings.trusted_networks]

    def is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.networks)

    def setting(self, name: str, address: str) -> object:
        """The value of setting ``name`` for this client: ``trusted_<name>`` inside a trusted network."""
        trusted = f"trusted_{name}"
        if hasattr(self.settings, trusted) and self.is_trusted(address):
            return getattr(self.settings, trusted)
        return getattr(self.settings, name)


class RateLimits:
    """Fixed-window counters per rule (a LimitSettings field name) and identifiers."""

    def __init__(self, store: Store, settings: LimitSettings) -> None:
        self.settings = settings
        self.store = store
        self.clients = Clients(settings)
        storage = RedisStorage("redis://", connection_pool=store.redis.connection_pool, key_prefix=key("limit"))
        self.limiter = FixedWindowRateLimiter(storage)

    def hit(self, rule: str, *identifiers: str, client: str | None = None) -> int:
        """Count one use under ``rule`` for ``identifiers`` (and ``client``, keyed by :func:`client_key`).

        Returns 0 when allowed, else the seconds until the window resets.
        """
        return self._apply(rule, identifiers, client, count=True)

    def wait(self, rule: str, *identifiers: str, client: str | None = None) -> int:
        """Like :meth:`hit` without counting: whether one more use would be refused, and for how long."""
        return self._apply(rule, identifiers, client, count=False)

    def blocks(self, identifier: str) -> list[tuple[str, int]]:
        """The rules counting ``identifier`` (an address) first that refuse it now, whatever the client:
        (rule, seconds left), longest first (support's diagnosis)."""
        names = self._keys_of(identifier)
        pipe = self.store.redis.pipeline(transaction=False)
        for name in names:
            pipe.get(name)
            pipe.ttl(name)
        replies = pipe.execute()
        found: dict[str, int] = {}
        for name, count, ttl in zip(names, replies[::2], replies[1::2]):
            rule, *_ids, amount, _multiples, _granularity = name.split("LIMITER/", 1)[1].split("/")
            if count is not None and int(count) >= int(amount) and int(ttl) > 0:
                found[rule] = max(found.get(rule, 0), int(ttl))
        return sorted(found.items(), key=lambda item: -item[1])

    def clear(self, identifier: str) -> int:
        """Forget every count of the rules counting ``identifier`` first (support lifting an address's
        limits); how many counters went."""
        names = self._keys_of(identifier)
        return int(self.store.redis.delete(*names)) if names else 0

    def _keys_of(self, identifier: str) -> list[str]:
        """The limits library's counters of rules whose first identifier is ``identifier`` (SCAN)."""
        pattern = f"{key('limit')}:LIMITER/*/{_hashed(identifier)}/*"
        return list(self.store.redis.scan_iter(match=pattern, count=500))

    def _apply(self, rule: str, identifiers: tuple[str, ...], client: str | None, count: bool) -> int:
        if not self.settings.enabled:
            return 0
        text = str(self.clients.setting(rule, client)) if client is not None else getattr(self.settings, rule)
        if client is not None:
            identifiers = (*identifiers, client_key(client))
        # hashed: typed addresses are not kept in Redis key names
        hashed = tuple(_hashed(i) for i in identifiers)
        for item in parse_many(text):
            apply = self.limiter.hit if count else self.limiter.test
            allowed = apply(item, rule, *hashed)
            if not allowed:
                reset = self.limiter.get_window_stats(item, rule, *hashed).reset_time
                return max(1, int(reset - time.time()))
        return 0
