"""Issue 12's new surfaces, attacked over HTTP (real Redis, real SMTP sink): ended links, the forgot page,
"Afficher", the application's name, "Activité récente"."""
from __future__ import annotations

import html

from tests.conftest import PASSWORD as PASSWORD_OF_TESTS
from tests.conftest import Browser
from tests.web.conftest import ask_sign_in_link, link_parts
from tests.web.test_protection import browser_from

CAMILLE = "camille.martin@univ-exemple.fr"
MASKED = "c***n@univ-exemple.fr"
NEW = "un mot de passe tout neuf"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def spent_sign_in_link(app, mailbox) -> str:
    """The person asks for a code and uses its link: the link now shows "Ce lien n'est plus valable"."""
    person, link = ask_sign_in_link(app, mailbox, CAMILLE)
    flow, code = link_parts(link)
    assert person.submit("/login/code", {"flow": flow, "code": code}, form_page=link).status_code == 302
    return link


def test_an_old_link_found_on_a_shared_pc_never_shows_the_address_in_clear(app, make_account, mailbox):
    make_account(CAMILLE)
    link = spent_sign_in_link(app, mailbox)
    finder = Browser(app.test_client())  # the next user of the PC, from its history
    ended = finder.client.get(link)
    assert MASKED in text(ended) and CAMILLE not in text(ended)
    flow = link_parts(link)[0]
    sent = finder.submit(f"/login/link/signin/{flow}", form_page=link)
    pages = [finder.client.get(sent.headers["Location"]), finder.client.get("/login/password"),
             finder.client.get("/login/code")]
    for page in pages:
        assert CAMILLE not in text(page), page.request.path
    assert MASKED in text(pages[0])
    new_code = mailbox.code(CAMILLE)  # its owner, on the phone, still signs in with the new code
    assert finder.submit("/login/code", {"code": new_code}).status_code == 302 and finder.signed_in()


def test_the_tab_that_typed_the_address_still_shows_it_after_the_new_code_button(app, make_account, mailbox):
    make_account(CAMILLE)
    tab, link = ask_sign_in_link(app, mailbox, CAMILLE)
    flow, code = link_parts(link)
    phone = Browser(app.test_client())
    assert phone.post_form(phone.get(link), {"code": code}, field="code").status_code == 302  # used there
    ended = tab.submit("/login/code", {"code": code})  # the waiting tab
    assert "plus valable" in text(ended)
    sent = tab.post_form(ended, {}, action=f"/login/link/signin/{flow}")
    assert CAMILLE in text(tab.get(sent.headers["Location"]))  # typed here: shown as typed


def test_an_old_reset_link_never_shows_the_address_in_clear(app, make_account, mailbox):
    make_account(CAMILLE)
    person = Browser(app.test_client())
    person.submit("/login", {"email": CAMILLE})
    person.submit("/login/reset", form_page="/login/password")
    link = mailbox.link(CAMILLE)
    assert person.submit(link, {"password": NEW, "confirm": NEW}).status_code == 302
    finder = Browser(app.test_client())
    sent = finder.submit(f"/login/link/reset/{link.rsplit('/', 1)[1]}", form_page=link)
    assert sent.status_code == 200 and MASKED in text(sent)
    for page in (sent, finder.client.get("/login/password")):
        assert CAMILLE not in text(page)
    assert mailbox.link(CAMILLE) != link  # mailed to its owner, within the mail limits


# -- "Afficher" without JavaScript -------------------------------------------------------------------

def test_show_password_from_another_site_is_refused_and_what_is_shown_stays_private(browser, make_account,
                                                                                    audit_events):
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    forged = browser.post("/login/password", {"password": "posée par un autre site", "reveal": "password"})
    assert forged.status_code == 400 and "posée par un autre site" not in text(forged)  # CSRF
    typed = '"><script>alert(1)</script>'
    page = browser.submit("/login/password", {"password": typed, "reveal": "password"})
    assert page.status_code == 200 and "<script>alert(1)" not in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert all(typed not in str(vars(r)) for r in audit_events)  # shown, never logged
    assert browser.submit("/login/password", {"password": PASSWORD_OF_TESTS}).status_code == 302


# -- /login/forgot -----------------------------------------------------------------------------------

def test_the_forgot_page_mails_within_the_limits_and_answers_unknown_addresses_as_the_address_step(
        app, make_account, mailbox):
    make_account(CAMILLE)
    attacker = browser_from(app, "203.0.113.66")
    for _ in range(6):
        attacker.submit("/login/forgot", {"email": CAMILLE})
    mailbox.deliver()
    assert len(mailbox.to(CAMILLE)) == 3  # limits.mail_per_address_client: 3 per 10 minutes
    page = text(attacker.submit("/login/forgot", {"email": "personne@univ-exemple.fr"}))
    assert "Adresse email non reconnue" in page  # the product's choice (SEC09), as at the address step
    elsewhere = browser_from(app, "192.0.2.80")  # the person, from home, is not refused
    sent = elsewhere.submit("/login/forgot", {"email": CAMILLE})
    assert "Nous avons envoyé un lien de réinitialisation" in text(sent)


# -- the "new code" button of an ended link ------------------------------------------------------------

def test_an_old_link_cannot_mail_beyond_the_limits_nor_change_a_victims_pending_sign_in(app, make_account,
                                                                                      mailbox):
    make_account(CAMILLE)
    make_account("dominique@univ-exemple.fr")
    link = spent_sign_in_link(app, mailbox)  # Camille's old link, in the attacker's hands
    ref = link_parts(link)[0]
    attacker = browser_from(app, "203.0.113.66")
    for _ in range(6):
        attacker.submit(f"/login/link/signin/{ref}", form_page=link)
    mailbox.deliver()
    assert len(mailbox.to(CAMILLE)) == 1 + 3  # the first code, then limits.mail_per_address_client
    victim = browser_from(app, "192.0.2.80")
    victim.submit("/login", {"email": "dominique@univ-exemple.fr"})
    forged = victim.post(f"/login/link/signin/{ref}", {})  # from the attacker's page: no CSRF token
    assert forged.status_code in (302, 400)
    assert MASKED not in text(victim.get("/login/password"))
    assert "dominique@univ-exemple.fr" in text(victim.get("/login/password"))  # still her own sign-in
    assert len(mailbox.to(CAMILLE)) == 4


# -- the last address (shared PCs) -------------------------------------------------------------------

def test_the_last_address_cookie_is_out_of_reach_of_scripts_and_only_with_remember_me(browser, make_account):
    make_account(CAMILLE)
    without = browser.sign_in(CAMILLE)
    assert "uness_last_email" not in " ".join(without.headers.getlist("Set-Cookie"))
    browser.submit("/logout", form_page="/logout")
    remembered = browser.sign_in(CAMILLE, remember=True)
    [cookie] = [c for c in remembered.headers.getlist("Set-Cookie") if c.startswith("uness_last_email=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
