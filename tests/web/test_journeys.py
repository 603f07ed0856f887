"""Issue 12's journeys, end to end over HTTP (real Redis, the real SMTP sink): no dead ends.

* any address cockpit registered leads an active account to the password; the code mailed from
  there confirms it, and nobody can reserve someone else's address by adding it on "Mes informations";
* a mailed link is checked when opened, and a waiting tab says what happened;
* the site root, and every mailed link, lead to a real page.
"""
from __future__ import annotations

import html
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.cli.conftest import cli_environ, invoke, set_environ
from tests.conftest import PASSWORD, Browser
from tests.web.conftest import ask_sign_in_link, link_parts
from tests.web.test_flows import NEW, hidden

CAMILLE = "camille@univ-exemple.fr"
SECOND = "camille.martin@chu-exemple.fr"  # the second address cockpit registered for Camille
ATTACKER = "jean.attaquant@chu-exemple.fr"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- any cockpit address leads to the password ------------------------------------------------

def test_second_cockpit_address_is_confirmed_by_the_code_mailed_from_the_password_step(
        make_account, directory, mailbox, browser):
    make_account(CAMILLE)
    directory.add_email("camille", SECOND)  # what an import, SCIM or the CLI do: not confirmed yet
    assert browser.submit("/login", {"email": SECOND}).headers["Location"].endswith("/login/password")
    sent = browser.submit("/login/code/send", form_page="/login/password")
    assert sent.headers["Location"].endswith("/login/code")
    done = browser.submit("/login/code", {"code": mailbox.code(SECOND)})
    assert done.status_code == 302 and browser.signed_in()
    assert directory.get("camille").email(SECOND).verified


def test_second_cockpit_address_is_confirmed_by_the_reset_link(make_account, directory, mailbox, browser):
    """The person whose only working way is the mail: "Mot de passe oublié ?" from the second address."""
    make_account(CAMILLE, password=None, status="active")
    directory.add_email("camille", SECOND)
    browser.submit("/login", {"email": SECOND})
    assert browser.submit("/login/reset", form_page="/login/password").status_code == 200
    link = mailbox.link(SECOND)
    done = browser.submit(link, {"password": "une phrase assez longue pour UNESS",
                                 "confirm": "une phrase assez longue pour UNESS"})
    assert done.status_code == 302 and browser.signed_in()
    assert directory.get("camille").email(SECOND).verified


def test_adding_someone_elses_address_reserves_nothing(app, make_account, directory, mailbox, browser):
    """The attack: Jean adds Camille's address on "Mes informations" (he never gets its code). Camille's
    address does not lead to Jean's account; Camille still signs up with it through cockpit."""
    make_account(ATTACKER)
    assert browser.sign_in(ATTACKER).status_code == 302
    added = browser.submit("/account/emails", {"new_email": CAMILLE}, form_page="/account")
    assert added.status_code == 302  # a code went to Camille's mailbox, nothing else happened
    assert directory.find_by_email(CAMILLE) is None

    victim = Browser(app.test_client())
    refused = victim.submit("/login", {"email": CAMILLE})
    assert refused.status_code == 200 and "Adresse email non reconnue" in text(refused)
    assert victim.client.get("/login/password").headers["Location"].endswith("/login")
    assert victim.client.get("/login/code").headers["Location"].endswith("/login")
    # and cockpit can still register it for Camille, whose address then leads to her own account
    make_account(CAMILLE, status="provisioned", verified=False)
    assert victim.submit("/login", {"email": CAMILLE}).headers["Location"].endswith("/login/activate")
    assert directory.find_by_email(CAMILLE).id == "camille"


def test_attacker_cannot_take_a_cockpit_address_of_another_account(make_account, directory, mailbox, browser):
    """Camille's second cockpit address, never confirmed, cannot be added by Jean either."""
    make_account(CAMILLE)
    directory.add_email("camille", SECOND)
    make_account(ATTACKER)
    browser.sign_in(ATTACKER)
    refused = browser.submit("/account/emails", {"new_email": SECOND}, form_page="/account")
    assert refused.status_code == 200 and mailbox.to(SECOND) == []
    assert directory.find_by_email(SECOND).id == "camille"


# -- a mailed link is checked when opened; the tab that waited says the same ----------------------------

