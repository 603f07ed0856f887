"""gateway.scripts.Script against a real redis-server: the same replies as redis-py's Script, and the same
recoveries (a script Redis lost, a connection the server closed), the connection always given back."""
from __future__ import annotations

import pytest
import redis

from gateway.scripts import Script

SOURCE = """
local n = redis.call('INCR', KEYS[1])
return {n, ARGV[1], redis.call('GET', KEYS[2]), {ARGV[2]}, redis.call('HGETALL', KEYS[3])}
"""


@pytest.fixture
def client(redis_server, redis_client):
    plain = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield plain
    plain.close()


def in_use(client: redis.Redis) -> int:
    return len(client.connection_pool._in_use_connections)


def test_a_script_answers_as_redis_pys_script(client, redis_server):
    client.hset("h", mapping={"a": "é", "b": "2"})
    keys, args = ["n", "missing", "h"], ["dé", 42]
    ours = Script(client, SOURCE)(keys=keys, args=args)
    theirs = client.register_script(SOURCE)(keys=keys, args=args)
    assert ours == [1, "dé", None, ["42"], ["a", "é", "b", "2"]]
    assert theirs == [2, *ours[1:]]
    raw = redis.Redis.from_url(redis_server.url)
    try:
        assert Script(raw, SOURCE)(keys=keys, args=args)[1] == "dé".encode()
    finally:
        raw.close()
    assert in_use(client) == 0


def test_a_script_redis_lost_is_loaded_again_and_runs_once(client, redis_client):
    script = Script(client, SOURCE)
    script(keys=["n", "x", "h"], args=["a", "b"])
    redis_client.script_flush()
    assert script(keys=["n", "x", "h"], args=["a", "b"])[0] == 2
    assert redis_client.get("n") == "2"
    assert in_use(client) == 0


def test_a_connection_the_server_closed_is_replaced(client, redis_client):
    script = Script(client, SOURCE)
    script(keys=["n", "x", "h"], args=["a", "b"])
    assert redis_client.client_kill_filter(_type="normal", skipme=True) >= 1
    assert script(keys=["n", "x", "h"], args=["a", "b"])[0] == 2
    assert in_use(client) == 0


def test_an_error_in_the_script_is_redis_error_and_the_connection_goes_back(client):
    with pytest.raises(redis.ResponseError, match="boom"):
        Script(client, "return redis.error_reply('boom')")()
    assert in_use(client) == 0
    assert Script(client, "return ARGV[1]")(args=["still here"]) == "still here"


def test_an_argument_redis_cannot_carry_is_a_data_error(client):
    with pytest.raises(redis.DataError):
        Script(client, "return 1")(args=[True])
    with pytest.raises(redis.DataError):
        Script(client, "return 1")(keys=[None])  # type: ignore[list-item]
    assert in_use(client) == 0


def test_a_script_queued_on_a_pipeline_runs_there_even_after_redis_lost_it(client, redis_client):
    script = Script(client, SOURCE)
    redis_client.script_flush()
    with client.pipeline() as pipe:
        pipe.set("x", "before")
        assert script(keys=["n", "x", "h"], args=["a", "b"], client=pipe) is pipe
        pipe.set("x", "after")
        replies = pipe.execute()
    assert replies[1][:3] == [1, "a", "before"]
    assert redis_client.get("x") == "after" and redis_client.get("n") == "1"
    assert in_use(client) == 0
