"""A Lua script run by ``EVALSHA`` on a connection of a client's pool, without redis-py's per-command layers.

redis-py 8's ``Script`` goes through ``evalsha`` and ``execute_command``: a
deprecation check, the observability records (timers, pool-name look-ups,
counters), a retry closure per call and one encoder call per argument. For a
script of a dozen arguments that is ~45 µs of client CPU per call where the
round trip itself (pack, send, read) costs ~17 µs (a loop against a local
redis-server, thread CPU). :class:`Script` keeps the parts that matter:

* the command packed by hiredis in one call (a declared dependency,
  ``redis[hiredis]``; arguments are ``str``, ``bytes``, ``int`` or ``float``,
  anything else is redis' ``DataError``, as redis-py's encoder says);
* a connection taken from the client's pool and given back, whatever happens
  (the pool's own checks: a stale connection is reconnected, a forked process
  gets its own);
* the connection's ``Retry`` around the send and the read, a failed
  connection disconnected before the next try, as ``execute_command`` does;
  so a Sentinel-managed connection still follows a failover;
* ``NOSCRIPT`` (Redis restarted, ``SCRIPT FLUSH``, a replica promoted): the
  script is loaded again and run once more, as redis-py's ``Script`` does.

Given a pipeline (``client=pipe``), the call is queued there as redis-py's
``Script`` queues it: the pipeline loads the scripts it holds before it runs
(it reads their ``sha`` and ``script``). Every Lua script of the gateway runs
through this class (:meth:`gateway.store.Store.script` hands them out).

Replies are the connection's parser's, decoded as the client decodes. Raises
redis' ``ResponseError`` (an error inside the script), ``DataError`` (an
argument that cannot be sent), ``ConnectionError``/``TimeoutError`` once the
retries are spent.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError

Argument = str | bytes | int | float


class Script:
    """``script(keys, args)``: run ``source`` with those ``KEYS`` and ``ARGV`` on ``client``'s pool
    (or queue it on the pipeline given as ``client=``)."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        if client.connection is not None:  # a single-connection client has no pool to borrow from
            raise ValueError("a Script runs on a pooled client")
        self.client = client
        self.script = source  # the name redis-py's Pipeline.load_scripts reads, with ``sha``
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    def __call__(self, keys: Sequence[Argument] = (), args: Sequence[Argument] = (),
                 client: Pipeline | None = None) -> Any:
        if client is not None:  # queued: the pipeline loads its scripts before it runs them
            client.scripts.add(self)  # type: ignore[arg-type]
            return client.evalsha(self.sha, len(keys), *keys, *args)
        try:
            packed = hiredis.pack_command(("EVALSHA", self.sha, len(keys), *keys, *args))
        except TypeError as error:
            raise redis.DataError(str(error)) from error
        try:
            return self._run(packed)
        except NoScriptError:
            self.client.script_load(self.script)
            return self._run(packed)

    def _run(self, packed: bytes) -> Any:
        pool = self.client.connection_pool
        connection = pool.get_connection()
        try:
            def attempt() -> Any:
                connection.send_packed_command((packed,))
                return connection.read_response()
            return connection.retry.call_with_retry(attempt, lambda _error: connection.disconnect())
        finally:
            if connection.should_reconnect():
                connection.disconnect()
            pool.release(connection)
