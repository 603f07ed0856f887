"""The password step against the real Redis: what it asks of Redis (read with MONITOR), and its last
check once the (slow) hash matched — an account disabled, or given another password, while its hash
was being checked is not signed in."""
from __future__ import annotations

import json

import pytest

from bench.meter import monitored, sent_and_scripted
from gateway.accounts.passwords import Passwords
from gateway.config import PasswordSettings
from gateway.identity.flaskglue.logout import end_account_sessions
from gateway.store import Store, key
from tests.conftest import PASSWORD, Browser

EMAIL = "camille@univ-exemple.fr"


class MeanwhileHasher:
    """The app's argon2 hasher; once a verify has matched, ``meanwhile()`` runs before the answer (what
    another request — support, SCIM, a reset in another tab — may do while the hash is checked)."""

    def __init__(self, hasher, meanwhile) -> None:
        self.hasher, self.meanwhile = hasher, meanwhile

    def verify(self, password_hash, password):
        matched = self.hasher.verify(password_hash, password)
        self.meanwhile()
        return matched

    def __getattr__(self, name):
        return getattr(self.hasher, name)


@pytest.fixture
def camille(make_account):
    return make_account(EMAIL)


def redis_url(redis_client) -> str:
    where = redis_client.connection_pool.connection_kwargs
    return f"redis://{where['host']}:{where['port']}/{where.get('db', 0)}"


def signed_in_sessions(redis_client, account_id: str) -> set[str]:
    return set(redis_client.smembers(key("account-sessions", account_id)))


def test_a_password_sign_in_reads_once_before_the_hash_and_writes_once_after(app, browser, camille,
                                                                            redis_client):
    Browser(app.test_client()).sign_in(EMAIL)  # another browser: every script loaded (once per Redis)
    page = browser.get("/login")
    browser.submit("/login", {"email": EMAIL}, page=page)
    password_page = browser.get("/login/password")
    with monitored(redis_url(redis_client)) as seen:
        answer = browser.submit("/login/password", {"password": PASSWORD}, page=password_page)
    assert answer.status_code == 302 and answer.location.endswith("/account")
    sent, inside = sent_and_scripted(seen)
    # before the hash: the session; the account with the throttle's counters (pair, account, client) in
    # one pipeline; the per-client limit (the limits library: a script per window). After: the account
    # checked again with the hash that matched, the session under its new id and the history entry
    # written by the same script: one round trip
    assert sent == ["GET", "HGETALL", "HMGET", "HMGET", "HMGET", "EVALSHA", "EVALSHA", "EVALSHA"], sent
    # the limit's counters; the account's status and hash, the type of the index and the history's list
    # (a key of another type fails the step before it writes), then the old record deleted, the new one
    # written and indexed, with the index's and the SPs' record's TTL (every write of a signed-in
    # session renews it), the history entry pushed, the list capped, its TTL renewed
    assert inside == ["INCRBY", "INCRBY", "HMGET", "TYPE", "TYPE", "TYPE", "DEL", "SET", "SADD", "EXPIRE",
                      "EXPIRE", "LPUSH", "LTRIM", "EXPIRE"], inside
    assert browser.signed_in()


def test_an_account_disabled_while_its_hash_is_checked_is_not_signed_in(app, browser, camille, redis_client,
                                                                        monkeypatch):
    passwords = app.extensions["gateway.passwords"]
    directory = app.extensions["gateway.directory"]
    monkeypatch.setattr(passwords, "hasher",
                        MeanwhileHasher(passwords.hasher, lambda: directory.disable(camille.id)))
    answer = browser.sign_in(EMAIL)
    assert answer.status_code == 302 and answer.location.endswith("/login")
    assert not browser.signed_in()
    assert not signed_in_sessions(redis_client, camille.id)
    page = browser.submit("/login", {"email": EMAIL}, form_page="/login").get_data(as_text=True)
    assert "Ce compte est désactivé." in page


