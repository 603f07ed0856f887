"""The one owner of the Redis connection and of every Redis key name.

Key names (all under ``gw:``; nothing else in the code builds a key string):

==============================  ==========================================  =========
key                             holds                                       TTL
==============================  ==========================================  =========
``gw:user:<id>``                account hash (see accounts.directory)       none
``gw:user-by-email``            hash: normalised address -> account id      none
``gw:user-unique``              hash: identifier entry -> account id        none
``gw:user-unique-built``        "1" once every account's entries are in it  none
``gw:users``                    sorted set of account ids by creation time  none
``gw:saml:persistent-id:<id>``  hash: SP entityID -> persistent identifier  none
``gw:mail:fate:<message-id>``   what became of a mail (gateway.mail.fate)   mail.fate_days
``gw:mail:to:<address hash>``   list: last 20 Message-IDs to an address     mail.fate_days
``gw:jobs:alive:<worker>``      a job worker's heartbeat (gateway.jobs)     10 s
``gw:history:<id>``             list: an account's recent activity, newest  support.history_days
                                first (gateway.identity.history)
``gw:history-refused:<id>``     "1" while a refusal of that account was     15 min
                                kept in its history (one per 15 minutes)
``gw:<namespace>:<parts…>``     short-lived values written with put()       always
==============================  ==========================================  =========

``gw:user-unique`` holds one field per (kind, SP entityID, value) that must
name one account at most: the JSON array ``["eppn","","<eppn, lowercased>"]``
and ``["legacy_id","<SP entityID>","<identifier>"]`` (see
:func:`gateway.accounts.models.unique_entries`); more kinds (a legacy eppn per
SP, say) are more arrays, with nothing else to change. The directory's account
write maintains it in the same Lua script as the address index; a look-up by
(kind, SP, value) is one HGET, many of them one HMGET.

Accounts are durable data (production Redis runs with AOF); everything else
written through :meth:`Store.put` carries a TTL, and single-use values are
consumed with :meth:`Store.take` (``GETDEL``), so they work exactly once.

Replication is asynchronous. Writes that must survive a failover (accounts,
addresses, passwords, legacy and persistent identifiers) go through
:meth:`Store.execute_durably`: with ``redis.wait_replicas`` above 0 the write is
followed, on the same connection, by ``WAIT numreplicas timeout``, and it is
acknowledged only when that many replicas have it. Fewer in time raises
:class:`NotReplicated` (a 503 for the caller): the master has the write, which
may or may not survive a failover, so the caller must not be told "done".
Sessions and short-lived values are not waited for (a lost session means
signing in again).
"""
from __future__ import annotations

import json
import select
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from redis._parsers.hiredis import _HiredisParser
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool
from redis.utils import HIREDIS_AVAILABLE

from .config import RedisSettings
from .scripts import Script

PREFIX = "gw"


def key(*parts: str) -> str:
    """``key("session", sid)`` -> ``"gw:session:<sid>"``."""
    return ":".join((PREFIX, *parts))


def hash_reply(reply: Any) -> dict[str, str]:
    """A hash's fields as a Lua script returns them: a flat list of field, value (RESP2) or a map (RESP3)."""
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


def _os_poll() -> Callable[[], Any] | None:
    """``select.poll`` as the OS gives it, also once gevent has patched ``select`` (gunicorn's workers)."""
    if not hasattr(select, "poll"):
        return None
    monkey = sys.modules.get("gevent.monkey")
    return cast("Callable[[], Any]", monkey.get_original("select", "poll") if monkey else select.poll)


_OS_POLL = _os_poll()


