"""What one code flow of a signed-in person asks of Redis, read with the real server's MONITOR.

The count is behaviour, not time: each step is one round trip (authorize reads
the session and the account, then one script issues the code; the token
request redeems the code in one script and saves the tokens with the session's
RP records in another), so ``make bench`` can hold the flow to a few commands.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from .conftest import sign_in_and_get_tokens

END = "end-of-flow"


@contextmanager
def monitored(url: str) -> Iterator[list[dict[str, Any]]]:
    """Every command Redis runs inside the block (script commands marked ``client_type == "lua"``)."""
    seen: list[dict[str, Any]] = []
    client = redis.Redis.from_url(url, decode_responses=True)
    stopper = redis.Redis.from_url(url, decode_responses=True)
    stopper.ping()  # connected before: its echo is the one command it sends inside the block
    ready = threading.Event()

    def listen() -> None:
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if END in command["command"]:
                    return
                seen.append(command)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield seen
    finally:
        stopper.echo(END)  # the listener stops at it
        thread.join(5)
        stopper.close()
        client.close()


def test_a_code_flow_sends_five_commands_in_five_round_trips(browser, rp, live, account, redis_client):
    party = rp("rp-basic")
    sign_in_and_get_tokens(browser, party)  # signs in; the flows after it are SSO
    url = redis_client.connection_pool.connection_kwargs
    with monitored(f"redis://{url['host']}:{url['port']}/{url.get('db', 0)}") as seen:
        attempt, token = sign_in_and_get_tokens(browser, party)
    party.verify(token["id_token"], attempt)
    sent = [c["command"].split()[0] for c in seen if c["client_type"] != "lua"]
    inside = [c["command"].split()[0] for c in seen if c["client_type"] == "lua"]
    # authorize: the session, the account, issue the code; token: redeem the code, save the tokens
    assert sent == ["GET", "HGETALL", "EVALSHA", "EVALSHA", "EVALSHA"], sent
    # the scripts: nonce, grant, session index (2), code; the code marked spent, its grant, the
    # session, the account; access and refresh tokens, the session's RP records (2 hashes, 2 TTLs)
    assert len(inside) == 5 + 5 + 6, inside
