"""Limits nobody can spend for someone else (issue 9, part 2), tried as an attacker would, over HTTP.

Each test performs the attack against the real app (Flask test client, real Redis
and SMTP sink), then checks that the person still gets in, that the attacker is
still refused, and that every refusal wrote a ``limit.refused`` audit line naming
the account. The last tests are the hospital case (issue 13, part 3): many people
behind one NAT address, with the limits of config/gateway.example.toml.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.identity.conftest import Clock
from tests.conftest import PASSWORD
from tests.web.test_protection import (
    ATTACKER_IP,
    EMAIL,
    OFFICE_IP,
    TOO_MANY,
    WRONG,
    browser_from,
    field_error,
    mails_to,
    too_many_minutes,
)

DEVICE = "uness_device"
HOME_IP, HOSPITAL_IP = "192.0.2.80", "198.51.100.200"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "gateway.example.toml"


@pytest.fixture
def camille(make_account):
    return make_account(EMAIL)


def refusals(records) -> list[dict]:
    return [{k: getattr(r, k, None) for k in ("rule", "account", "ip", "wait")}
            for r in records if r.getMessage() == "limit.refused"]


def example_limits() -> dict:
    """The [limits] table of config/gateway.example.toml, as an operator would deploy it."""
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["limits"]


# -- 1. the address step -----------------------------------------------------------------------

def test_hammering_an_address_refuses_only_the_hammering_client(app, camille, audit_events):
    attacker = browser_from(app, ATTACKER_IP)
    for _ in range(10):  # address_per_address_client: 10 a minute
        assert attacker.submit("/login", {"email": EMAIL}).status_code == 302
    for _ in range(5):
        page = attacker.submit("/login", {"email": EMAIL}).get_data(as_text=True)
        assert too_many_minutes(field_error(page, "email")) == 1
    victim = browser_from(app, OFFICE_IP)
    assert victim.submit("/login", {"email": EMAIL}).headers["Location"].endswith("/login/password")
    assert victim.submit("/login/password", {"password": PASSWORD}).status_code == 302
    assert victim.signed_in()
    assert too_many_minutes(attacker.submit("/login", {"email": EMAIL}).get_data(as_text=True)) == 1
    refused = refusals(audit_events)
    assert len(refused) == 6
    assert {(r["rule"], r["account"], r["ip"]) for r in refused} == {
        ("address_per_address_client", camille.id, ATTACKER_IP)}
    assert all(1 <= r["wait"] <= 60 for r in refused)


# -- 2. growing delays and known devices ---------------------------------------------------------

@pytest.fixture
def guessed(app, camille, make_account):
    """Camille signed in once at home (a known device), then 18 wrong passwords from 8 addresses, paced."""
    clock = Clock()
    throttle = app.extensions["gateway.throttle"]
    throttle.clock = clock
    home = browser_from(app, HOME_IP)
    assert home.sign_in(EMAIL).status_code == 302
    home.submit("/logout", form_page="/logout")
    for n in range(18):
        ip = f"203.0.113.{n % 8}"
        clock.advance(throttle.wait_seconds(camille.id, ip))  # paced: each guess waits out the delay
        page = browser_from(app, ip).sign_in(EMAIL, f"guess number {n}").get_data(as_text=True)
        assert WRONG in page, n
    return home


def test_known_device_signs_in_at_once_despite_distributed_guessing(app, camille, guessed, audit_events):
    fresh = browser_from(app, OFFICE_IP)
    page = fresh.sign_in(EMAIL, PASSWORD).get_data(as_text=True)
    assert too_many_minutes(field_error(page, "password")) >= 4  # the delays still slow guessing
    assert not fresh.signed_in()
    assert guessed.sign_in(EMAIL, PASSWORD).status_code == 302  # the owner's browser: at once
    assert guessed.signed_in()
    [refused] = refusals(audit_events)
    assert (refused["rule"], refused["account"], refused["ip"]) == ("throttle_account", camille.id, OFFICE_IP)
    assert refused["wait"] == 256  # 2 ** (18 failures - throttle_account)


def test_a_known_device_is_slowed_by_its_own_failures(app, camille, guessed):
    for n in range(5):  # throttle_pair: its own counter
        assert WRONG in guessed.sign_in(EMAIL, f"my typo {n}").get_data(as_text=True)
    assert TOO_MANY.search(guessed.sign_in(EMAIL, PASSWORD).get_data(as_text=True))


def test_forged_or_other_account_device_cookie_gives_nothing(app, camille, guessed, make_account,
                                                             audit_events):
    real = guessed.client.get_cookie(DEVICE).value
    forged = [real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"), "camille", real.split(".")[0]]
    for value in forged:
        browser = browser_from(app, ATTACKER_IP)
        browser.client.set_cookie(DEVICE, value)
        assert TOO_MANY.search(browser.sign_in(EMAIL, PASSWORD).get_data(as_text=True)), value
        assert not browser.signed_in()
    make_account("mallory@univ-exemple.fr")  # the attacker's own account: a valid cookie, for another account
    attacker = browser_from(app, ATTACKER_IP)
    assert attacker.sign_in("mallory@univ-exemple.fr").status_code == 302
    attacker.submit("/logout", form_page="/logout")
    assert attacker.client.get_cookie(DEVICE) is not None
    assert TOO_MANY.search(attacker.sign_in(EMAIL, PASSWORD).get_data(as_text=True))
    assert not attacker.signed_in()
    assert {r["account"] for r in refusals(audit_events)} == {camille.id}


# -- 3. mail quotas --------------------------------------------------------------------------------

def test_mail_flood_from_one_client_leaves_the_persons_quota(app, camille, mailbox, audit_events):
    attacker = browser_from(app, ATTACKER_IP)
    attacker.submit("/login", {"email": EMAIL})
    for n in range(12):
        attacker.submit("/login/code/send" if n % 2 else "/login/reset", form_page="/login/password")
    assert len(mails_to(mailbox, EMAIL)) == 3  # mail_per_address_client: 3 per 10 minutes
    assert {(r["rule"], r["account"], r["ip"]) for r in refusals(audit_events)} == {
        ("mail_per_address_client", camille.id, ATTACKER_IP)}

    victim = browser_from(app, OFFICE_IP)
    victim.submit("/login", {"email": EMAIL})
    page = victim.submit("/login/reset", form_page="/login/password").get_data(as_text=True)
    assert not TOO_MANY.search(page)
    assert victim.client.get(mailbox.link(EMAIL)).status_code == 200  # a working reset link
    victim.submit("/login/code/send", form_page="/login/password")
    assert not TOO_MANY.search(victim.client.get("/login/code").get_data(as_text=True))
    assert victim.submit("/login/code", {"code": mailbox.code(EMAIL)}).status_code == 302
    assert victim.signed_in()
    assert len(mails_to(mailbox, EMAIL)) == 5


def test_the_ceiling_per_address_stops_a_distributed_flood(app, camille, mailbox, audit_events):
    for n in range(7):  # 7 clients, 3 mails each (their own quota): the 21st meets mail_per_address (20/hour)
        sender = browser_from(app, f"203.0.113.{n}")
        sender.submit("/login", {"email": EMAIL})
        for _ in range(3):
            sender.submit("/login/code/send", form_page="/login/password")
    assert len(mails_to(mailbox, EMAIL)) == 20
    assert too_many_minutes(sender.client.get("/login/code").get_data(as_text=True)) >= 1
    assert refusals(audit_events)[-1]["rule"] == "mail_per_address"
    assert refusals(audit_events)[-1]["account"] == camille.id


# -- 4. IPv6 ---------------------------------------------------------------------------------------

def test_ipv6_addresses_of_one_64_share_a_counter(app, camille, audit_events):
    for n in range(10):
        same_64 = browser_from(app, f"2001:db8:1:2::{n + 1:x}")
        assert same_64.submit("/login", {"email": EMAIL}).status_code == 302
    page = browser_from(app, "2001:db8:1:2:ffff:ffff:ffff:fffe").submit("/login", {"email": EMAIL})
    assert too_many_minutes(field_error(page.get_data(as_text=True), "email")) == 1
    assert browser_from(app, "2001:db8:1:3::1").submit("/login", {"email": EMAIL}).status_code == 302
    refused = [(r["rule"], r["account"]) for r in refusals(audit_events)]
    assert refused == [("address_per_address_client", camille.id)]


# -- 6. the hospital case ----------------------------------------------------------------------------

@pytest.fixture
def hospital(build, make_account):
    """The example configuration's limits, 300 active accounts (one cheap argon2 hash), a frozen clock."""
    app = build({"limits": example_limits()})
    app.extensions["gateway.throttle"].clock = Clock()
    password_hash = app.extensions["gateway.passwords"].hash(PASSWORD)
    for n in range(300):
        make_account(f"personne{n}@chu-exemple.fr", account_id=f"p{n}", password_hash=password_hash)
    return app


