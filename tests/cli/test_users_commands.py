"""``gateway users add|show|disable|add-email|remove-email|set-password``."""
from __future__ import annotations

import json

import pytest
from click.testing import _NamedTextIOWrapper

from .conftest import audit_events

GOOD_PASSWORD = "correct horse battery staple"


@pytest.fixture
def jean(run) -> str:
    """A provisioned account with two unverified addresses; its id."""
    result = run("users", "add", "--email", "Jean.Dupont@Example.fr", "--email", "jd@example.org",
                 "--given-name", "Jean", "--family-name", "Dupont", "--affiliation", "staff",
                 "--affiliation", "member", "--establishment", "{UAI}0751717J", "--eppn", "jdupont@univ.fr",
                 "--legacy-id", "https://sp.example.org/shibboleth=AbC+/x==")
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_add_creates_a_provisioned_account(run, accounts, jean):
    account = accounts.get(jean)
    assert account.addresses == ("jean.dupont@example.fr", "jd@example.org")
    assert account.verified_addresses == () and account.status == "provisioned"
    assert account.affiliations == ("staff", "member")
    assert account.legacy_ids == {"https://sp.example.org/shibboleth": "AbC+/x=="}


def test_add_with_an_id_and_audit(run, accounts):
    result = run("users", "add", "--email", "x@example.fr", "--id", "acct-x")
    assert result.stdout == "acct-x\n"
    assert audit_events(result.stderr) == ["account.created"]
    assert json.loads(result.stderr.splitlines()[-1])["source"] == "cli"


