"""First-login activation, sign-in by code, reset link, logout — each read from the real mail."""
from __future__ import annotations

import re

import pytest

from tests.conftest import Browser
from tests.helpers.forms import csrf_token, page_form

NEW = "une phrase de passe assez longue"


@pytest.fixture
def codes(app):
    return app.extensions["gateway.codes"]


def hidden(page: str, name: str) -> str:
    return page_form(page, field=name).fields[name]


def ask_code(browser, page_path: str) -> str:
    """Press the state page's one button ("Recevoir … par email"); the code page it leads to."""
    sent = browser.submit("/login/code/send", form_page=page_path)
    assert sent.headers["Location"].endswith(page_path)
    return browser.client.get(page_path).get_data(as_text=True)


# -- activation ---------------------------------------------------------------------------

def test_activation_by_code(browser, make_account, mailbox, directory):
    make_account("interne@chu-exemple.fr", status="provisioned", verified=False)
    step1 = browser.submit("/login", {"email": "interne@chu-exemple.fr"})
    assert step1.headers["Location"].endswith("/login/activate")
    page = ask_code(browser, "/login/activate")
    assert "interne@chu-exemple.fr" in page and "courriers indésirables" in page
    mail = mailbox.last("interne@chu-exemple.fr")
    assert "interne@chu-exemple.fr" in mailbox.text(mail)
    done = browser.submit("/login/activate", {"flow": hidden(page, "flow"), "code": mailbox.code("interne@chu-exemple.fr"),
                                              "password": NEW, "confirm": NEW})
    assert done.status_code == 302 and browser.signed_in()
    account = directory.find_by_email("interne@chu-exemple.fr")
    assert account.status == "active" and account.emails[0].verified
    browser.submit("/logout", form_page="/logout")
    assert browser.sign_in("interne@chu-exemple.fr", NEW).status_code == 302 and browser.signed_in()


def test_activation_by_mailed_link_in_another_browser(browser, make_account, mailbox, app, directory):
    """The person's phone: the page says which account the link activates, one button confirms."""
    make_account("interne@chu-exemple.fr", status="provisioned", verified=False)
    browser.submit("/login", {"email": "interne@chu-exemple.fr"})
    ask_code(browser, "/login/activate")
    link = mailbox.link("interne@chu-exemple.fr")
    other = app.test_client()
    for _ in range(2):  # a mail scanner opening the link first consumes nothing
        page = other.get(link).get_data(as_text=True)
        assert "Vous allez activer le compte i***e@chu-exemple.fr et vous y connecter." in page
        assert "Activer ce compte" in page and hidden(page, "confirmed") == "1"
    form = page_form(page, action="/login/activate")
    assert re.fullmatch(r"\d{6}", form.fields["code"])  # the code from the link, filled in
    done = other.post("/login/activate", data={**form.fields, "password": NEW, "confirm": NEW})
    assert done.status_code == 302
    assert other.get("/account").status_code == 200
    assert directory.find_by_email("interne@chu-exemple.fr").status == "active"


def test_activation_refuses_weak_password_without_spending_the_code(browser, make_account, mailbox):
    make_account("interne@chu-exemple.fr", status="provisioned", verified=False)
    browser.submit("/login", {"email": "interne@chu-exemple.fr"})
    page = ask_code(browser, "/login/activate")
    code = mailbox.code("interne@chu-exemple.fr")
    for weak, message in (("azertyuiop123", "trop courant"), ("court", "Au moins 12 caractères"),
                          ("interne@chu-exemple.fr", "ne peut pas être votre adresse")):
        result = browser.submit("/login/activate", {"flow": hidden(page, "flow"), "code": code,
                                                    "password": weak, "confirm": weak}).get_data(as_text=True)
        assert message in result
    ok = browser.submit("/login/activate", {"flow": hidden(page, "flow"), "code": code, "password": NEW, "confirm": NEW})
    assert ok.status_code == 302


# -- sign-in code ---------------------------------------------------------------------------

