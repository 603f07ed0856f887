"""Each account's history: only the events it keeps, capped in size, expiring, never another account's."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.config import ConfigError, SupportSettings, load_settings
from gateway.identity.history import History
from gateway.store import key
from tests.conftest import DEV_KEY


def test_the_history_is_capped_and_expires(store):
    history = History(store, SupportSettings(history_days=2, history_size=3))
    for n in range(5):
        history.record("login.failed", {"account": "a1", "ip": f"192.0.2.{n}", "password": "never kept"})
    history.record("oidc.token_issued", {"account": "a1"})  # not an event the history keeps
    history.record("login.succeeded", {"ip": "192.0.2.9"})  # no account: nothing to keep it under
    entries = history.recent("a1")
    assert [e.get("ip") for e in entries] == ["192.0.2.4", "192.0.2.3", "192.0.2.2"]  # newest first
    assert all("password" not in e.fields for e in entries)
    assert 0 < store.redis.ttl(key("history", "a1")) <= 2 * 86400
    assert history.recent("a2") == []


def test_support_settings_and_token_scopes_are_checked():
    env = {"GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": DEV_KEY}
    with pytest.raises(ConfigError) as raised:
        load_settings(env, {"support": {"history_size": 0},
                            "scim": {"tokens": {"cockpit": "x" * 40},
                                     "token_scopes": {"cockpit": ["scim", "admin"], "ghost": ["support"]}}})
    assert set(raised.value.problems) >= {
        "support.history_size: must be at least 1",
        "scim.token_scopes.cockpit: a list drawn from scim, support",
        "scim.token_scopes.ghost: no token in scim.tokens for this service",
    }
    settings = load_settings(env, {"scim": {"tokens": {"cockpit": "x" * 40, "desk": "y" * 40},
                                            "token_scopes": {"desk": ["support"]}}})
    assert settings.scim.scopes_of("cockpit") == ("scim",)
    assert settings.scim.scopes_of("desk") == ("support",)


_GREENLETS = """
import sys
from gevent import monkey
monkey.patch_all()
import gevent, gevent.event, redis
from gateway.config import SupportSettings
from gateway.identity import history
from gateway.store import Store

connection = redis.Redis.from_url(sys.argv[1], decode_responses=True)
history_of = history.History(Store(connection), SupportSettings())
inside, other_done = gevent.event.Event(), gevent.event.Event()

def password_step():  # a sign-in's step, between its script and its audit line (written_ahead)
    with history.written_ahead("login.succeeded", "a1"):
        inside.set()
        other_done.wait()
        history_of.record("login.succeeded", {"account": "a1", "ip": "192.0.2.1"})  # its own: skipped

def other_request():  # another request of the same worker: a sign-in by code of the same account
    inside.wait()
    history_of.record("login.succeeded", {"account": "a1", "ip": "192.0.2.2"})
    other_done.set()

gevent.joinall([gevent.spawn(password_step), gevent.spawn(other_request)], raise_error=True)
history_of.record("login.succeeded", {"account": "a1", "ip": "192.0.2.3"})  # after: the hook writes again
print(" ".join(e.get("ip") for e in history_of.recent("a1")))
"""


def test_an_entry_written_ahead_is_skipped_only_in_its_own_greenlet(redis_client):
    """Under gevent (gunicorn's worker), while a password sign-in's step holds ``written_ahead`` for an
    account, another greenlet's sign-in of that account still gets its history entry, and so does the
    step's own greenlet once the step is over: the context variable leaks to no other request."""
    where = redis_client.connection_pool.connection_kwargs
    url = f"redis://{where['host']}:{where['port']}/{where.get('db', 0)}"
    script = subprocess.run([sys.executable, "-c", _GREENLETS, url], capture_output=True, text=True,
                            timeout=60)
    assert script.returncode == 0, script.stderr
    assert script.stdout.split() == ["192.0.2.3", "192.0.2.2"]
