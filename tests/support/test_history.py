"""Each account's history: only the events it keeps, capped in size, expiring, never another account's."""
from __future__ import annotations

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