def test_sign_in_with_code(browser, make_account, mailbox):
    make_account("camille@univ-exemple.fr")
    browser.submit("/login", {"email": "camille@univ-exemple.fr"})
    sent = browser.submit("/login/code/send", form_page="/login/password")
    assert sent.headers["Location"].endswith("/login/code")
    page = browser.client.get("/login/code").get_data(as_text=True)
    assert "camille@univ-exemple.fr" in page
    done = browser.submit("/login/code", {"flow": hidden(page, "flow"), "code": mailbox.code("camille@univ-exemple.fr")})
    assert done.status_code == 302 and browser.signed_in()


def test_code_void_after_five_wrong_tries(browser, make_account, mailbox):
    make_account("camille@univ-exemple.fr")
    browser.submit("/login", {"email": "camille@univ-exemple.fr"})
    browser.submit("/login/code/send", form_page="/login/password")
    page = browser.client.get("/login/code").get_data(as_text=True)
    flow, right = hidden(page, "flow"), mailbox.code("camille@univ-exemple.fr")
    wrong = "000000" if right != "000000" else "111111"
    for remaining in (4, 3, 2, 1):
        text = browser.submit("/login/code", {"flow": flow, "code": wrong}).get_data(as_text=True)
        assert f"Il vous reste {remaining} essai{'s' if remaining > 1 else ''}." in text
    assert "n&#39;est plus valable" in browser.submit("/login/code", {"flow": flow, "code": wrong}).get_data(as_text=True)
    text = browser.submit("/login/code", {"flow": flow, "code": right}).get_data(as_text=True)
    assert "Ce code n'est plus valable" in text and not browser.signed_in()
    assert "Recevoir un nouveau code par email" in text  # the way on


def test_code_single_use_and_expiry(browser, make_account, mailbox, codes, app):
    make_account("camille@univ-exemple.fr")
    browser.submit("/login", {"email": "camille@univ-exemple.fr"})
    browser.submit("/login/code/send", form_page="/login/password")
    page = browser.client.get("/login/code").get_data(as_text=True)
    flow, code = hidden(page, "flow"), mailbox.code("camille@univ-exemple.fr")
    now = codes.clock()
    codes.clock = lambda: now + 11 * 60  # 11 minutes later: the 10-minute code has expired
    assert "plus valable" in browser.submit("/login/code", {"flow": flow, "code": code}).get_data(as_text=True)


# -- reset link ----------------------------------------------------------------------------

def ask_reset(browser, address: str) -> None:
    browser.submit("/login", {"email": address})
    page = browser.submit("/login/reset", form_page="/login/password")
    assert "Nous avons envoyé un lien de réinitialisation" in page.get_data(as_text=True)


def test_reset_link_single_use(browser, make_account, mailbox, app, directory):
    make_account("camille@univ-exemple.fr")
    ask_reset(browser, "camille@univ-exemple.fr")
    link = mailbox.link("camille@univ-exemple.fr")
    assert link.startswith("/reset/")
    other = app.test_client()
    assert other.get(link).status_code == 200 and other.get(link).status_code == 200  # GET never spends it
    page = other.get(link).get_data(as_text=True)
    done = other.post(link, data={"csrf_token": csrf_token(page), "password": NEW, "confirm": NEW})
    assert done.status_code == 302 and other.get("/account").status_code == 200
    assert other.get(link).status_code == 410  # used
    assert app.extensions["gateway.passwords"].verify(directory.find_by_email("camille@univ-exemple.fr").password_hash, NEW)
    assert mailbox.last("camille@univ-exemple.fr")["Subject"].startswith("Votre mot de passe")


def test_reset_link_expires_after_30_minutes(browser, make_account, mailbox, codes):
    make_account("camille@univ-exemple.fr")
    now = codes.clock()
    codes.clock = lambda: now  # frozen: however slow the machine, the link is issued at ``now``
    ask_reset(browser, "camille@univ-exemple.fr")
    link = mailbox.link("camille@univ-exemple.fr")
    codes.clock = lambda: now + 29 * 60
    assert browser.client.get(link).status_code == 200
    codes.clock = lambda: now + 31 * 60
    assert browser.client.get(link).status_code == 410