INTERNE = "interne@chu-exemple.fr"


def first_sign_in_asked_on_the_pc(app, make_account, mailbox) -> tuple[Browser, str]:
    """A provisioned account: the PC asks for the activation code; (that PC's browser, the mailed link)."""
    make_account(INTERNE, status="provisioned", verified=False, account_id="interne")
    pc = Browser(app.test_client())
    pc.submit("/login", {"email": INTERNE})
    pc.submit("/login/code/send", form_page="/login/activate")
    return pc, mailbox.link(INTERNE)


def activate_on_the_phone(app, link: str) -> Browser:
    phone = Browser(app.test_client())
    page = text(phone.client.get(link))
    flow, code = link_parts(link)
    confirmed = hidden(page, "confirmed")
    done = phone.submit("/login/activate", {"flow": flow, "code": code, "password": NEW, "confirm": NEW,
                                            "confirmed": confirmed}, form_page=link)
    assert done.status_code == 302 and phone.signed_in()
    return phone


def test_activation_link_opened_again_says_the_account_is_active_and_leads_to_the_password(
        app, make_account, mailbox, directory):
    pc, link = first_sign_in_asked_on_the_pc(app, make_account, mailbox)
    activate_on_the_phone(app, link)
    again = Browser(app.test_client())
    for _ in range(2):  # a spent link opened twice: the same page, nothing spent, nothing mailed
        page = again.client.get(link)
        assert page.status_code == 410 and "Votre compte est déjà activé" in text(page)
        assert "i***e@chu-exemple.fr" in text(page) and INTERNE not in text(page)
    assert len(mailbox.to(INTERNE)) == 1
    on = again.submit(f"/login/link/activation/{link_parts(link)[0]}", form_page=link)
    assert on.headers["Location"].endswith("/login/password")
    assert again.submit("/login/password", {"password": NEW}).status_code == 302 and again.signed_in()


def test_the_tab_that_waited_says_the_account_is_active(app, make_account, mailbox):
    """The PC's tab, left open while the person activated on the phone: its form says what happened."""
    pc, link = first_sign_in_asked_on_the_pc(app, make_account, mailbox)
    activate_on_the_phone(app, link)
    flow, code = link_parts(link)
    answer = pc.submit("/login/activate", {"flow": flow, "code": code, "password": NEW, "confirm": NEW},
                       form_page="/login/activate")
    assert answer.status_code == 200 and "Votre compte est déjà activé" in text(answer)
    assert "Code incorrect" not in text(answer) and "Ce code n'est plus valable. Demandez" not in text(answer)
    reloaded = text(pc.client.get("/login/activate"))  # and the page reloaded says the same
    assert "Votre compte est déjà activé" in reloaded
    on = pc.submit(f"/login/link/activation/{flow}", form_page="/login/activate")
    assert on.headers["Location"].endswith("/login/password")


def test_spent_sign_in_link_offers_a_new_code(app, make_account, mailbox):
    make_account(CAMILLE)
    asked, link = ask_sign_in_link(app, mailbox, CAMILLE)
    flow, code = link_parts(link)
    assert asked.submit("/login/code", {"flow": flow, "code": code}, form_page=link).status_code == 302
    other = Browser(app.test_client())
    page = other.client.get(link)
    assert page.status_code == 410 and "Ce lien n'est plus valable" in text(page)
    assert "c***e@univ-exemple.fr" in text(page) and "Recevoir un nouveau code par email" in text(page)
    assert 'name="code"' not in text(page)
    sent = other.submit(f"/login/link/signin/{flow}", form_page=link)
    assert sent.headers["Location"].endswith("/login/code") and len(mailbox.to(CAMILLE)) == 2
    new_code = mailbox.code(CAMILLE)
    assert other.submit("/login/code", {"code": new_code}).status_code == 302 and other.signed_in()


def test_expired_activation_link_offers_a_new_code(app, make_account, mailbox):
    pc, link = first_sign_in_asked_on_the_pc(app, make_account, mailbox)
    codes = app.extensions["gateway.codes"]
    now = codes.clock()
    codes.clock = lambda: now + 3 * 86400  # long after its end
    page = Browser(app.test_client()).client.get(link)
    assert page.status_code == 410 and "Ce lien n'est plus valable" in text(page)
    assert "i***e@chu-exemple.fr" in text(page)


