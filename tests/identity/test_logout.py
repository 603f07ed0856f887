"""Ending sessions (gateway.identity.logout, called through its Flask half) against real Redis, without an
HTTP server.

The app's own hooks (SAML, OIDC) are replaced by recording ones: each test sees exactly
what a hook receives. A request context stands for the browser's request.
"""
from __future__ import annotations

import logging

import pytest
from flask import session
from flask_login import current_user

from gateway.accounts.models import Account, Email
from gateway.identity.flaskglue.logout import end_account_sessions, end_this_session
from gateway.identity import logout
from gateway.identity.logout import Ended, EndedSession, Initiator, on_session_end
from gateway.identity.sessions import AUTH, new_session_id
from gateway.logs import AUDIT

SP_REQUEST = Initiator("saml", "https://sp.univ-exemple.fr/shibboleth", "_req-1", "relay", False)
RP_AFTER = "https://rp.univ-exemple.fr/apres?state=s1"


@pytest.fixture
def hooks(app):
    """Only the hooks a test registers run; ``hooks.seen`` lists what they received, in order."""
    app.extensions["gateway.logout_hooks"] = []

    class Recorder(list):
        def __call__(self, ended: EndedSession) -> None:
            self.append(ended)

    seen = Recorder()
    on_session_end(app, seen)
    return seen


@pytest.fixture
def audit_lines():
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logging.getLogger(AUDIT).addHandler(handler)
    yield records
    logging.getLogger(AUDIT).removeHandler(handler)


@pytest.fixture
def sign_in(app, make_account):
    """A signed-in session record in Redis, as the sign-in step leaves it; returns its id."""
    sessions, directory = app.extensions["gateway.sessions"], app.extensions["gateway.directory"]

    def make(account_id: str = "camille") -> str:
        if directory.get(account_id) is None:
            make_account(f"{account_id}@univ-exemple.fr", account_id=account_id, password=None)
        sid, data = new_session_id(), {"_user_id": account_id, "csrf_token": "x"}
        sessions.authenticate(data, account_id, ("pwd",), remember=False, ip="192.0.2.1", user_agent="test")
        assert sessions.save(sid, data, new=True)
        sessions.index(account_id, sid)
        return sid

    return make


def browser_of(app, sid: str):
    """A request of the browser holding ``sid`` (its session opened as for any request)."""
    return app.test_request_context("/", headers={"Cookie": f"uness_session={sid}"})


def alive(app, sid: str) -> bool:
    return app.extensions["gateway.sessions"].load(sid) is not None


def test_ending_this_session_runs_each_hook_once_with_its_values(app, hooks, sign_in, audit_lines):
    chains = []
    on_session_end(app, lambda ended: chains.append(ended.sid) or "/saml/slo/chain?token=t")
    sid = sign_in("camille")
    with browser_of(app, sid):
        assert current_user.is_authenticated
        result = end_this_session(initiator=SP_REQUEST, return_to=RP_AFTER, reason="slo")
        assert not current_user.is_authenticated  # Flask-Login's public API did it
        assert dict(session) == {"logout_chain": "/saml/slo/chain?token=t"}  # only the chain it follows
    assert result == Ended("camille", "/saml/slo/chain?token=t")
    [ended] = hooks
    assert (ended.sid, ended.account_id, ended.browser) == (sid, "camille", True)
    assert (ended.initiator, ended.return_to, ended.reason) == (SP_REQUEST, RP_AFTER, "slo")
    assert ended.record[AUTH]["account"] == "camille" and ended.record[AUTH]["methods"] == ["pwd"]
    assert chains == [sid] and not alive(app, sid)
    assert [(r.getMessage(), r.account, r.reason) for r in audit_lines] == [("logout", "camille", "slo")]


def test_ending_without_a_signed_in_session_runs_no_hook(app, hooks, audit_lines):
    with app.test_request_context("/"):
        assert end_this_session() == Ended()
    assert hooks == [] and audit_lines == []


def test_ending_an_accounts_sessions_except_one(app, hooks, sign_in, audit_lines):
    kept, *others = [sign_in("camille") for _ in range(3)]
    someone_else = sign_in("dominique")
    with app.app_context():  # no request: as the CLI and the mail worker run
        assert end_account_sessions("camille", except_sid=kept, reason="password.changed") == 2
    assert sorted(ended.sid for ended in hooks) == sorted(others)
    for ended in hooks:
        assert (ended.account_id, ended.browser, ended.initiator, ended.return_to, ended.reason) == (
            "camille", False, None, None, "password.changed")
    assert alive(app, kept) and alive(app, someone_else) and not any(alive(app, sid) for sid in others)
    [line] = audit_lines
    assert (line.getMessage(), line.account, line.count, line.reason) == (
        "session.ended", "camille", 2, "password.changed")