def test_the_old_password_does_not_sign_in_once_another_was_set_during_its_check(app, browser, camille,
                                                                                 redis_client, monkeypatch):
    passwords = app.extensions["gateway.passwords"]
    directory = app.extensions["gateway.directory"]
    new_hash = passwords.hash("another password, set by a reset meanwhile")
    monkeypatch.setattr(passwords, "hasher", MeanwhileHasher(
        passwords.hasher, lambda: directory.set_password_hash(camille.id, new_hash)))
    answer = browser.sign_in(EMAIL)  # the old password, right when the check began
    assert answer.status_code == 302 and answer.location.endswith("/login")
    assert not browser.signed_in()
    assert not signed_in_sessions(redis_client, camille.id)
    assert directory.get(camille.id).password_hash == new_hash


def test_a_right_password_still_clears_the_accounts_failures(app, browser, camille, redis_client):
    for n in range(2):
        assert browser.sign_in(EMAIL, f"wrong guess {n}").status_code == 200
    failures = redis_client.keys(key("throttle", "*"))
    assert key("throttle", "account", camille.id) in failures
    assert browser.submit("/login/password", {"password": PASSWORD}).status_code == 302
    left = set(redis_client.keys(key("throttle", "*")))
    assert left == {k for k in failures if k.startswith(key("throttle", "client", ""))}  # the client's stay
    assert browser.signed_in()


def test_a_hash_made_with_other_parameters_is_rehashed_and_the_sign_in_goes_on(app, browser, make_account,
                                                                                 redis_client):
    older = Passwords(PasswordSettings(time_cost=2, memory_cost=2048, parallelism=1)).hash(PASSWORD)
    account = make_account(EMAIL, password_hash=older)
    answer = browser.sign_in(EMAIL)
    assert answer.status_code == 302 and answer.location.endswith("/account")
    assert browser.signed_in()
    rehashed = app.extensions["gateway.directory"].get(account.id).password_hash
    assert rehashed != older and not app.extensions["gateway.passwords"].needs_rehash(rehashed)
    assert len(signed_in_sessions(redis_client, account.id)) == 1


def session_id(browser) -> str:
    return browser.client.get_cookie("uness_session").value


def test_the_session_the_step_writes_is_under_a_new_id_indexed_and_remembered(app, browser, camille,
                                                                              redis_client):
    browser.submit("/login", {"email": EMAIL}, form_page="/login")
    before = session_id(browser)
    answer = browser.submit("/login/password", {"password": PASSWORD, "remember": "y"})
    assert answer.status_code == 302 and answer.location.endswith("/account")
    after = session_id(browser)
    assert after != before and redis_client.get(key("session", before)) is None  # no fixation
    assert signed_in_sessions(redis_client, camille.id) == {after}  # end_account_sessions finds it
    days = app.extensions["gateway.settings"].sessions.remember_days * 86400
    assert days - 60 <= redis_client.ttl(key("session", after)) <= days
    assert browser.signed_in()
    with app.app_context():  # what a password change elsewhere, SCIM or support call
        assert end_account_sessions(camille.id, reason="account.disabled") == 1
    assert redis_client.get(key("session", after)) is None and not browser.signed_in()


def meanwhile(app, account_id: str, what: str):
    """What happens to the account during its hash: disabled, or its record removed."""
    if what == "disabled":
        return lambda: app.extensions["gateway.directory"].disable(account_id)
    return lambda: app.extensions["gateway.store"].redis.delete(Store.user_key(account_id))


@pytest.mark.parametrize("what", ["disabled", "removed"])
def test_a_sign_in_refused_after_its_hash_keeps_the_browsers_session_as_it_was(app, browser, camille,
                                                                              redis_client, monkeypatch,
                                                                              what):
    passwords = app.extensions["gateway.passwords"]
    monkeypatch.setattr(passwords, "hasher",
                        MeanwhileHasher(passwords.hasher, meanwhile(app, camille.id, what)))
    browser.submit("/login", {"email": EMAIL}, form_page="/login")
    before = session_id(browser)
    kept = redis_client.get(key("session", before))
    answer = browser.submit("/login/password", {"password": PASSWORD, "remember": "y"})
    assert answer.status_code == 302 and answer.location.endswith("/login")
    assert "uness_session=" not in " ".join(answer.headers.getlist("Set-Cookie"))  # no new id handed out
    assert "uness_device=" not in " ".join(answer.headers.getlist("Set-Cookie"))
    assert session_id(browser) == before and redis_client.get(key("session", before)) == kept
    assert [k for k in redis_client.keys(key("session", "*"))] == [key("session", before)]
    assert not signed_in_sessions(redis_client, camille.id)


