"""SSO sessions against a real Redis, without Flask: ids, records, lifetimes, ending them.

The clock is the SessionStore's injectable one: nothing here sleeps.
"""
from __future__ import annotations

import json
import re

import pytest

from gateway.identity.sessions import (
    AUTH, TOUCH_INTERVAL, SessionStore, looks_like_session_id, new_session_id,
)
from gateway.store import key

ID_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


def signed_in(sessions: SessionStore, account: str = "camille", *, remember: bool = False,
              ip: str = "192.0.2.10", ua: str = "Firefox/128.0") -> tuple[str, dict]:
    """A session record as the sign-in step writes it; returns (id, data)."""
    sid = new_session_id()
    data: dict = {"csrf_token": "x"}
    sessions.authenticate(data, account, ("pwd",), remember=remember, ip=ip, user_agent=ua)
    assert sessions.save(sid, data, new=True)
    sessions.index(account, sid)
    return sid, data


def ttl(store, sid: str) -> int:
    return store.redis.ttl(key("session", sid))


def request(sessions: SessionStore, sid: str) -> dict | None:
    """What one request of the browser does to its session: load, touch, save if touched."""
    data = sessions.load(sid)
    if data is None:
        return None
    if sessions.touch(data) and not sessions.save(sid, data, new=False):
        return None
    return data


# -- the id --------------------------------------------------------------------------------

def test_session_id_is_opaque_and_has_at_least_128_random_bits():
    ids = {new_session_id() for _ in range(2000)}
    assert len(ids) == 2000
    for sid in ids:
        assert ID_CHARS.match(sid), sid
        assert len(sid) * 6 >= 128  # base64url: 6 bits a character
        assert looks_like_session_id(sid)
    assert min(len(s) for s in ids) >= 43  # 256 bits from token_urlsafe(32)


@pytest.mark.parametrize("value", ["", "abc", "camille", "x" * 39, "x" * 65, "a" * 42 + ";", "../" * 15,
                                   "a" * 40 + " ", "a" * 40 + "="])
def test_only_well_formed_ids_are_looked_up(value):
    assert not looks_like_session_id(value)


# -- the record ----------------------------------------------------------------------------

def test_record_holds_the_whole_server_side_session(sessions, store, clock):
    sid, _ = signed_in(sessions, "camille-martin", ip="198.51.100.4", ua="Mozilla/5.0 Firefox/128.0")
    raw = json.loads(store.redis.get(key("session", sid)))
    auth = raw[AUTH]
    assert auth["account"] == "camille-martin"
    assert auth["auth_time"] == int(clock())
    assert auth["methods"] == ["pwd"]
    assert auth["remember"] is False
    assert auth["last_seen"] == int(clock())
    assert auth["ip"] == "198.51.100.4"
    assert auth["ua"] == "Mozilla/5.0 Firefox/128.0"
    assert sid not in json.dumps(raw)  # the id is the key, not part of the value


def test_user_agent_is_bounded(sessions, store):
    sid, _ = signed_in(sessions, ua="A" * 10_000)
    assert len(sessions.load(sid)[AUTH]["ua"]) == 300


def test_a_new_session_never_overwrites_an_existing_one(sessions, store):
    sid, data = signed_in(sessions, "camille")
    assert not sessions.save(sid, {"intruder": True}, new=True)  # SET NX
    assert sessions.load(sid)[AUTH]["account"] == "camille"


# -- lifetimes -----------------------------------------------------------------------------

def test_anonymous_session_lives_anonymous_minutes(sessions, store, settings):
    sid = new_session_id()
    assert sessions.save(sid, {"csrf_token": "x"}, new=True)
    assert 0 < ttl(store, sid) <= settings.anonymous_minutes * 60


def test_not_remembered_record_lives_at_most_the_idle_time(sessions, store, settings):
    sid, _ = signed_in(sessions)
    assert settings.idle_minutes * 60 - 5 <= ttl(store, sid) <= settings.idle_minutes * 60


def test_activity_pushes_the_idle_timeout_back(store, settings, clock):
    import dataclasses

    sessions = SessionStore(store, dataclasses.replace(settings, idle_minutes=60), clock=clock)
    sid, _ = signed_in(sessions)
    for _ in range(5):  # a request every 50 minutes, idle is 60: still signed in after 4 h 10
        clock.advance(50 * 60)
        assert request(sessions, sid) is not None
        assert 3600 - 5 <= ttl(store, sid) <= 3600
    assert sessions.load(sid)[AUTH]["last_seen"] == int(clock())