def test_three_hundred_people_sign_in_from_one_nat_address(hospital, audit_events):
    refused = 0
    for n in range(300):
        person = browser_from(hospital, HOSPITAL_IP)
        if n % 10 == 0:  # 10% type a wrong password first
            typo = person.sign_in(f"personne{n}@chu-exemple.fr", "pas le bon mot de passe")
            page = typo.get_data(as_text=True)
            refused += bool(TOO_MANY.search(page))
            response = person.submit("/login/password", {"password": PASSWORD})
        else:
            response = person.sign_in(f"personne{n}@chu-exemple.fr")
        refused += response.status_code != 302 or not person.signed_in()
    assert refused == 0
    assert refusals(audit_events) == []


def test_one_machine_still_cannot_farm_addresses_or_guess_passwords(hospital, audit_events):
    farmer = browser_from(hospital, ATTACKER_IP)
    for n in range(30):  # unknown_per_client: 30 a minute
        assert "Adresse email non reconnue" in farmer.submit(
            "/login", {"email": f"essai{n}@chu-exemple.fr"}).get_data(as_text=True)
    refused = farmer.submit("/login", {"email": "essai99@chu-exemple.fr"})
    assert TOO_MANY.search(refused.get_data(as_text=True))

    guesser = browser_from(hospital, "203.0.113.7")
    for n in range(5):  # throttle_pair: 5 guesses at one account, then delays
        assert WRONG in guesser.sign_in("personne0@chu-exemple.fr", f"guess {n}").get_data(as_text=True)
    assert TOO_MANY.search(guesser.sign_in("personne0@chu-exemple.fr", PASSWORD).get_data(as_text=True))

    sprayer = browser_from(hospital, "203.0.113.8")
    for n in range(1, 101):  # throttle_client: 100 wrong passwords over many accounts, then delays
        sprayed = sprayer.sign_in(f"personne{n}@chu-exemple.fr", "Printemps2024!")
        assert WRONG in sprayed.get_data(as_text=True)
    assert TOO_MANY.search(sprayer.sign_in("personne200@chu-exemple.fr", PASSWORD).get_data(as_text=True))
    rules = [r["rule"] for r in refusals(audit_events)]
    assert rules == ["unknown_per_client", "throttle_pair", "throttle_client"]
    assert refusals(audit_events)[1]["account"] == "p0" and refusals(audit_events)[2]["account"] == "p200"


def test_trusted_networks_have_their_own_ceilings(build, camille, make_account):
    app = build({"limits": {"address_per_client": "5/minute", "trusted_address_per_client": "50/minute",
                            "trusted_networks": ["198.51.100.0/24"]}})
    for n in range(20):
        make_account(f"interne{n}@chu-exemple.fr")
        assert browser_from(app, HOSPITAL_IP).sign_in(f"interne{n}@chu-exemple.fr").status_code == 302, n
    outside = browser_from(app, ATTACKER_IP)
    for _ in range(5):
        outside.submit("/login", {"email": EMAIL})
    assert TOO_MANY.search(outside.submit("/login", {"email": EMAIL}).get_data(as_text=True))
