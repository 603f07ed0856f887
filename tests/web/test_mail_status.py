"""The code, activation and reset pages say what became of their mail, over HTTP with real Redis and SMTP."""
from __future__ import annotations

import dataclasses
import html
import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.mail import fate as fates
from tests.conftest import free_port
from tests.fixtures_mail import SmtpCapture, run_mail_worker
from tests.conftest import Browser

PARIS = ZoneInfo("Europe/Paris")
ACCEPTED = "accepté par votre messagerie"
REFUSED = "Refusé par votre messagerie : utilisez une autre adresse."
MAILINBLACK = "Mailinblack"


def clock(stamp: float) -> str:
    local = datetime.fromtimestamp(stamp, PARIS)
    return f"{local.hour} h {local.minute:02d}"


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def last_fate(app, address: str) -> fates.MailFate:
    [latest, *_] = fates.recent(app.extensions["gateway.store"], address)
    return latest


def ask_signin_code(browser, address: str) -> str:
    browser.submit("/login", {"email": address})
    sent = browser.submit("/login/code/send", form_page="/login/password")
    assert sent.headers["Location"].endswith("/login/code")
    return page(browser.client.get("/login/code"))


def ask_activation_code(browser, address: str) -> str:
    browser.submit("/login", {"email": address})
    browser.submit("/login/code/send", form_page="/login/activate")
    return page(browser.client.get("/login/activate"))


def test_accepted_mail_then_the_mailinblack_hint_once_it_waited(browser, make_account, app, smtp):
    make_account("camille.martin@chu-x.fr")
    before = ask_signin_code(browser, "camille.martin@chu-x.fr")
    assert "Envoi en cours à c***n@chu-x.fr" in before
    assert '<a href="/login/code">Actualiser</a>' in before  # a plain link: no JavaScript
    run_mail_worker(app)
    accepted = last_fate(app, "camille.martin@chu-x.fr")
    now = page(browser.client.get("/login/code"))
    assert f"Envoyé à c***n@chu-x.fr à {clock(accepted.at)}, {ACCEPTED}." in now
    assert MAILINBLACK not in now  # accepted a moment ago: nothing to explain yet

    # the code still unused ten minutes later (the fate's time moved back rather than waiting)
    store = app.extensions["gateway.store"]
    fates.record(store, dataclasses.replace(accepted, at=accepted.at - 600), days=1)
    later = page(browser.client.get("/login/code"))
    assert ACCEPTED in later and MAILINBLACK in later
    assert "courriers indésirables" in later and "ne-pas-repondre@uness.fr" in later


def test_the_mailinblack_hint_delay_is_configurable(build, make_account, smtp):
    app = build({"mail": {"filter_hint_minutes": 0}})
    client = app.test_client()
    make_account("interne@chu-x.fr")
    browser = Browser(client)
    ask_signin_code(browser, "interne@chu-x.fr")
    run_mail_worker(app)
    shown = page(client.get("/login/code"))
    assert ACCEPTED in shown and MAILINBLACK in shown


def test_a_mailbox_that_refuses_with_5xx(browser, make_account, app, smtp):
    smtp.refuse["interne@chu-x.fr"] = "550 5.1.1 <interne@chu-x.fr>: Recipient address rejected: User unknown"
    make_account("interne@chu-x.fr", status="provisioned", verified=False)
    ask_activation_code(browser, "interne@chu-x.fr")
    run_mail_worker(app)
    shown = page(browser.client.get("/login/activate"))
    assert REFUSED in shown
    assert "550 5.1.1 <i***e@chu-x.fr>: Recipient address rejected: User unknown" in shown
    assert "Utiliser une autre de mes adresses" in shown
    assert ACCEPTED not in shown and MAILINBLACK not in shown


def test_smtp_down_then_back(browser, make_account, app, smtp):
    make_account("frank@example.org")
    smtp.stop()
    ask_signin_code(browser, "frank@example.org")
    run_mail_worker(app)
    retrying = last_fate(app, "frank@example.org")
    shown = page(browser.client.get("/login/code"))
    assert f"Pas encore envoyé à f***k@example.org : nouvel essai à {clock(retrying.next_try)}." in shown

    smtp.start()
    deadline = time.monotonic() + 10  # a polling bound: the retry is due one second later
    while not smtp.messages and time.monotonic() < deadline:
        run_mail_worker(app)
        time.sleep(0.2)
    shown = page(browser.client.get("/login/code"))
    assert ACCEPTED in shown and "nouvel essai" not in shown


def test_still_not_sent_after_the_last_try(build, make_account, smtp):
    app = build({"mail": {"retry_intervals": []}})
    browser = Browser(app.test_client())
    make_account("gina@example.org")
    smtp.stop()
    ask_signin_code(browser, "gina@example.org")
    run_mail_worker(app)
    shown = page(browser.client.get("/login/code"))
    assert "Pas envoyé à g***a@example.org : l'envoi a échoué malgré plusieurs essais." in shown
    assert "nouvel essai" not in shown and ACCEPTED not in shown