def test_idle_session_no_longer_authenticates(sessions, store, settings, clock):
    sid, _ = signed_in(sessions)
    clock.advance(settings.idle_minutes * 60 + TOUCH_INTERVAL + 1)
    # Redis would have dropped the record by now; even while it is still there
    # (e.g. the idle time was shortened in the configuration), it is not usable
    assert sessions.load(sid) is None
    assert request(sessions, sid) is None
    assert not store.redis.exists(key("session", sid))


def test_shortened_idle_setting_applies_to_existing_sessions(store, clock, settings):
    import dataclasses

    long_idle = SessionStore(store, settings, clock=clock)
    sid, _ = signed_in(long_idle)
    clock.advance(3600)
    short_idle = SessionStore(store, dataclasses.replace(settings, idle_minutes=15), clock=clock)
    assert short_idle.load(sid) is None
    assert request(short_idle, sid) is None


def test_absolute_timeout_even_when_active(sessions, store, settings, clock):
    sid, _ = signed_in(sessions)
    start = clock()
    while clock() + 3 * 3600 < start + settings.absolute_minutes * 60:
        clock.advance(3 * 3600)  # a request every 3 hours
        assert request(sessions, sid) is not None
    clock.now = start + settings.absolute_minutes * 60 - 600
    assert request(sessions, sid) is not None
    assert ttl(store, sid) <= 600  # the record cannot outlive the 12 hours
    clock.now = start + settings.absolute_minutes * 60 + 1
    data = json.loads(store.redis.get(key("session", sid)))
    data[AUTH]["last_seen"] = int(clock()) - 5
    assert not sessions.save(sid, data, new=False)  # an in-flight write cannot extend it
    assert not store.redis.exists(key("session", sid))
    assert request(sessions, sid) is None


def test_absolute_timeout_read_from_auth_time(sessions, store, settings, clock):
    sid, data = signed_in(sessions)
    data[AUTH]["auth_time"] -= settings.absolute_minutes * 60 + 1  # signed in 12 hours ago
    store.redis.set(key("session", sid), json.dumps(data), keepttl=True)
    assert sessions.load(sid) is None
    assert not store.redis.exists(key("session", sid))


def test_remembered_session_survives_idle_but_ends_after_remember_days(sessions, store, settings, clock):
    sid, _ = signed_in(sessions, remember=True)
    days = settings.remember_days * 86400
    assert days - 5 <= ttl(store, sid) <= days
    clock.advance(settings.absolute_minutes * 60 * 3)  # 36 hours without a request
    assert request(sessions, sid) is not None
    clock.advance(days)  # past the 30 days
    assert sessions.load(sid) is None
    assert not sessions.save(sid, {AUTH: {"account": "camille", "auth_time": int(clock()) - days - 1,
                                          "remember": True}}, new=False)


# -- ending sessions -----------------------------------------------------------------------

def test_end_all_ends_every_session_of_the_account(sessions, store):
    mine = [signed_in(sessions, "camille")[0] for _ in range(3)]
    other, _ = signed_in(sessions, "dominique")
    assert {s.session_id for s in sessions.list_for("camille")} == set(mine)

    ended = sessions.end_all("camille", except_sid=mine[0])
    assert {sid for sid, _ in ended} == set(mine[1:])
    assert sessions.load(mine[0]) is not None
    assert all(sessions.load(s) is None for s in mine[1:])
    assert sessions.load(other) is not None

    assert {sid for sid, _ in sessions.end_all("camille")} == {mine[0]}
    assert sessions.list_for("camille") == []
    assert not store.redis.exists(key("session", mine[0]))
    assert [s.session_id for s in sessions.list_for("dominique")] == [other]


def test_one_account_cannot_end_another_accounts_session(sessions):
    theirs, _ = signed_in(sessions, "dominique")
    assert sessions.end("camille", theirs) is None
    assert sessions.load(theirs) is not None


def test_logout_wins_over_a_request_in_flight(sessions, store):
    sid, _ = signed_in(sessions, "camille")
    in_flight = sessions.load(sid)  # a request of the same browser has read the session...
    sessions.delete(sid, sessions.load(sid))  # ...the logout ends it...
    in_flight["notice"] = "written by the slow request"
    assert sessions.save(sid, in_flight, new=False) is False  # ...and its write is refused
    assert not store.redis.exists(key("session", sid))
    assert sid not in store.redis.smembers(key("account-sessions", "camille"))
    assert sessions.load(sid) is None


def test_end_all_wins_over_a_request_in_flight(sessions, store):
    sid, _ = signed_in(sessions, "camille")
    in_flight = sessions.load(sid)
    sessions.end_all("camille")
    in_flight[AUTH]["last_seen"] += TOUCH_INTERVAL
    assert sessions.save(sid, in_flight, new=False) is False
    assert not store.redis.exists(key("session", sid))
