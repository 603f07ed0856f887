"""Mailed codes and links, attacked: login CSRF by link, guessing across browsers, mail on the address step.

Each test drives the real pages (Flask test client, real Redis, the real SMTP
sink) the way the attacker and the victim would, and checks the attack fails.
"""
from __future__ import annotations


import pytest

from tests.conftest import Browser
from tests.web.conftest import ask_sign_in_link, link_parts
from tests.web.test_flows import NEW, ask_code, hidden

ATTACKER = "jean.attaquant@chu-exemple.fr"
VICTIM = "camille.martin@chu-exemple.fr"
SIGN_IN_AS_ATTACKER = "Vous allez vous connecter en tant que j***t@chu-exemple.fr."
ACTIVATE_ATTACKER = "Vous allez activer le compte j***t@chu-exemple.fr et vous y connecter."


# -- login CSRF by link ------------------------------------------------------------------------------

def test_someone_elses_sign_in_link_shows_whose_account_and_signs_in_no_one(app, make_account, mailbox,
                                                                            browser):
    """The attacker mails the victim the link of a code for HIS account: opening it signs the victim in
    nowhere; the page names the attacker's (masked) address; posting its code without that page's
    confirmation is refused and spends nothing."""
    make_account(ATTACKER)
    make_account(VICTIM)
    link = ask_sign_in_link(app, mailbox, ATTACKER)[1]  # the attacker's own
    flow, code = link_parts(link)

    page = browser.client.get(link).get_data(as_text=True)  # the victim clicks the link
    assert SIGN_IN_AS_ATTACKER in page and "Me connecter à ce compte" in page
    assert ATTACKER not in page and not browser.signed_in()
    # the form as it was before this protection: flow and code, no confirmation
    refused = browser.submit("/login/code", {"flow": flow, "code": code}, form_page=link)
    assert refused.status_code == 200 and SIGN_IN_AS_ATTACKER in refused.get_data(as_text=True)
    assert not browser.signed_in()
    # nothing was spent: the attacker's own code still works in his browser only after his confirmation too
    assert app.extensions["gateway.codes"].code_data("signin", flow) is not None


def test_sign_in_link_in_the_browser_that_asked_needs_no_confirmation(app, make_account, mailbox, browser):
    make_account(VICTIM)
    browser.submit("/login", {"email": VICTIM})
    browser.submit("/login/code/send", form_page="/login/password")
    link = mailbox.link(VICTIM)
    page = browser.client.get(link).get_data(as_text=True)
    assert "Vous allez vous connecter en tant que" not in page and hidden(page, "confirmed") == ""
    flow, code = link_parts(link)
    assert browser.submit("/login/code", {"flow": flow, "code": code}, form_page=link).status_code == 302
    assert browser.signed_in()


def test_sign_in_link_on_the_phone_after_confirming_the_account(app, make_account, mailbox):
    """Asked on the PC, opened on the phone: the phone shows the person's masked address; one button."""
    make_account(VICTIM)
    link = ask_sign_in_link(app, mailbox, VICTIM)[1]
    phone = Browser(app.test_client())
    page = phone.client.get(link).get_data(as_text=True)
    assert "Vous allez vous connecter en tant que c***n@chu-exemple.fr." in page
    flow, code = link_parts(link)
    done = phone.submit("/login/code", {"flow": flow, "code": code, "confirmed": hidden(page, "confirmed")},
                        form_page=link)
    assert done.status_code == 302 and phone.signed_in()


def test_activation_link_of_someone_else_activates_nothing(app, make_account, mailbox, browser, directory):
    """Same attack with the activation link of a provisioned account the attacker holds."""
    make_account(ATTACKER, status="provisioned", verified=False)
    own = Browser(app.test_client())
    own.submit("/login", {"email": ATTACKER})
    ask_code(own, "/login/activate")
    link = mailbox.link(ATTACKER)
    flow, code = link_parts(link)

    page = browser.client.get(link).get_data(as_text=True)
    assert ACTIVATE_ATTACKER in page and "Activer ce compte" in page
    refused = browser.submit("/login/activate", {"flow": flow, "code": code, "password": NEW, "confirm": NEW},
                             form_page=link)
    assert refused.status_code == 200 and ACTIVATE_ATTACKER in refused.get_data(as_text=True)
    assert not browser.signed_in()
    account = directory.find_by_email(ATTACKER)
    assert account.status == "provisioned" and account.password_hash == ""