@pytest.mark.parametrize("args, message", [
    (["--email", "JD@example.org"], "gateway: jd@example.org already belongs to another account"),
    (["--email", "new@example.fr", "--email", "jd@example.org"],
     "gateway: jd@example.org already belongs to another account"),
    (["--email", "nobody"], "gateway: emails: 'nobody' is not a valid address (expected name@domain)"),
    (["--email", "n@example.fr", "--affiliation", "wizard"], "gateway: affiliations: 'wizard' is not one of"),
    (["--email", "n@example.fr", "--legacy-id", "no-equals"],
     "gateway: --legacy-id: expected ENTITYID=IDENTIFIER"),
    (["--email", "n@example.fr", "--eppn", "nope"], "gateway: eppn: expected user@scope"),
])
def test_add_refuses_with_one_line(run, accounts, jean, args, message):
    result = run("users", "add", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1
    assert accounts.count() == 1 and accounts.owner_of("new@example.fr") is None


def test_add_with_an_id_in_use(run, accounts, jean):
    result = run("users", "add", "--email", "other@example.fr", "--id", jean)
    assert result.exit_code == 1 and result.stderr == f"gateway: account {jean} exists already\n"


def test_show_by_secondary_address(run, jean):
    result = run("users", "show", "JD@Example.org")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id:", jean]
    assert "emails:        jean.dupont@example.fr (primary, unverified)" in lines
    assert "               jd@example.org (unverified)" in lines
    assert "legacy ids:    https://sp.example.org/shibboleth = AbC+/x==" in lines
    assert "password:      not set" in lines and "affiliations:  staff, member" in lines


def test_show_never_prints_the_hash(run, accounts, jean):
    run("users", "set-password", jean, input=GOOD_PASSWORD + "\n")
    text = run("users", "show", jean).stdout
    assert "password:      set" in text and "$argon2" not in text
    record = json.loads(run("users", "show", "--json", jean).stdout)
    assert "password_hash" not in record and record["id"] == jean and record["status"] == "active"


@pytest.mark.parametrize("ref", ["nobody@example.fr", "no-such-id", "not an address@"])
def test_show_unknown(run, accounts, ref):
    result = run("users", "show", ref)
    assert result.exit_code == 1 and result.stderr == f"gateway: no account for {ref}\n"


def test_disable(run, accounts, jean, redis_client):
    """Disabling ends the account's SSO sessions too (the protocols' logout hooks run)."""
    from gateway.config import SessionSettings
    from gateway.identity.sessions import SessionStore, new_session_id
    from gateway.store import Store

    sessions = SessionStore(Store(redis_client), SessionSettings())
    sid, data = new_session_id(), {}
    sessions.authenticate(data, jean, ("pwd",), remember=False, ip="127.0.0.1", user_agent="test")
    sessions.save(sid, data, new=True)
    sessions.index(jean, sid)
    result = run("users", "disable", "jd@example.org")
    assert result.exit_code == 0 and result.stdout == f"account {jean} disabled; 1 session(s) ended\n"
    assert sessions.load(sid) is None
    assert audit_events(result.stderr) == ["account.disabled", "session.ended"]
    assert accounts.get(jean).status == "disabled"
    again = run("users", "disable", jean)
    assert again.exit_code == 0 and "already disabled" in again.stdout and audit_events(again.stderr) == []


def test_add_email_and_remove_email(run, accounts, jean):
    # audited as the pages audit it (email.added), inside the app: the person's history keeps it
    added = run("users", "add-email", jean, "Third@Example.net", "--verified")
    assert added.exit_code == 0 and audit_events(added.stderr) == ["email.added"]
    assert accounts.get(jean).email("third@example.net").verified
    assert accounts.find_by_email("third@example.net").id == jean
    assert "already an address" in run("users", "add-email", jean, "third@example.net").stdout

    removed = run("users", "remove-email", "third@example.net", "jean.dupont@example.fr")
    assert removed.exit_code == 0, removed.stderr
    assert accounts.get(jean).addresses == ("jd@example.org", "third@example.net")
    assert accounts.find_by_email("jean.dupont@example.fr") is None

    last = run("users", "remove-email", jean, "third@example.net")
    assert last.exit_code == 1
    assert last.stderr == "gateway: third@example.net is the last verified address of the account\n"
    assert accounts.find_by_email("third@example.net").id == jean


def test_add_email_taken_and_remove_email_errors(run, accounts, jean):
    run("users", "add", "--email", "other@example.fr")
    taken = run("users", "add-email", jean, "other@example.fr")
    assert taken.exit_code == 1
    assert taken.stderr == "gateway: other@example.fr already belongs to another account\n"
    stranger = run("users", "remove-email", jean, "other@example.fr")
    assert stranger.exit_code == 1 and "is not an address of account" in stranger.stderr
    only = run("users", "remove-email", "other@example.fr", "other@example.fr")
    assert only.exit_code == 1 and "is the only address" in only.stderr
    invalid = run("users", "add-email", jean, "not-an-address")
    assert invalid.exit_code == 1 and len(invalid.stderr.splitlines()) == 1


@pytest.mark.parametrize("password, problems", [
    ("short", ["too short (use at least 12 characters)"]),
    ("azertyuiop123", ["too common (it is in lists of common or breached passwords)"]),
    ("Jean.Dupont@Example.fr", ["it is an address of the account, or the part before the @"]),
    ("", ["too short (use at least 12 characters)"]),
])
def test_set_password_refuses_weak_passwords(run, accounts, jean, password, problems):
    result = run("users", "set-password", jean, input=password + "\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"gateway: password refused: {p}" for p in problems]
    assert accounts.get(jean).password_hash == "" and accounts.get(jean).status == "provisioned"


def test_set_password_activates(run, accounts, passwords, jean):
    result = run("users", "set-password", "jd@example.org", input=GOOD_PASSWORD + "\nignored second line\n")
    assert result.exit_code == 0 and result.stdout == "password set; account active\n"
    assert audit_events(result.stderr) == ["account.password_set"]
    account = accounts.get(jean)
    assert account.status == "active"
    assert passwords.verify(account.password_hash, GOOD_PASSWORD)
    assert GOOD_PASSWORD not in result.output and "$argon2" not in result.output


def test_set_password_on_a_terminal_asks_twice(run, accounts, passwords, jean, monkeypatch):
    monkeypatch.setattr(_NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    result = run("users", "set-password", jean, input=f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.stdout and GOOD_PASSWORD not in result.stdout
    assert passwords.verify(accounts.get(jean).password_hash, GOOD_PASSWORD)


def test_set_password_without_input(run, accounts, jean):
    result = run("users", "set-password", jean, input="")
    assert result.exit_code == 1 and result.stderr.startswith("gateway: no password on stdin")


def test_set_password_keeps_a_disabled_account_disabled(run, accounts, jean):
    run("users", "disable", jean)
    result = run("users", "set-password", jean, input=GOOD_PASSWORD + "\n")
    assert result.exit_code == 0 and result.stdout == "password set; account disabled\n"
    assert accounts.get(jean).status == "disabled"


def test_set_password_unknown_account_asks_nothing(run, accounts):
    result = run("users", "set-password", "ghost@example.fr", input=GOOD_PASSWORD + "\n")
    assert result.exit_code == 1 and result.stderr == "gateway: no account for ghost@example.fr\n"
