"""Issue 12's journeys, end to end over HTTP (real Redis, the real SMTP sink): no dead ends.

* any address cockpit registered leads an active account to the password; the code mailed from
  there confirms it, and nobody can reserve someone else's address by adding it on "Mes informations";
* a mailed link is checked when opened, and a waiting tab says what happened;
* the site root, and every mailed link, lead to a real page.
"""
from __future__ import annotations

import html

from tests.web.conftest import PASSWORD, Browser
from tests.web.test_code_links import link_parts

CAMILLE = "camille@univ-exemple.fr"
SECOND = "camille.martin@chu-exemple.fr"  # the second address cockpit registered for Camille
ATTACKER = "jean.attaquant@chu-exemple.fr"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- any cockpit address leads to the password ------------------------------------------------

def test_second_cockpit_address_is_confirmed_by_the_code_mailed_from_the_password_step(
        make_user, directory, mailbox, browser):
    make_user(CAMILLE)
    directory.add_email("camille", SECOND)  # what an import, SCIM or the CLI do: not confirmed yet
    assert browser.submit("/login", {"email": SECOND}).headers["Location"].endswith("/login/password")
    sent = browser.submit("/login/code/send", form_page="/login/password")
    assert sent.headers["Location"].endswith("/login/code")
    done = browser.submit("/login/code", {"code": mailbox.code(SECOND)})
    assert done.status_code == 302 and browser.signed_in()
    assert directory.get("camille").email(SECOND).verified


def test_second_cockpit_address_is_confirmed_by_the_reset_link(make_user, directory, mailbox, browser):
    """The person whose only working way is the mail: "Mot de passe oublié ?" from the second address."""
    make_user(CAMILLE, password=None, status="active")
    directory.add_email("camille", SECOND)
    browser.submit("/login", {"email": SECOND})
    assert browser.submit("/login/reset", form_page="/login/password").status_code == 200
    link = mailbox.link(SECOND)
    done = browser.submit(link, {"password": "une phrase assez longue pour UNESS",
                                 "confirm": "une phrase assez longue pour UNESS"})
    assert done.status_code == 302 and browser.signed_in()
    assert directory.get("camille").email(SECOND).verified


def test_adding_someone_elses_address_reserves_nothing(app, make_user, directory, mailbox, browser):
    """The attack: Jean adds Camille's address on "Mes informations" (he never gets its code). Camille's
    address does not lead to Jean's account; Camille still signs up with it through cockpit."""
    make_user(ATTACKER)
    assert browser.login(ATTACKER).status_code == 302
    added = browser.submit("/account/emails", {"new_email": CAMILLE}, form_page="/account")
    assert added.status_code == 302  # a code went to Camille's mailbox, nothing else happened
    assert directory.find_by_email(CAMILLE) is None

    victim = Browser(app.test_client())
    refused = victim.submit("/login", {"email": CAMILLE})
    assert refused.status_code == 200 and "Adresse email non reconnue" in text(refused)
    assert victim.client.get("/login/password").headers["Location"].endswith("/login")
    assert victim.client.get("/login/code").headers["Location"].endswith("/login")
    # and cockpit can still register it for Camille, whose address then leads to her own account
    make_user(CAMILLE, status="provisioned", verified=False)
    assert victim.submit("/login", {"email": CAMILLE}).headers["Location"].endswith("/login/activate")
    assert directory.find_by_email(CAMILLE).id == "camille"


def test_attacker_cannot_take_a_cockpit_address_of_another_account(make_user, directory, mailbox, browser):
    """Camille's second cockpit address, never confirmed, cannot be added by Jean either."""
    make_user(CAMILLE)
    directory.add_email("camille", SECOND)
    make_user(ATTACKER)
    browser.login(ATTACKER)
    refused = browser.submit("/account/emails", {"new_email": SECOND}, form_page="/account")
    assert refused.status_code == 200 and mailbox.to(SECOND) == []
    assert directory.find_by_email(SECOND).id == "camille"