def test_a_refused_sign_in_as_another_account_leaves_the_browser_signed_in_as_before(
        app, browser, camille, make_account, redis_client, monkeypatch):
    """Signed in as one account, the browser signs in as another (SAML ForceAuthn, OIDC prompt=login), which
    is disabled during its hash: still the first account, under the same id, its record and parties as
    they were; Flask-Login's user of the next request is the first account's, never the refused one."""
    make_account("dominique@univ-exemple.fr", account_id="dominique")
    assert browser.sign_in("dominique@univ-exemple.fr").status_code == 302
    before = session_id(browser)
    redis_client.hset(key("session-parties", before), "saml|https://sp.example.org", "{}")
    passwords = app.extensions["gateway.passwords"]
    monkeypatch.setattr(passwords, "hasher", MeanwhileHasher(passwords.hasher,
                                                             meanwhile(app, camille.id, "disabled")))
    browser.submit("/login", {"email": EMAIL}, form_page="/login?force=1")
    kept = redis_client.get(key("session", before))
    answer = browser.submit("/login/password", {"password": PASSWORD})
    assert answer.status_code == 302 and answer.location.endswith("/login")
    assert "uness_session=" not in " ".join(answer.headers.getlist("Set-Cookie"))
    assert session_id(browser) == before and redis_client.get(key("session", before)) == kept
    assert redis_client.hgetall(key("session-parties", before)) == {"saml|https://sp.example.org": "{}"}
    assert signed_in_sessions(redis_client, "dominique") == {before}
    assert not redis_client.exists(key("account-sessions", camille.id))
    assert sign_ins(redis_client, camille.id) == []
    account_page = browser.text(browser.get("/account"))
    assert "dominique@univ-exemple.fr" in account_page and EMAIL not in account_page


def test_a_redis_error_in_the_last_check_signs_nobody_in(app, browser, camille, redis_client, monkeypatch):
    """The account's record replaced by a value of another type while the hash is checked: the script
    fails (WRONGTYPE) before writing anything, the answer is the error page, and no session is signed in."""
    passwords = app.extensions["gateway.passwords"]
    account_key = Store.user_key(camille.id)
    assert redis_client.type(account_key) == "hash"

    def break_the_account() -> None:
        redis_client.delete(account_key)
        redis_client.set(account_key, "not a hash", ex=60)

    monkeypatch.setattr(passwords, "hasher", MeanwhileHasher(passwords.hasher, break_the_account))
    browser.submit("/login", {"email": EMAIL}, form_page="/login")
    before = session_id(browser)
    answer = browser.submit("/login/password", {"password": PASSWORD})
    assert answer.status_code == 500 and "Traceback" not in browser.text(answer)
    assert session_id(browser) == before
    assert [k for k in redis_client.keys(key("session", "*"))] == [key("session", before)]
    assert not signed_in_sessions(redis_client, camille.id)
    redis_client.delete(account_key)
    assert not browser.signed_in()


@pytest.mark.parametrize("broken", ["history", "account-sessions"])
def test_a_key_of_another_type_fails_the_last_check_before_it_writes_anything(app, browser, camille,
                                                                             redis_client, broken):
    """A script is not rolled back when one of its commands fails: the account's history (a list) or its
    sessions' index (a set) holding another type fails the step before its first write — no session
    under a new id, no index entry, no history entry, the failures not cleared, the old record kept."""
    assert browser.sign_in(EMAIL, "a wrong guess").status_code == 200
    failures = set(redis_client.keys(key("throttle", "*")))
    redis_client.set(key(broken, camille.id), "another type")
    before = session_id(browser)
    kept = redis_client.get(key("session", before))
    answer = browser.submit("/login/password", {"password": PASSWORD}, form_page="/login/password")
    assert answer.status_code == 500 and "Traceback" not in browser.text(answer)
    assert answer.headers.getlist("Set-Cookie") == []  # no new session id, no known-device cookie
    assert session_id(browser) == before and redis_client.get(key("session", before)) == kept
    assert redis_client.keys(key("session", "*")) == [key("session", before)]
    assert set(redis_client.keys(key("throttle", "*"))) == failures
    assert redis_client.get(key(broken, camille.id)) == "another type"
    if broken == "history":
        assert not redis_client.exists(key("account-sessions", camille.id))
    else:
        assert sign_ins(redis_client, camille.id) == []
    assert not browser.signed_in()


