"""Support journeys end to end: a person stuck, the operator's command, the person signed in.

Real Redis, a real SMTP server (stopped when the mail must not arrive), the pages
over the Flask test client, and ``gateway support …`` run in process as
tests/cli does (its own app from the environment, over the same Redis).
"""
from __future__ import annotations

import copy
import re

import pytest

from tests.cli.conftest import audit_events as cli_audit_events
from tests.fixtures_mail import run_mail_worker
from tests.identity.conftest import Clock
from tests.support.conftest import HELPDESK
from tests.conftest import PASSWORD
from tests.web.test_protection import TOO_MANY, WRONG, browser_from

EMAIL = "camille@univ-exemple.fr"
HOME_IP = "192.0.2.80"
NEW_PASSWORD = "une phrase de passe toute neuve"


@pytest.fixture
def camille(make_account):
    return make_account(EMAIL, display_name="Camille Martin")


def locked(app, camille) -> tuple[Clock, object]:
    """Camille mistyped her password 12 times at home, waiting out each delay: she is now delayed."""
    clock = Clock()
    throttle = app.extensions["gateway.throttle"]
    throttle.clock = clock
    person = browser_from(app, HOME_IP)
    person.submit("/login", {"email": EMAIL})
    for n in range(12):
        clock.advance(throttle.wait_seconds(camille.id, HOME_IP))
        page = person.submit("/login/password", {"password": f"pas le bon {n}"})
        assert WRONG in page.get_data(as_text=True)
    assert TOO_MANY.search(person.submit("/login/password", {"password": PASSWORD}).get_data(as_text=True))
    assert not person.signed_in()
    return clock, person


def test_a_person_locked_by_growing_delays_is_diagnosed_unblocked_and_signs_in(app, client, camille, run):
    clock, person = locked(app, camille)
    throttle = app.extensions["gateway.throttle"]

    said = run("support", "diagnose", EMAIL)
    assert said.exit_code == 0, said.output
    assert "Compte camille (Camille Martin) : actif." in said.stdout
    assert "Mots de passe refusés depuis l'adresse IP 192.0.2.80 : nouvel essai possible à" in said.stdout
    assert "Mots de passe refusés à la suite d'essais répétés" in said.stdout  # the account-wide counter
    assert "Mot de passe incorrect" in said.stdout  # the last events

    english = run("support", "diagnose", EMAIL, "--lang", "en")
    assert "Passwords refused from IP address 192.0.2.80: next try possible at" in english.stdout

    api = client.get(f"/support/v1/diagnose?address={EMAIL}", headers=HELPDESK).get_json()
    pair = next(r for r in api["reasons"] if r["code"] == "throttle_pair")
    assert pair["until"] == clock.now + throttle.wait_seconds(camille.id, HOME_IP)  # when it ends, exactly
    assert pair["whom"] == HOME_IP

    done = run("support", "unblock", EMAIL, "--operator", "Ana Lopes")
    assert done.exit_code == 0, done.output
    assert "support.unblocked" in cli_audit_events(done.stderr)
    assert '"operator": "Ana Lopes"' in done.stderr
    assert person.sign_in(EMAIL, PASSWORD).status_code == 302
    assert person.signed_in()
    cleared = client.get(f"/support/v1/diagnose?address={EMAIL}", headers=HELPDESK).get_json()
    assert [r["code"] for r in cleared["reasons"]] == ["ok"]


@pytest.fixture
def no_retry_app(make_mail_app, mail_config):
    """Mail tried once: a failure is final (its fate: failed)."""
    config = copy.deepcopy(mail_config)
    config["mail"]["retry_intervals"] = []
    return make_mail_app(config)


