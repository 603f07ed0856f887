"""The Redis client :func:`gateway.store.connect` makes: its pool's check before each command, on a real
redis-server, in this process and in one gevent has patched as gunicorn's worker does."""
from __future__ import annotations

import select
import subprocess
import sys

import pytest
import redis

from gateway.config import RedisSettings
from gateway.store import ReadyCheckedParser, connect


@pytest.fixture
def client(redis_server) -> redis.Redis:
    made = connect(RedisSettings(url=redis_server.url), pool_size=1)
    made.flushdb()
    yield made
    made.close()
    made.connection_pool.disconnect()


def test_the_clients_use_the_parser_that_asks_the_os():
    """The figures of README "Where the time goes" assume hiredis (an install extra of redis) and poll."""
    assert ReadyCheckedParser is not None


def test_a_reply_left_unread_on_a_pooled_connection_is_not_taken_for_the_next_commands(client):
    """A connection back in the pool with a reply nobody read (a request cut short) is replaced:
    the next command gets its own reply, not the stale one."""
    client.set("gw:test:value", "the value")
    pool = client.connection_pool
    left = pool.get_connection()
    left.send_command("PING")  # the PONG stays on the socket
    assert select.select([left._sock], [], [], 10)[0]  # once it is there
    pool.release(left)
    assert client.get("gw:test:value") == "the value"
    assert client.incr("gw:test:count") == 1


def test_a_connection_the_server_closed_is_replaced_before_the_next_command(client, redis_server):
    """The pool hands out a fresh connection, not the one the server closed (checked before any
    command is sent on it, so no retry of a failed command could hide a miss)."""
    client.set("gw:test:value", "the value")
    pool = client.connection_pool
    conn = pool.get_connection()
    conn.send_command("CLIENT", "ID")
    own_id, closed = conn.read_response(), conn._sock
    pool.release(conn)
    with redis.Redis.from_url(redis_server.url) as admin:
        assert admin.client_kill_filter(_id=own_id) == 1
    assert select.select([closed], [], [], 10)[0]  # the server's end of stream has arrived
    again = pool.get_connection()
    try:
        assert again._sock is not None and again._sock is not closed
    finally:
        pool.release(again)
    assert client.get("gw:test:value") == "the value"
    assert client.client_id() != own_id


_UNDER_GEVENT = """
from gevent import monkey
monkey.patch_all()
import select, sys
import greenlet
import redis
from gateway.config import RedisSettings
from gateway.store import connect

client = connect(RedisSettings(url=sys.argv[1]), pool_size=1)
client.ping()
pool = client.connection_pool
switches = []
greenlet.settrace(lambda event, args: switches.append(event))
for _ in range(200):
    pool.release(pool.get_connection())
greenlet.settrace(None)
left = pool.get_connection()
left.send_command("PING")  # a reply left unread: the pool must still see it under gevent
assert select.select([left._sock], [], [], 10)[0]
pool.release(left)
print(len(switches), client.echo("mine"))
"""


def test_under_gevent_the_pools_check_does_not_switch_to_the_event_loop(redis_server):
    """gunicorn's gevent workers patch ``select``: redis-py's check before each command then went
    through gevent's poll, a switch to the event loop and back each time (the largest part of a
    Redis round trip's CPU in a worker). The check is the OS's now: no switch; and a reply left
    unread is still seen, so the next command gets its own reply."""
    script = subprocess.run([sys.executable, "-c", _UNDER_GEVENT, redis_server.url],
                            capture_output=True, text=True, timeout=60)
    assert script.returncode == 0, script.stderr
    switches, reply = script.stdout.split()
    assert int(switches) == 0
    assert reply == "mine"