def test_used_reset_link_offers_a_new_one(app, make_account, mailbox, browser):
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    browser.submit("/login/reset", form_page="/login/password")
    link = mailbox.link(CAMILLE)
    assert browser.submit(link, {"password": NEW, "confirm": NEW}).status_code == 302
    other = Browser(app.test_client())
    page = other.client.get(link)
    assert page.status_code == 410 and "Recevoir un nouveau lien par email" in text(page)
    assert "c***e@univ-exemple.fr" in text(page)
    token = link.rsplit("/", 1)[1]
    sent = other.submit(f"/login/link/reset/{token}", form_page=link)
    assert sent.status_code == 200 and "Nous avons envoyé un lien de réinitialisation" in text(sent)
    assert mailbox.link(CAMILLE) != link


def test_the_continue_button_of_a_live_or_made_up_link_does_nothing(app, make_account, mailbox):
    pc, link = first_sign_in_asked_on_the_pc(app, make_account, mailbox)
    flow = link_parts(link)[0]
    other = Browser(app.test_client())
    for ref in (flow, "n0-such-flow"):
        sent = other.submit(f"/login/link/activation/{ref}", form_page="/login")
        assert sent.headers["Location"].endswith("/login")
    assert len(mailbox.to(INTERNE)) == 1


# -- throttle messages say what still works -------------------------------------------------------------

def paris_times(before: float, after: float) -> set[tuple[int, int]]:
    """The (hour, minute) readings in Europe/Paris between two instants (one, or two at a minute's edge)."""
    zone = ZoneInfo("Europe/Paris")
    return {(t.hour, t.minute) for t in (datetime.fromtimestamp(x, zone) for x in (before, after))}


@pytest.mark.parametrize("lang, pattern", [
    ("fr", r"Un code vous a été envoyé à (\d{1,2}) h (\d{2}), il reste valable ; vous pourrez en demander "
           r"un autre dans (\d+) (minutes?)\."),
    ("en", r"A code was sent to you at (\d{2}):(\d{2}) and is still valid; you can ask for another one in "
           r"(\d+) (minutes?)\."),
])
def test_a_refused_new_code_says_the_sent_one_still_works(build, make_account, mailbox, lang, pattern):
    make_account(CAMILLE)
    app = build({"limits": {"mail_per_address": "1/10minute"}})
    browser = Browser(app.test_client())
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    browser.submit("/login", {"email": CAMILLE})
    before = time.time()
    browser.submit("/login/code/send", form_page="/login/password")
    after = time.time()
    again = browser.submit("/login/code/send", form_page="/login/code")
    assert again.headers["Location"].endswith("/login/code")
    page = text(browser.client.get("/login/code"))
    found = re.search(pattern, page)
    assert found, page[page.index("<main"):]
    hour, minute, minutes, word = found.groups()
    assert (int(hour), int(minute)) in paris_times(before, after)
    assert 1 <= int(minutes) <= 10 and (word == "minute") == (int(minutes) == 1)
    assert len(mailbox.to(CAMILLE)) == 1
    assert browser.submit("/login/code", {"code": mailbox.code(CAMILLE)}).status_code == 302  # it does work


LINK_STILL_WORKS = (r"Un lien vous a été envoyé à (\d{1,2}) h (\d{2}), il reste valable ; vous pourrez en "
                    r"demander un autre dans (\d+) (minutes?)\.")


def test_a_refused_new_reset_link_says_the_sent_one_still_works(build, make_account, mailbox):
    make_account(CAMILLE)
    app = build({"limits": {"mail_per_address": "1/10minute"}})
    browser = Browser(app.test_client())
    browser.submit("/login", {"email": CAMILLE})
    before = time.time()
    browser.submit("/login/reset", form_page="/login/password")
    after = time.time()
    found = re.search(LINK_STILL_WORKS, text(browser.submit("/login/reset", form_page="/login/reset")))
    assert found
    hour, minute, minutes, word = found.groups()
    assert (int(hour), int(minute)) in paris_times(before, after)
    assert 1 <= int(minutes) <= 10 and (word == "minute") == (int(minutes) == 1)
    forgot = text(browser.submit("/login/forgot", {"email": CAMILLE}))  # "Mot de passe oublié" from outside
    assert re.search(LINK_STILL_WORKS, forgot) and 'role="alert"' in forgot
    assert len(mailbox.to(CAMILLE)) == 1
    assert mailbox.link(CAMILLE).startswith("/reset/")
    assert browser.client.get(mailbox.link(CAMILLE)).status_code == 200  # it does work

    other = Browser(app.test_client())  # someone typing Camille's address learns nothing of her link
    other.submit("/login", {"email": CAMILLE})
    refused = text(other.submit("/login/reset", form_page="/login/password"))
    assert "Réessayez dans" in refused and not re.search(LINK_STILL_WORKS, refused)