def test_what_a_browser_sends_reaches_the_last_check_as_values_only(app, camille, redis_client):
    """The user agent goes into the session and the history entry the last check writes: shaped as the
    script's own list of writes (a count, a command, a key), it stays a value, kept as sent."""
    crafted = f"0 DEL {Store.user_key(camille.id)} 1 SET {key('session', 'planted')} x') redis.call('FLUSHALL"
    attacker = Browser(app.test_client())
    attacker.client.environ_base["HTTP_USER_AGENT"] = crafted
    assert attacker.sign_in(EMAIL).status_code == 302 and attacker.signed_in()
    assert app.extensions["gateway.directory"].get(camille.id).status == "active"
    assert not redis_client.exists(key("session", "planted"))
    record = json.loads(redis_client.get(key("session", session_id(attacker))))
    assert record["_auth"]["ua"] == crafted and sign_ins(redis_client, camille.id)[0]["agent"] == crafted


def sign_ins(redis_client, account_id: str) -> list[dict]:
    entries = [json.loads(raw) for raw in redis_client.lrange(key("history", account_id), 0, -1)]
    return [e for e in entries if e["event"] == "login.succeeded"]


def test_the_step_writes_the_sign_ins_history_entry_once_as_the_audit_hook_would(app, camille, redis_client):
    laptop = Browser(app.test_client())
    laptop.client.environ_base["HTTP_USER_AGENT"] = "Laptop/1.0"
    assert laptop.sign_in(EMAIL).status_code == 302
    first = sign_ins(redis_client, camille.id)
    assert len(first) == 1
    assert {k: v for k, v in first[0].items() if k != "at"} == {
        "event": "login.succeeded", "ip": "127.0.0.1", "agent": "Laptop/1.0", "known_device": False,
        "methods": ["pwd"]}
    laptop.submit("/logout", form_page="/logout")
    assert laptop.sign_in(EMAIL).status_code == 302  # again: the browser is now a known device
    again = sign_ins(redis_client, camille.id)
    assert len(again) == 2 and again[0]["known_device"] is True and len(again[0]["device"]) == 8
    assert again[1] == first[0]


def test_a_refused_step_writes_no_sign_in_to_the_history(app, browser, camille, redis_client, monkeypatch):
    passwords = app.extensions["gateway.passwords"]
    directory = app.extensions["gateway.directory"]
    monkeypatch.setattr(passwords, "hasher",
                        MeanwhileHasher(passwords.hasher, lambda: directory.disable(camille.id)))
    assert browser.sign_in(EMAIL).location.endswith("/login")
    assert sign_ins(redis_client, camille.id) == []


def test_the_page_of_a_wrong_password_carries_a_token_for_the_next_try(browser, camille):
    wrong = browser.sign_in(EMAIL, "not the password")
    assert wrong.status_code == 200 and "Mot de passe incorrect." in browser.text(wrong)
    answer = browser.submit("/login/password", {"password": PASSWORD}, page=wrong)
    assert answer.status_code == 302 and answer.location.endswith("/account")
    assert browser.signed_in()


def test_a_password_posted_without_the_pages_token_is_refused(browser, camille, redis_client):
    page = browser.get("/login")
    browser.submit("/login", {"email": EMAIL}, page=page)
    for token in ({}, {"csrf_token": "forged"}):
        answer = browser.post("/login/password", {"password": PASSWORD, **token})
        assert answer.status_code == 400 and "Page expirée" in browser.text(answer)
    assert not signed_in_sessions(redis_client, camille.id) and not browser.signed_in()