def test_the_reset_page_and_its_refresh(browser, make_account, app, smtp):
    make_account("dora@example.org")
    browser.submit("/login", {"email": "dora@example.org"})
    sent = page(browser.submit("/login/reset", form_page="/login/password"))
    assert "Envoi en cours à d***a@example.org" in sent
    assert '<a href="/login/reset">Actualiser</a>' in sent
    run_mail_worker(app)
    refreshed = page(browser.client.get("/login/reset"))
    sent_at = clock(last_fate(app, "dora@example.org").at)
    assert f"Envoyé à d***a@example.org à {sent_at}, {ACCEPTED}." in refreshed
    assert "Renvoyer le lien" in refreshed


def test_the_reset_refresh_without_a_reset_mail_leads_back(browser, make_account, client):
    assert client.get("/login/reset").headers["Location"].endswith("/login")
    make_account("eve@example.org")
    browser.submit("/login", {"email": "eve@example.org"})
    assert client.get("/login/reset").headers["Location"].endswith("/login")


def test_typing_someones_address_does_not_show_their_reset_mail(browser, make_account, app, smtp):
    make_account("dora@example.org")
    browser.submit("/login", {"email": "dora@example.org"})
    browser.submit("/login/reset", form_page="/login/password")
    run_mail_worker(app)
    assert ACCEPTED in page(browser.client.get("/login/reset"))  # the browser that asked sees it

    snoop = Browser(app.test_client())
    snoop.submit("/login", {"email": "dora@example.org"})
    looked = snoop.client.get("/login/reset")
    assert looked.status_code == 302 and looked.headers["Location"].endswith("/login")
    assert "d***a@example.org" not in page(snoop.client.get("/login/password"))


def test_in_english(browser, make_account, app, smtp):
    make_account("camille.martin@chu-x.fr")
    ask_signin_code(browser, "camille.martin@chu-x.fr")
    run_mail_worker(app)
    accepted = last_fate(app, "camille.martin@chu-x.fr")
    local = datetime.fromtimestamp(accepted.at, PARIS)
    shown = page(browser.client.get("/login/code", headers={"Accept-Language": "en"}))
    sent_at = f"{local.hour}:{local.minute:02d}"
    assert f"Sent to c***n@chu-x.fr at {sent_at}, accepted by your mail server." in shown


def test_an_accented_address_is_sent_and_accepted(browser, make_account, app, smtp):
    make_account("élodie.bernard@ars.sante.fr", status="provisioned", verified=False, account_id="elodie-bernard")
    ask_activation_code(browser, "élodie.bernard@ars.sante.fr")
    run_mail_worker(app)
    assert smtp.recipients == [["élodie.bernard@ars.sante.fr"]]
    shown = page(browser.client.get("/login/activate"))
    assert "Envoyé à é***d@ars.sante.fr à " in shown and ACCEPTED in shown


def test_an_accented_address_the_server_cannot_take(build, make_account, all_page_logs):
    """The SMTP server does not offer SMTPUTF8: refused at once, the person told, no traceback."""
    server = SmtpCapture(free_port(), smtputf8=False)
    server.start()
    try:
        app = build({"mail": server.overrides})
        browser = Browser(app.test_client())
        make_account("élodie.bernard@ars.sante.fr", status="provisioned", verified=False,
                  account_id="elodie-bernard")
        ask_activation_code(browser, "élodie.bernard@ars.sante.fr")
        run_mail_worker(app)
        assert run_mail_worker(app) is False  # nothing left to try
        shown = page(browser.client.get("/login/activate"))
    finally:
        server.stop()
    assert REFUSED in shown and "SMTPUTF8" in shown and server.messages == []
    assert "Traceback" not in all_page_logs.text and not [r for r in all_page_logs.records if r.exc_info]


@pytest.fixture
def all_page_logs(caplog):
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("gateway", "gateway.audit", "rq", "rq.worker")]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in loggers:
        logger.removeHandler(caplog.handler)


def test_two_browsers_asking_codes_for_one_address_each_see_their_own_mail(browser, make_account, app, smtp):
    make_account("camille.martin@chu-x.fr")
    ask_signin_code(browser, "camille.martin@chu-x.fr")
    run_mail_worker(app)  # the first browser's mail: accepted
    assert ACCEPTED in page(browser.client.get("/login/code"))
    other = Browser(app.test_client())
    asked = ask_signin_code(other, "camille.martin@chu-x.fr")  # the second one's: still queued
    assert "Envoi en cours à c***n@chu-x.fr" in asked and ACCEPTED not in asked

    first = page(browser.client.get("/login/code"))  # its code replaced by the second one's
    assert "Ce code n'est plus valable" in first and "Recevoir un nouveau code par email" in first
    assert "Envoi en cours" not in first  # never the other browser's mail
    run_mail_worker(app)
    assert ACCEPTED in page(other.client.get("/login/code"))

def test_the_address_confirmation_step_shows_its_mail(browser, make_account, app, smtp):
    make_account("camille.martin@chu-x.fr")
    browser.sign_in("camille.martin@chu-x.fr")
    browser.submit("/account/emails", {"new_email": "camille.perso@example.org"}, form_page="/account")
    before = page(browser.client.get("/account/emails/verify"))
    assert "Envoi en cours à c***o@example.org" in before
    assert '<a href="/account/emails/verify">Actualiser</a>' in before
    run_mail_worker(app)
    accepted = last_fate(app, "camille.perso@example.org")
    shown = page(browser.client.get("/account/emails/verify"))
    assert f"Envoyé à c***o@example.org à {clock(accepted.at)}, {ACCEPTED}." in shown