class _ReadyCheckedParser(_HiredisParser):
    """redis-py's hiredis parser, whose "anything waiting?" check at timeout 0 asks the OS's ``poll``.

    Before each command the pool checks that the connection it hands out holds no reply left unread
    and was not closed by the server (``ensure_connection`` -> ``can_read(0)``). redis-py asks
    ``select.poll``, which under gevent is gevent's: a watcher made, started and stopped, and a
    switch to the event loop and back, for a check that never waits (a PING's client CPU in a
    gevent-patched process 71-77 -> 34-47 µs, ``python -m bench.floor``; README "Where the time
    goes"). Here the OS answers; a poll with timeout 0 cannot hold the worker. Nothing buffered
    (hiredis' reader, TLS) and nothing on the socket, the common case, is answered False as
    redis-py would; anything else (a reply left unread, the server's end of stream, an error, a
    timeout above 0) goes to redis-py's own check, which decides as before (the pool then
    reconnects). Raises what redis-py's check raises (ConnectionError for a closed socket).
    """

    def can_read(self, timeout: float = 0) -> bool:
        sock, reader = getattr(self, "_sock", None), getattr(self, "_reader", None)
        if (timeout == 0 and sock is not None and reader is not None and not reader.has_data()
                and not (hasattr(sock, "pending") and sock.pending())):
            poller = _OS_POLL()  # type: ignore[misc]  # set whenever this class is used
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
        return bool(super().can_read(timeout))


#: The parser of every client :func:`connect` makes; None (redis-py's default) without hiredis,
#: whose pure-Python parser checks with a non-blocking ``recv`` and has no such cost.
ReadyCheckedParser = _ReadyCheckedParser if HIREDIS_AVAILABLE and _OS_POLL is not None else None