def test_ending_one_session_only_if_it_is_the_accounts(app, hooks, sign_in, audit_lines):
    mine, other = sign_in("camille"), sign_in("camille")
    theirs = sign_in("dominique")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "192.0.2.7"}):
        assert end_account_sessions("camille", only_sid=theirs, reason="session.ended_by_user") == 0
        assert end_account_sessions("camille", except_sid=mine, only_sid=mine,
                                    reason="session.ended_by_user") == 0
        assert end_account_sessions("camille", except_sid=mine, only_sid=other,
                                    reason="session.ended_by_user") == 1
    assert [(ended.sid, ended.reason) for ended in hooks] == [(other, "session.ended_by_user")]
    assert alive(app, mine) and alive(app, theirs) and not alive(app, other)
    assert [(r.getMessage(), r.count, r.ip) for r in audit_lines] == [("session.ended", 1, "192.0.2.7")]


def test_a_hook_that_raises_does_not_stop_the_others(app, hooks, sign_in, caplog):
    def broken(ended: EndedSession) -> None:
        raise RuntimeError("the SP's metadata vanished\n  on a second line")

    app.extensions["gateway.logout_hooks"].insert(0, broken)
    sids = [sign_in("camille"), sign_in("camille")]
    with app.app_context(), caplog.at_level(logging.INFO, logger="gateway"):
        assert end_account_sessions("camille", reason="account.disabled") == 2
    assert sorted(ended.sid for ended in hooks) == sorted(sids)
    failures = [r for r in caplog.records if r.name == "gateway" and r.levelno >= logging.WARNING]
    assert len(failures) == 2  # one line per session the hook failed for
    for record in failures:
        assert record.exc_info is None and record.stack_info is None
        message = record.getMessage()
        assert "\n" not in message and "broken" in message and "RuntimeError" in message


def test_two_sessions_ended_in_one_request_each_get_their_own_context(app, hooks, sign_in):
    """No context lives in ``flask.g``: an ending inside a hook, and a second ending under the same
    application context (``g`` is shared: a nested request), each see only the values they were given."""
    first, nested, second = sign_in("camille"), sign_in("dominique"), sign_in("lea")

    def end_another_account(ended: EndedSession) -> None:
        if ended.sid == first:
            assert end_account_sessions("dominique", reason="account.disabled") == 1

    on_session_end(app, end_another_account)
    with browser_of(app, first):
        end_this_session(initiator=SP_REQUEST, return_to=RP_AFTER, reason="slo")
        with browser_of(app, second):
            ended = end_this_session(return_to="https://rp2.univ-exemple.fr/", reason="end_session")
            assert ended.account_id == "lea"
    assert [(e.sid, e.browser, e.initiator, e.return_to, e.reason) for e in hooks] == [
        (first, True, SP_REQUEST, RP_AFTER, "slo"),
        (nested, False, None, None, "account.disabled"),
        (second, True, None, "https://rp2.univ-exemple.fr/", "end_session"),
    ]


def test_the_core_ends_sessions_without_flask(sessions):
    """``gateway.identity.logout`` itself: its collaborators passed as one value, no app, no request."""
    def open_session(account_id: str) -> str:
        sid, data = new_session_id(), {"_user_id": account_id}
        sessions.authenticate(data, account_id, ("pwd",), remember=False, ip="192.0.2.1", user_agent="test")
        assert sessions.save(sid, data, new=True)
        sessions.index(account_id, sid)
        return sid

    seen: list[EndedSession] = []
    audited: list[tuple[str, dict]] = []
    ending = logout.Ending(sessions, (seen.append,), lambda event, **fields: audited.append((event, fields)))
    browser, other = open_session("camille"), open_session("camille")
    record = sessions.load(browser)
    assert logout.end_this_session(ending, browser, record, reason="logout") == Ended("camille", None)
    assert logout.end_account_sessions(ending, "camille", reason="account.disabled") == 1
    assert [(e.sid, e.browser, e.reason) for e in seen] == [(browser, True, "logout"),
                                                              (other, False, "account.disabled")]
    assert sessions.load(browser) is None and sessions.load(other) is None
    assert audited == [("logout", {"account": "camille", "reason": "logout", "ip": "unknown"}),
                       ("session.ended", {"account": "camille", "count": 1, "reason": "account.disabled"})]