def test_plurals_of_the_tries_left(app, make_account, mailbox, browser):
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    browser.submit("/login/code/send", form_page="/login/password")
    right = mailbox.code(CAMILLE)
    wrong = "000000" if right != "000000" else "111111"
    said = [text(browser.submit("/login/code", {"code": wrong}, form_page="/login/code")) for _ in range(2)]
    assert "Il vous reste 4 essais." in said[0] and "Il vous reste 3 essais." in said[1]
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    said = [text(browser.submit("/login/code", {"code": wrong}, form_page="/login/code")) for _ in range(2)]
    assert "You have 2 attempts left." in said[0] and "You have 1 attempt left." in said[1]


# -- the site root, and every mailed link, lead to a real page --------------------------------------------

def test_the_root_leads_to_the_sign_in_page_or_the_account(make_account, browser):
    assert browser.client.get("/").headers["Location"].endswith("/login")
    make_account(CAMILLE)
    browser.sign_in(CAMILLE)
    assert browser.client.get("/").headers["Location"].endswith("/account")


def test_the_password_changed_mail_leads_to_a_page_that_resets_the_password(app, make_account, mailbox, browser):
    """Someone else changed Camille's password: the mail's link is a real page mailing her a reset link."""
    make_account(CAMILLE)
    intruder = Browser(app.test_client())
    intruder.sign_in(CAMILLE)
    new = "une phrase que l'intrus a choisie"
    changed = intruder.submit("/account/password", {"current": PASSWORD, "password": new, "confirm": new},
                              form_page="/account")
    assert changed.status_code == 302
    mail = mailbox.last(CAMILLE)
    assert mail["Subject"] == "Votre mot de passe a été modifié"
    link = mailbox.link(CAMILLE)
    assert link == "/login/forgot"
    page = browser.client.get(link)
    assert page.status_code == 200 and "Choisir un nouveau mot de passe" in text(page)
    sent = browser.submit(link, {"email": CAMILLE})
    assert sent.status_code == 200 and "Nous avons envoyé un lien de réinitialisation" in text(sent)
    reset = mailbox.link(CAMILLE)
    assert reset.startswith("/reset/")
    assert browser.submit(reset, {"password": NEW, "confirm": NEW}).status_code == 302 and browser.signed_in()
    assert not intruder.signed_in()


def test_the_forgot_page_follows_the_address_step_rules(make_account, mailbox, browser):
    make_account(INTERNE, status="provisioned", verified=False, account_id="interne")
    assert "Adresse email non reconnue" in text(browser.submit("/login/forgot", {"email": "qui@exemple.fr"}))
    assert browser.submit("/login/forgot", {"email": INTERNE}).headers["Location"].endswith("/login/activate")
    assert mailbox.to(INTERNE) == []


@pytest.fixture
def operator(monkeypatch, redis_server):
    """``gateway …`` as support runs it, on the test database."""
    set_environ(monkeypatch, cli_environ(redis_server.url))
    return invoke


def test_after_an_operators_set_password_the_unconfirmed_address_leads_to_the_password(
        operator, make_account, directory, browser):
    """The person whose only address never got its activation mail: support runs
    ``gateway users set-password``; that address now leads to the password (issue 12 §1)."""
    make_account(INTERNE, status="provisioned", verified=False, account_id="interne")
    result = operator("users", "set-password", INTERNE, input=NEW + "\n")
    assert result.exit_code == 0 and directory.get("interne").status == "active"
    assert browser.submit("/login", {"email": INTERNE}).headers["Location"].endswith("/login/password")
    assert browser.submit("/login/password", {"password": NEW}).status_code == 302 and browser.signed_in()