def test_a_person_whose_mail_never_arrived_signs_in_with_a_code_read_out(no_retry_app, smtp, make_account, run):
    app = no_retry_app
    dominique = make_account("dominique@chu-exemple.fr", status="provisioned")
    person = browser_from(app, HOME_IP)
    assert person.submit("/login", {"email": "dominique@chu-exemple.fr"}).headers["Location"].endswith(
        "/login/activate")
    smtp.stop()  # the hospital's mail server is away
    try:
        person.submit("/login/code/send", {}, form_page="/login/activate")
        run_mail_worker(app)
    finally:
        smtp.start()
    assert smtp.messages == []

    said = run("support", "diagnose", "dominique@chu-exemple.fr")
    assert "Le compte n'est pas encore activé" in said.stdout
    assert "Code d'activation envoyé par email à dominique@chu-exemple.fr : refusé ou jamais remis" in said.stdout
    assert "a été refusé ou n'a pas pu être remis" in said.stdout

    given = run("support", "code", "dominique@chu-exemple.fr", "--operator", "Ana Lopes")
    assert given.exit_code == 0, given.output
    code = re.search(r"Code d'activation pour dominique@chu-exemple.fr : (\d{6})", given.stdout).group(1)
    assert code not in given.stderr  # the audit line names the operator, never the code
    assert "support.code_given" in cli_audit_events(given.stderr)

    phone = browser_from(app, "198.51.100.30")  # read out by phone, typed on another computer
    assert phone.submit("/login", {"email": "dominique@chu-exemple.fr"}).headers["Location"].endswith(
        "/login/activate")
    page = phone.client.get("/login/activate").get_data(as_text=True)
    assert 'name="code"' in page  # the code step at once: nothing mailed
    assert 'id="etat-du-message"' not in page  # this browser asked for no mail: not the failed one shown
    answer = phone.submit("/login/activate", {"code": code, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert phone.signed_in()
    assert app.extensions["gateway.directory"].get(dominique.id).status == "active"


def test_recent_activity_shows_the_persons_sign_ins_and_failures_only(app, camille, make_account):
    make_account("dominique@univ-exemple.fr")
    stranger = browser_from(app, "203.0.113.66")
    stranger.sign_in("dominique@univ-exemple.fr", "not hers")  # another person's failure
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
    person = browser_from(app, HOME_IP)
    person.client.environ_base["HTTP_USER_AGENT"] = firefox
    person.sign_in(EMAIL, "une faute de frappe")
    assert person.sign_in(EMAIL, PASSWORD).status_code == 302

    page = person.client.get("/account").get_data(as_text=True)
    section = page[page.index('id="activite"'):]
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", section)
    assert [(what, where) for _when, what, where in rows] == [
        ("Connexion réussie", "Firefox sur Windows, 192.0.2.80 (nouvel appareil)"),
        ("Mot de passe incorrect", "Firefox sur Windows, 192.0.2.80 (nouvel appareil)"),
    ]
    assert all(re.search(r"\d{4}", when) for when, _what, _where in rows)  # a date
    assert "203.0.113.66" not in page  # nothing of the other person's

    person.submit("/logout", form_page="/logout")
    assert person.sign_in(EMAIL, PASSWORD).status_code == 302
    again = person.client.get("/account?lang=en").get_data(as_text=True)
    assert "Recent activity" in again
    assert "Firefox on Windows, 192.0.2.80 (device used before)" in again  # the known-device cookie


def test_recent_activity_shows_what_became_of_a_mailed_code(app, camille, mailbox):
    person = browser_from(app, HOME_IP)
    person.submit("/login", {"email": EMAIL})
    person.submit("/login/code/send", {}, form_page="/login/password")
    code = mailbox.code(EMAIL)  # the worker delivered it to the SMTP server
    assert person.submit("/login/code", {"code": code}).status_code == 302
    page = person.client.get("/account").get_data(as_text=True)
    assert "Code de connexion envoyé par email (c***e@univ-exemple.fr) — accepté par la messagerie" in page
    assert code not in page


def test_an_operators_users_commands_show_in_the_persons_history(app, camille, run):
    """``gateway users …`` audits inside the app: its hooks keep the change in the person's history."""
    assert run("users", "set-password", EMAIL, input=NEW_PASSWORD + "\n").exit_code == 0
    assert run("users", "add-email", EMAIL, "camille.perso@example.org", "--verified").exit_code == 0
    person = browser_from(app, HOME_IP)
    assert person.sign_in(EMAIL, NEW_PASSWORD).status_code == 302
    page = person.client.get("/account").get_data(as_text=True)
    section = page[page.index('id="activite"'):]
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", section)
    assert [(what, where) for _when, what, where in rows][1:] == [
        ("Adresse ajoutée (c***o@example.org)", "le support (ligne de commande)"),
        ("Mot de passe défini par le support", "le support (ligne de commande)"),
    ]

    assert run("users", "remove-email", EMAIL, "camille.perso@example.org").exit_code == 0
    assert run("users", "disable", EMAIL).exit_code == 0
    said = run("support", "diagnose", EMAIL).stdout
    assert "Compte désactivé — le support (ligne de commande)" in said
    assert "Adresse retirée — le support (ligne de commande)" in said