def connect(
    settings: RedisSettings, *, timeout: float | None = None, pool_size: int | None = None, decode: bool = True
) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` or Redis Sentinel, with string replies.

    ``timeout`` overrides both socket timeouts (the health probe uses a short one);
    ``decode=False`` gives bytes replies (rq, for the mail queue, needs them).
    """
    socket_timeout = settings.socket_timeout if timeout is None else timeout
    connect_timeout = settings.connect_timeout if timeout is None else timeout
    max_connections = pool_size or settings.max_connections
    parser: dict[str, Any] = {"parser_class": ReadyCheckedParser} if ReadyCheckedParser else {}
    if settings.sentinels:
        parts = urlsplit(settings.url)
        db = int(parts.path.strip("/") or 0)
        sentinel = Sentinel(
            [_host_port(s) for s in settings.sentinels],
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            # No retries against one sentinel: Sentinel itself moves on to the next one. With
            # redis-py's defaults (10 retries, 5 s connect timeout), a sentinel host that does not
            # answer held every master lookup, /healthz included, for about a minute.
            sentinel_kwargs={
                "password": settings.sentinel_password or None,
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": connect_timeout,
                "retry": Retry(NoBackoff(), 0),
            },
        )
        return cast(
            redis.Redis,
            sentinel.master_for(
                settings.sentinel_service,
                connection_pool_class=_SentinelPool,
                db=db,
                password=parts.password,
                username=parts.username,
                ssl=parts.scheme == "rediss",
                decode_responses=decode,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                max_connections=max_connections,
                **parser,
            ),
        )
    return redis.Redis.from_url(  # type: ignore[no-any-return, call-overload]
        settings.url,
        decode_responses=decode,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        max_connections=max_connections,
        health_check_interval=30,
        **parser,
    )


class _SentinelPool(SentinelConnectionPool):
    """Closing the pool closes the connections to the sentinels too (redis-py leaves them open)."""

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        if inuse_connections:  # a close, not redis-py dropping idle connections after a failover
            for client in self.sentinel_manager.sentinels:
                client.close()


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or address, int(port or 26379)


class NotReplicated(redis.RedisError):
    """``WAIT`` saw fewer replicas than ``redis.wait_replicas`` within ``redis.wait_timeout_ms``.

    The master has the write; a failover before the replicas catch up would lose it.
    Whoever asked for the write must hear "not confirmed" (503), never "done".
    """

    def __init__(self, acknowledged: int, required: int) -> None:
        super().__init__(f"{acknowledged} of {required} replicas acknowledged the write in time")
        self.acknowledged = acknowledged
        self.required = required


#: What "Redis is away" looks like to a caller: no connection, no answer in time, no master
#: (a sentinel failover: ``MasterNotFoundError``, a demoted master's ``READONLY``), a dataset still
#: loading, replicas not confirming a durable write. An expected condition, answered 503, not a bug.
UNAVAILABLE: tuple[type[redis.RedisError], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, NotReplicated,
)


class Store:
    """Namespaced, TTL-bound access to Redis, plus the account keys.

    ``wait_replicas`` and ``wait_timeout_ms``: see :meth:`execute_durably`.
    """

    def __init__(self, client: redis.Redis, probe: redis.Redis | None = None, *,
                 wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> None:
        self.redis = client
        self._probe = probe or client
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._scripts: dict[str, Script] = {}

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> Store:
        """Connect lazily: nothing is sent to Redis until the first command."""
        return cls(connect(settings), connect(settings, timeout=settings.health_timeout, pool_size=2),
                   wait_replicas=settings.wait_replicas, wait_timeout_ms=settings.wait_timeout_ms)

    def close(self) -> None:
        """Close every pooled connection (tests and the CLI; workers keep theirs)."""
        for client in {id(self.redis): self.redis, id(self._probe): self._probe}.values():
            client.close()
            client.connection_pool.disconnect()

    def script(self, source: str) -> Script:
        """The Lua script ``source`` on this client, made once (:class:`gateway.scripts.Script`: run by
        EVALSHA, loaded again when Redis has lost it, or queued on a pipeline given as ``client=``)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = Script(self.redis, source)
        return found

    # -- health ------------------------------------------------------------
    def is_reachable(self) -> bool:
        """PING with the short health timeout; never raises."""
        try:
            return bool(self._probe.ping())
        except (redis.RedisError, OSError):
            return False

    # -- durable writes ------------------------------------------------------
    def execute_durably(self, pipe: Pipeline) -> list[Any]:
        """Run ``pipe`` (built on :attr:`redis`), then ``WAIT`` on the same connection for the replicas.

        Returns the pipeline's replies. Raises :class:`NotReplicated` when fewer than
        ``wait_replicas`` replicas acknowledged within ``wait_timeout_ms`` (the write is on
        the master, not confirmed), and redis' ConnectionError/TimeoutError as any command.
        ``WAIT`` covers the writes sent on its own connection only, hence one pipeline.
        """
        if self.wait_replicas <= 0:
            return cast("list[Any]", pipe.execute())
        pipe.wait(self.wait_replicas, self.wait_timeout_ms)
        *replies, acknowledged = pipe.execute()
        if int(acknowledged) < self.wait_replicas:
            raise NotReplicated(int(acknowledged), self.wait_replicas)
        return replies

    # -- short-lived values --------------------------------------------------
    def put(self, parts: Sequence[str], value: Any, ttl: int) -> None:
        """Store a JSON value under ``gw:<parts>`` for ``ttl`` seconds (TTL is mandatory)."""
        if ttl <= 0:
            raise ValueError("every short-lived value needs a positive TTL")
        self.redis.set(key(*parts), json.dumps(value, separators=(",", ":")), ex=ttl)

    def get(self, parts: Sequence[str]) -> Any:
        raw = self.redis.get(key(*parts))
        return None if raw is None else json.loads(raw)

    def take(self, parts: Sequence[str]) -> Any:
        """Read and delete atomically (``GETDEL``): a single-use value works once."""
        raw = self.redis.getdel(key(*parts))
        return None if raw is None else json.loads(raw)

    def delete(self, parts: Sequence[str]) -> None:
        self.redis.delete(key(*parts))

    def scan(self, *parts: str) -> Iterator[str]:
        """Keys under ``gw:<parts>:`` with SCAN (never KEYS)."""
        yield from self.redis.scan_iter(match=key(*parts, "*"), count=500)

    # -- durable account keys (accounts.directory; persistent ids: saml too) --
    @staticmethod
    def user_key(account_id: str) -> str:
        return key("user", account_id)

    @staticmethod
    def persistent_ids_key(account_id: str) -> str:
        """The persistent identifiers made for an account, by SP entityID: made by saml.sp.nameids,
        exported and restored with the account by accounts.directory. Durable, like the account.
        """
        return key("saml", "persistent-id", account_id)

    #: prefixes the Lua scripts append an account id to
    USER_PREFIX = key("user", "")
    PERSISTENT_IDS_PREFIX = key("saml", "persistent-id", "")
    EMAIL_INDEX = key("user-by-email")
    UNIQUE_INDEX = key("user-unique")
    UNIQUE_BUILT = key("user-unique-built")
    USERS = key("users")
