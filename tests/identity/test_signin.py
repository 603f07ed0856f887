"""The sign-in rules (gateway.identity.signin) against real Redis, without Flask or an HTTP server.

The HTTP tests (tests/web) prove the pages; these prove the rules take their
collaborators and the request's facts as values: identify's kinds, a wrong
password's growing delay, a code checked once, activation setting the password;
and the rules of "Mes informations": an added address joins only once its code
comes back, the last confirmed address stays, one other session ended by its reference.
"""
from __future__ import annotations

import pytest

from gateway.accounts.codes import Codes, InvalidCode
from gateway.accounts.directory import Directory
from gateway.accounts.models import Account, Email
from gateway.accounts.passwords import Passwords
from gateway.config import CodeSettings, LimitSettings, PasswordSettings
from gateway.identity.devices import KnownDevices
from gateway.identity.models import CODE
from gateway.identity.ratelimits import RateLimits
from gateway.identity.sessions import SessionStore
from gateway.identity.signin import account_addresses, account_sessions, address, codes, password
from gateway.identity.signin.context import Collaborators, Facts
from gateway.identity.signin.errors import (
    AddressNotConfirmed,
    AddressUnavailable,
    LastConfirmedAddress,
    TooManyAttempts,
    WrongPassword,
)
from gateway.identity.throttle import Throttle

SECRET = "s" * 32


class Links:
    def code(self, purpose: str, flow: str, code: str) -> str:
        return f"https://gw.example/{purpose}/{flow}?code={code}"

    def reset(self, token: str) -> str:
        return f"https://gw.example/reset/{token}"

    def address(self, flow: str, code: str) -> str:
        return f"https://gw.example/account/emails/verify/{flow}?code={code}"

    def forgot(self) -> str:
        return "https://gw.example/login/forgot"


class EndSessions:
    """Ends sessions in the real session store (the app's version also runs the logout hooks)."""

    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions

    def __call__(self, account_id: str, except_sid: str | None, reason: str, only_sid: str | None = None) -> int:
        if only_sid is not None:
            return int(only_sid != except_sid and self.sessions.end(account_id, only_sid) is not None)
        return len(self.sessions.end_all(account_id, except_sid=except_sid))


@pytest.fixture
def sent() -> list[tuple]:
    """The mails the rules asked for (template, to, context); delivery is the mail package's, tested there."""
    return []


@pytest.fixture
def c(store, clock, sent, sessions) -> Collaborators:
    return Collaborators(
        directory=Directory(store), passwords=Passwords(PasswordSettings()), codes=Codes(store, SECRET),
        throttle=Throttle(store, LimitSettings(), clock), ratelimits=RateLimits(store, LimitSettings()),
        devices=KnownDevices(SECRET), code_settings=CodeSettings(),
        mail=lambda template, to, lang, **context: sent.append((template, to, context)), links=Links(),
        audit=lambda event, **fields: None, end_sessions=EndSessions(sessions), sessions=sessions, secret_key=SECRET,
        clock=clock,
    )


def make(c: Collaborators, account_id: str, email: str, *, verified: bool = True, secret: str | None = None,
         status: str = "active") -> Account:
    account = c.directory.create(Account(id=account_id, emails=(Email(email, verified=verified),), status=status))
    if secret is not None:
        account = c.directory.set_password_hash(account_id, c.passwords.hash(secret))
    return account


FACTS = Facts(client="192.0.2.7")


def test_identify_names_the_way_on_for_each_state(c):
    make(c, "u1", "active@example.org", secret="correct horse battery")
    make(c, "u2", "unverified@example.org", verified=False, secret="correct horse battery")
    make(c, "u3", "new@example.org", verified=False, status="provisioned")
    make(c, "u4", "gone@example.org", status="disabled")
    kinds = {raw: address.identify(c, FACTS, raw).kind for raw in (
        " Active@Example.org", "unverified@example.org", "new@example.org", "gone@example.org", "who@example.org")}
    assert kinds == {" Active@Example.org": "password", "unverified@example.org": "password",
                     "new@example.org": "activate", "gone@example.org": "disabled", "who@example.org": "unknown"}
    found = address.identify(c, FACTS, "active@example.org")
    assert (found.pending.account_id, found.pending.email) == ("u1", "active@example.org")
    assert address.identify(c, FACTS, "gone@example.org").pending is None


def test_a_wrong_password_delays_the_next_try_even_the_right_one(c, clock):
    account = make(c, "u1", "a@example.org", secret="correct horse battery")
    for n in range(LimitSettings().throttle_pair):  # the free tries of this (account, client)
        with pytest.raises(WrongPassword):
            password.check_password(c, FACTS, account, "a@example.org", f"wrong guess {n}", False)
    with pytest.raises(TooManyAttempts) as refused:
        password.check_password(c, FACTS, account, "a@example.org", "correct horse battery", False)
    assert refused.value.wait > 0
    clock.advance(refused.value.wait)
    proven = password.check_password(c, FACTS, account, "a@example.org", "correct horse battery", False)
    assert proven.account_id == "u1" and proven.device_cookie


def test_a_code_is_checked_once(c, sent):
    account = make(c, "u1", "a@example.org", secret="correct horse battery")
    flow = codes.send_code(c, FACTS, "signin", account, "a@example.org")
    (template, to, context), = sent
    assert (template, to) == ("signin_code", "a@example.org")
    here = Facts(client="192.0.2.7", flow=flow)
    proven = codes.sign_in_with_code(c, here, flow.id, context["code"], remember=False)
    assert (proven.account_id, proven.methods) == ("u1", (CODE,))
    with pytest.raises(InvalidCode):
        codes.sign_in_with_code(c, here, flow.id, context["code"], remember=False)