def test_a_made_up_link_shows_no_account(client):
    for flow in ("n0-such-flow", "%C3%A9t%C3%A9", "x" * 300):
        page = client.get(f"/code/{flow}?code=123456")
        assert page.status_code == 410  # "Ce lien n'est plus valable", with no address and no button
        text = page.get_data(as_text=True)
        assert "Vous allez vous connecter en tant que" not in text and "@" not in text.split("<main")[1]


def test_the_warning_in_english(app, make_account, mailbox):
    make_account(ATTACKER)
    link = ask_sign_in_link(app, mailbox, ATTACKER)[1]  # the attacker's own
    page = app.test_client().get(link, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "You are about to sign in as j***t@chu-exemple.fr." in page


# -- guessing budget ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, page", [("active", "/login/code"), ("provisioned", "/login/activate")])
def test_more_browsers_buy_no_more_guesses(app, make_account, mailbox, status, page):
    """Three browsers, three codes asked: only the last lives; the others refuse even their right code."""
    make_account(VICTIM, status=status, verified=status == "active")
    browsers, codes = [], []
    for _ in range(3):
        attacker = Browser(app.test_client())
        attacker.submit("/login", {"email": VICTIM})
        attacker.submit("/login/code/send", form_page=page if status == "provisioned" else "/login/password")
        browsers.append(attacker)
        codes.append(mailbox.code(VICTIM))
    fields = {"password": NEW, "confirm": NEW} if status == "provisioned" else {}
    for earlier, code in zip(browsers[:-1], codes[:-1]):
        text = earlier.submit(page, {"code": code, **fields}).get_data(as_text=True)
        assert "Ce code n'est plus valable" in text and not earlier.signed_in()
        assert "Recevoir un nouveau code par email" in text  # and the way on
    assert browsers[-1].submit(page, {"code": codes[-1], **fields}).status_code == 302
    assert browsers[-1].signed_in()


def test_wrong_codes_are_audited_naming_the_account(app, make_account, mailbox, audit_events):
    make_account(VICTIM)
    make_account(ATTACKER, status="provisioned", verified=False)
    for address, page, event, fields in ((VICTIM, "/login/code", "code.failed", {}),
                                         (ATTACKER, "/login/activate", "activation.failed",
                                          {"password": NEW, "confirm": NEW})):
        guesser = Browser(app.test_client())
        guesser.submit("/login", {"email": address})
        ask_code(guesser, page)
        wrong = f"{(int(mailbox.code(address)) + 1) % 10**6:06d}"
        assert "Code incorrect" in guesser.submit(page, {"code": wrong, **fields}).get_data(as_text=True)
        failed = [r for r in audit_events if r.getMessage() == event]
        assert [r.account for r in failed] == [address.split("@")[0].replace(".", "-")]
        assert all(wrong not in str(vars(r).values()) for r in failed)


# -- the address step mails nothing ---------------------------------------------------------------------

@pytest.mark.parametrize("status, verified, page, button", [
    ("provisioned", False, "/login/activate", "Recevoir mon code d'activation par email"),
])
def test_address_step_mails_nothing_until_the_button(app, make_account, mailbox, browser, status, verified,
                                                     page, button):
    """Typing a provisioned or unconfirmed address, again and again, sends no mail; the one button does."""
    make_account(VICTIM, status=status, verified=verified)
    for _ in range(3):
        assert browser.submit("/login", {"email": VICTIM}).headers["Location"].endswith(page)
        text = browser.client.get(page).get_data(as_text=True)
        assert button in text and VICTIM in text and 'name="code"' not in text
    assert mailbox.to(VICTIM) == []
    ask_code(browser, page)
    assert len(mailbox.to(VICTIM)) == 1