def test_newer_link_voids_the_older(browser, make_account, mailbox):
    make_account("camille@univ-exemple.fr")
    ask_reset(browser, "camille@univ-exemple.fr")
    first = mailbox.link("camille@univ-exemple.fr")
    browser.submit("/login/reset", form_page="/login/password")
    second = mailbox.link("camille@univ-exemple.fr")
    assert first != second
    assert browser.client.get(first).status_code == 410
    assert browser.client.get(second).status_code == 200


def test_link_void_once_password_changes(browser, make_account, mailbox, app, directory):
    make_account("camille@univ-exemple.fr")
    ask_reset(browser, "camille@univ-exemple.fr")
    link = mailbox.link("camille@univ-exemple.fr")
    account = directory.find_by_email("camille@univ-exemple.fr")
    directory.set_password_hash(account.id, app.extensions["gateway.passwords"].hash("another long password!"))
    assert browser.client.get(link).status_code == 410


def test_new_password_ends_every_other_session(browser, make_account, mailbox, app):
    make_account("camille@univ-exemple.fr")
    elsewhere = Browser(app.test_client())
    elsewhere.sign_in("camille@univ-exemple.fr")
    assert elsewhere.signed_in()
    ask_reset(browser, "camille@univ-exemple.fr")
    link = mailbox.link("camille@univ-exemple.fr")
    browser.submit(link, {"password": NEW, "confirm": NEW})
    assert browser.signed_in()
    assert not elsewhere.signed_in()


# -- logout ---------------------------------------------------------------------------------

def test_logout_ends_the_session_server_side(browser, make_account, client, app, redis_client):
    make_account("camille@univ-exemple.fr")
    browser.sign_in("camille@univ-exemple.fr")
    cookie = client.get_cookie(app.extensions["gateway.settings"].sessions.cookie_name).value
    assert redis_client.exists(f"gw:session:{cookie}")
    page = client.get("/account").get_data(as_text=True)
    assert page.index("Se déconnecter") < page.index("UNESS</span>")  # the button comes first, top left
    confirm = client.get("/logout")
    assert confirm.status_code == 200 and browser.signed_in()  # a GET only asks
    done = browser.submit("/logout", form_page="/logout")
    assert done.headers["Location"].endswith("/login?logged_out=1")
    assert "Vous êtes déconnecté." in client.get("/login?logged_out=1").get_data(as_text=True)
    assert not redis_client.exists(f"gw:session:{cookie}")
    replay = app.test_client()
    replay.set_cookie(app.extensions["gateway.settings"].sessions.cookie_name, cookie)
    assert replay.get("/account").status_code == 302


def test_sec10_reset_link_from_configured_url_token_stored_hashed(browser, make_account, mailbox,
                                                                  redis_client, app):
    """SEC10: mailed links come from the configured public URL, never the Host header; Redis holds only
    a keyed hash of the 256-bit token; the reset page sends no referrer."""
    from gateway.identity.flaskglue import signin

    with app.test_request_context("/login/reset", headers={"Host": "evil.example"}):
        assert signin.absolute("reset.form", token="t") == "http://127.0.0.1:8000/reset/t"
    make_account("camille@univ-exemple.fr")
    ask_reset(browser, "camille@univ-exemple.fr")
    text = mailbox.text(mailbox.last("camille@univ-exemple.fr"))
    assert "http://127.0.0.1:8000/reset/" in text
    secret = mailbox.link("camille@univ-exemple.fr").rsplit("/", 1)[1]
    assert len(secret) >= 43  # 256 bits, url-safe base64
    stored = list(redis_client.scan_iter("gw:link:reset:*"))
    assert stored and all(secret not in k and secret not in (redis_client.get(k) or "") for k in stored)
    assert browser.client.get(f"/reset/{secret}").headers["Referrer-Policy"] == "no-referrer"