def test_activation_sets_the_password_and_the_account_is_active(c, sent):
    account = make(c, "u1", "new@example.org", verified=False, status="provisioned")
    flow = codes.send_code(c, FACTS, "activation", account, "new@example.org")
    here = Facts(client="192.0.2.7", flow=flow)
    codes.activate(c, here, flow.id, sent[0][2]["code"], "a long new passphrase", remember=False)
    active = c.directory.get("u1")
    assert active.status == "active" and active.email("new@example.org").verified
    assert c.passwords.verify(active.password_hash, "a long new passphrase")


def test_an_ended_link_says_what_happened_without_spending_or_sending(c, sent):
    account = make(c, "u1", "new@example.org", verified=False, status="provisioned")
    flow = codes.send_code(c, FACTS, "activation", account, "new@example.org")
    assert codes.ended_link(c, "activation", flow.id) is None  # open: its form
    replaced = codes.send_code(c, FACTS, "activation", account, "new@example.org")
    ended = codes.ended_link(c, "activation", flow.id)
    assert (ended.kind, ended.address, ended.shown_as) == ("ended", "new@example.org", "n***w@example.org")
    codes.activate(c, Facts(client="192.0.2.7", flow=replaced), replaced.id, sent[-1][2]["code"],
                   "a long new passphrase", remember=False)
    assert codes.ended_link(c, "activation", replaced.id).kind == "activated"
    assert codes.ended_link(c, "activation", flow.id).kind == "activated"
    assert codes.ended_link(c, "activation", "no-such-flow") == codes.EndedLink("unknown", "activation")
    c.directory.disable("u1")
    assert codes.ended_link(c, "activation", flow.id).kind == "unknown"  # nothing to offer any more
    assert len(sent) == 2


# -- "Mes informations" ----------------------------------------------------------------------

def test_an_added_address_joins_only_once_its_code_comes_back(c, sent):
    account = make(c, "u1", "a@example.org", secret="correct horse battery")
    make(c, "u2", "b@example.org")
    with pytest.raises(AddressUnavailable):  # another account's address: nothing mailed
        account_addresses.add_address(c, FACTS, account, "b@example.org")
    flow = account_addresses.add_address(c, FACTS, account, " New@Example.org")
    (template, to, context), = sent
    assert (template, to, flow.email) == ("verify_email", "new@example.org", "new@example.org")
    assert c.directory.get("u1").email("new@example.org") is None  # nothing reserved before the code
    assert c.directory.owner_of("new@example.org") is None
    assert account_addresses.verify_address(c, FACTS, account, flow.id, context["code"]) == "new@example.org"
    assert c.directory.get("u1").email("new@example.org").verified
    with pytest.raises(InvalidCode):  # spent
        account_addresses.verify_address(c, FACTS, account, flow.id, context["code"])


def test_the_last_confirmed_address_stays_and_only_a_confirmed_one_is_primary(c):
    make(c, "u1", "a@example.org", secret="correct horse battery")
    account = c.directory.add_email("u1", "unconfirmed@example.org")
    with pytest.raises(AddressNotConfirmed):
        account_addresses.make_primary(c, FACTS, account, "unconfirmed@example.org")
    with pytest.raises(LastConfirmedAddress) as refused:
        account_addresses.remove_address(c, FACTS, account, "a@example.org")
    assert not refused.value.only
    account = account_addresses.remove_address(c, FACTS, account, "unconfirmed@example.org")
    with pytest.raises(LastConfirmedAddress) as refused:
        account_addresses.remove_address(c, FACTS, account, "a@example.org")
    assert refused.value.only
    assert c.directory.get("u1").addresses == ("a@example.org",)


def sign_in(sessions: SessionStore, account_id: str, sid: str) -> None:
    data: dict = {}
    sessions.authenticate(data, account_id, ("pwd",), remember=False, ip="192.0.2.7", user_agent="Firefox/1")
    assert sessions.save(sid, data, new=True)
    sessions.index(account_id, sid)


def test_one_other_session_ends_by_its_reference_never_this_one_nor_anothers(c, sessions):
    make(c, "u1", "a@example.org")
    make(c, "u2", "b@example.org")
    for account_id, sid in (("u1", "here"), ("u1", "phone"), ("u1", "laptop"), ("u2", "theirs")):
        sign_in(sessions, account_id, sid)
    here = Facts(client="192.0.2.7", session_id="here")
    assert not account_sessions.end_session(c, here, "u1", account_sessions.session_ref(c, "here"))
    assert not account_sessions.end_session(c, here, "u1", account_sessions.session_ref(c, "theirs"))
    assert not account_sessions.end_session(c, here, "u1", "phone")  # the id itself is no reference
    assert account_sessions.end_session(c, here, "u1", account_sessions.session_ref(c, "phone"))
    assert {s.session_id for s in sessions.list_for("u1")} == {"here", "laptop"}
    assert account_sessions.end_other_sessions(c, here, "u1") == 1
    assert [s.session_id for s in sessions.list_for("u1")] == ["here"]
    assert [s.session_id for s in sessions.list_for("u2")] == ["theirs"]
