""""Mes informations": details, addresses (add, confirm, remove, primary), password, sessions.

End to end over HTTP: forms are fetched and posted with their CSRF token, mail is read
from the real SMTP server the worker delivers to.
"""
from __future__ import annotations

import html
import re

import pytest

from gateway.identity.flaskglue import signin
from gateway.identity.logout import on_session_end
from gateway.store import key
from gateway.web import account as account_pages
from tests.conftest import PASSWORD, Browser
from tests.helpers.forms import page_form

CAMILLE = "camille@univ-exemple.fr"
NEW = "camille.m@chu-exemple.fr"
NEW_PASSWORD = "une phrase assez longue pour UNESS"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


@pytest.fixture
def camille(make_account):
    return make_account(CAMILLE, given_name="Camille", family_name="Martin", display_name="Camille Martin",
                     establishment="{UAI}0751717J", affiliations=("student", "staff"))


@pytest.fixture
def signed_in(browser, camille):
    assert browser.sign_in(CAMILLE).status_code == 302
    return browser


def another_browser(app, email: str = CAMILLE, user_agent: str | None = None) -> Browser:
    other = Browser(app.test_client())
    if user_agent:
        other.client.environ_base["HTTP_USER_AGENT"] = user_agent
    assert other.sign_in(email).status_code == 302
    return other


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def post(browser: Browser, path: str, data: dict | None = None, form_page: str = "/account"):
    return browser.submit(path, data, form_page=form_page)


def add(browser: Browser, address: str = NEW):
    return post(browser, "/account/emails", {"new_email": address})


def enter_code(browser: Browser, code: str):
    return post(browser, "/account/emails/verify", {"code": code}, form_page="/account/emails/verify")


def send_again(browser: Browser, address: str = NEW):
    return post(browser, "/account/emails/verify/send", {"address": address},
                form_page="/account/emails/verify")


def verified(directory, address: str, account_id: str = "camille") -> bool | None:
    email = directory.get(account_id).email(address)
    return None if email is None else email.verified


def session_cookie(browser: Browser) -> str:
    return browser.client.get_cookie("uness_session").value


# -- the page ------------------------------------------------------------------------------

def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert "/login?next=%2Faccount" in response.headers["Location"]


def test_a_session_whose_account_was_disabled_shows_nothing(signed_in, camille, directory):
    """The page reads the account with the session (one round trip): disabled meanwhile, with its session
    left in Redis, the same browser is sent to the sign-in page and sees none of its details."""
    directory.disable(camille.id)  # no session ended: the record stays
    response = signed_in.client.get("/account")
    assert response.status_code == 302
    assert "/login?next=%2Faccount" in response.headers["Location"]
    assert b"Camille" not in response.data


def test_a_disabled_accounts_session_leads_to_the_sign_in_page_not_a_loop(signed_in, camille, directory):
    """/account sends to /login, which must not send back to /account (the session is no sign-in any more):
    the address form shows, and the address step says the account is disabled."""
    directory.disable(camille.id)  # no session ended: the record stays
    sign_in_page = signed_in.client.get(signed_in.client.get("/account").headers["Location"])
    assert sign_in_page.status_code == 200 and 'name="email"' in page(sign_in_page)
    assert signed_in.client.get("/").headers["Location"].endswith("/login")
    step = signed_in.submit("/login", {"email": CAMILLE})
    assert "Ce compte est désactivé" in page(step)


def test_details_from_the_university(signed_in):
    text = page(signed_in.client.get("/account"))
    assert "<h1>Mes informations</h1>" in text
    for shown in ("Camille Martin", "Camille", "Martin", "{UAI}0751717J", "Étudiant, Personnel", "Actif"):
        assert shown in text
    assert "Ces informations viennent de votre université" in text
    assert f"<strong>{CAMILLE}</strong>\n      (principale, confirmée)" in text
    assert '<th scope="col">Appareil</th>' in text and '<th scope="row">' in text
    assert "(cette session)" in text


def test_english_page_renders(signed_in):
    response = signed_in.client.get("/account", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert response.status_code == 200
    assert '<html lang="en">' in response.get_data(as_text=True)


# -- adding and confirming an address ---------------------------------------------------------

def test_add_confirm_then_sign_in_with_the_new_address(app, signed_in, directory, mailbox, audit_events):
    response = add(signed_in, "  Camille.M@CHU-Exemple.fr ")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/emails/verify")
    assert verified(directory, NEW) is None  # not part of the account until confirmed
    form = page(signed_in.client.get("/account/emails/verify"))
    assert f"Un code de confirmation a été envoyé à {NEW}." in form and 'role="status"' in form
    assert f"Nous avons envoyé un code à 6 chiffres à {NEW}. Il est valable 30 minutes." in form
    assert f"<strong>{NEW}</strong> (en attente de confirmation)" in page(signed_in.client.get("/account"))

    message = mailbox.last(NEW)
    assert message["Subject"] == "Confirmez votre nouvelle adresse"
    code = mailbox.code(NEW)

    # not confirmed yet: the address is not the account's, nor reserved
    stranger = Browser(app.test_client())
    assert "Adresse email non reconnue" in page(stranger.submit("/login", {"email": NEW}))
    assert directory.owner_of(NEW) is None

    done = enter_code(signed_in, code)
    assert done.status_code == 302 and done.headers["Location"].endswith("/account")
    assert f"Adresse confirmée : {NEW}." in page(signed_in.client.get("/account"))
    assert verified(directory, NEW) is True

    signed_in.submit("/logout", form_page="/logout")
    assert not signed_in.signed_in()
    step = signed_in.submit("/login", {"email": NEW})
    assert step.headers["Location"].endswith("/login/password")
    done = signed_in.submit("/login/password", {"password": PASSWORD})
    assert done.headers["Location"].endswith("/account")
    assert signed_in.signed_in()

    events = [r.getMessage() for r in audit_events]
    assert "email.added" in events and "email.verified" in events
    for record in audit_events:
        if record.getMessage().startswith("email."):
            assert NEW not in str(vars(record)) and len(record.email_hash) == 16


def test_mail_link_only_fills_in_the_form(signed_in, directory, mailbox):
    add(signed_in)
    link, code = mailbox.link(NEW), mailbox.code(NEW)
    assert link.startswith("/account/emails/verify/") and link.endswith(f"?code={code}")
    for _ in range(2):  # mail scanners and double clicks open links
        text = page(signed_in.client.get(link))
        assert f'value="{code}"' in text and "Le code de votre message est déjà rempli" in text
    assert verified(directory, NEW) is None
    flow = page_form(text, field="flow").fields["flow"]
    done = post(signed_in, "/account/emails/verify", {"flow": flow, "code": code}, form_page=link)
    assert done.status_code == 302
    assert verified(directory, NEW) is True
    again = post(signed_in, "/account/emails/verify", {"flow": flow, "code": code}, form_page=link)
    assert "Ce code n'est plus valable. Demandez-en un nouveau." in page(again)


def test_wrong_code_counts_down_then_the_code_is_void(signed_in, directory, mailbox):
    add(signed_in)
    code = mailbox.code(NEW)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        text = page(enter_code(signed_in, wrong))
        assert f"Code incorrect. Il vous reste {left} essai{'s' if left > 1 else ''}." in text
        assert 'aria-invalid="true"' in text and 'aria-describedby="code-error"' in text
    text = page(enter_code(signed_in, wrong))
    assert "Ce code n'est plus valable : demandez-en un nouveau." in text
    text = page(enter_code(signed_in, code))
    assert "Ce code n'est plus valable" in text
    assert verified(directory, NEW) is None

    # "Renvoyer un code" starts again
    response = send_again(signed_in)
    assert response.headers["Location"].endswith("/account/emails/verify")
    fresh = mailbox.code(NEW)
    enter_code(signed_in, fresh)
    assert verified(directory, NEW) is True


def test_send_again_is_rate_limited(signed_in, mailbox, smtp):
    add(signed_in)  # 1st mail to the address; the limit is 3 per 10 minutes
    for _ in range(2):
        send_again(signed_in)
    response = send_again(signed_in)
    assert "Trop de tentatives. Réessayez dans" in page(signed_in.client.get(response.headers["Location"]))
    mailbox.deliver()
    assert [m["To"] for m in smtp.messages].count(NEW) == 3


def test_a_code_flow_of_another_account_is_refused(app, signed_in, make_account, directory, mailbox):
    make_account("dominique@univ-exemple.fr")
    add(signed_in)
    link, code = mailbox.link(NEW), mailbox.code(NEW)
    flow = link.split("/")[-1].split("?")[0]
    other = another_browser(app, "dominique@univ-exemple.fr")
    shown = page(other.client.get(link))
    assert NEW not in shown and "Ce code n'est plus valable" in shown
    refused = post(other, "/account/emails/verify", {"flow": flow, "code": code}, form_page=link)
    assert "Ce code n'est plus valable" in page(refused)
    assert verified(directory, NEW) is None and directory.get("dominique").email(NEW) is None
    # untouched: still good for its owner
    post(signed_in, "/account/emails/verify", {"flow": flow, "code": code}, form_page=link)
    assert verified(directory, NEW) is True


def test_address_of_another_account_is_refused_without_saying_why(signed_in, make_account, directory, mailbox,
                                                                  smtp):
    make_account("dominique@univ-exemple.fr")
    make_account("claude@univ-exemple.fr", verified=False)
    for taken in ("dominique@univ-exemple.fr", "Claude@Univ-Exemple.fr"):
        text = page(add(signed_in, taken))
        assert "Cette adresse ne peut pas être ajoutée." in text
        assert 'aria-describedby="new_email-hint new_email-error"' in text
        assert "autre compte" not in text and "déjà utilisée" not in text
    assert directory.get("camille").addresses == (CAMILLE,)
    mailbox.deliver()
    assert smtp.messages == []


def test_invalid_or_already_present_address(signed_in, directory):
    assert "Cette adresse email n'est pas valide." in page(add(signed_in, "pas une adresse"))
    assert "Cette adresse figure déjà dans votre compte." in page(add(signed_in, CAMILLE.upper()))
    assert directory.get("camille").addresses == (CAMILLE,)


# -- removing an address, choosing the primary ----------------------------------------------------

def test_remove_addresses_but_never_the_last_confirmed_one(browser, make_account, directory, audit_events):
    make_account(CAMILLE, "camille@chu-exemple.fr")
    directory.add_email("camille", NEW)  # not confirmed
    browser.sign_in(CAMILLE)
    assert directory.get("camille").addresses == (CAMILLE, "camille@chu-exemple.fr", NEW)

    response = post(browser, "/account/emails/remove", {"address": NEW})
    assert response.status_code == 302
    assert f"Adresse retirée : {NEW}." in page(browser.client.get("/account"))
    response = post(browser, "/account/emails/remove", {"address": CAMILLE})  # the primary
    assert response.status_code == 302
    assert directory.get("camille").addresses == ("camille@chu-exemple.fr",)

    text = page(post(browser, "/account/emails/remove", {"address": "camille@chu-exemple.fr"}))
    assert "Vous ne pouvez pas retirer votre seule adresse." in text and 'role="alert"' in text
    assert directory.get("camille").addresses == ("camille@chu-exemple.fr",)
    assert [r.getMessage() for r in audit_events].count("email.removed") == 2


def test_the_last_confirmed_address_stays(browser, make_account, directory):
    make_account(CAMILLE)
    directory.add_email("camille", NEW)
    browser.sign_in(CAMILLE)
    text = page(post(browser, "/account/emails/remove", {"address": CAMILLE}))
    assert "Vous ne pouvez pas retirer votre dernière adresse confirmée" in text
    assert directory.get("camille").addresses == (CAMILLE, NEW)


def test_removing_the_primary_gives_the_role_to_a_confirmed_address(browser, make_account, directory):
    make_account(CAMILLE, "camille@chu-exemple.fr")
    directory.add_email("camille", NEW)
    directory.set_primary("camille", NEW)
    directory.set_primary("camille", CAMILLE)
    assert directory.get("camille").addresses == (CAMILLE, NEW, "camille@chu-exemple.fr")
    browser.sign_in(CAMILLE)
    post(browser, "/account/emails/remove", {"address": CAMILLE})
    assert directory.get("camille").addresses == ("camille@chu-exemple.fr", NEW)


def test_only_a_confirmed_address_becomes_primary(browser, make_account, directory, audit_events):
    make_account(CAMILLE, "camille@chu-exemple.fr")
    directory.add_email("camille", NEW)
    browser.sign_in(CAMILLE)
    text = page(post(browser, "/account/emails/primary", {"address": NEW}))
    assert "seule une adresse confirmée peut devenir principale" in text and 'role="alert"' in text
    text = page(post(browser, "/account/emails/primary", {"address": "personne@ailleurs.fr"}))
    assert "Cette adresse ne figure pas dans votre compte." in text
    assert directory.get("camille").primary_email == CAMILLE

    response = post(browser, "/account/emails/primary", {"address": "camille@chu-exemple.fr"})
    assert response.status_code == 302
    text = page(browser.client.get("/account"))
    assert "Votre adresse principale est désormais camille@chu-exemple.fr." in text
    assert "<strong>camille@chu-exemple.fr</strong>\n      (principale, confirmée)" in text
    assert directory.get("camille").primary_email == "camille@chu-exemple.fr"
    assert "email.primary" in [r.getMessage() for r in audit_events]


# -- password ---------------------------------------------------------------------------------

def change(browser: Browser, current: str, new: str, confirm: str | None = None):
    data = {"current": current, "password": new, "confirm": confirm or new}
    return post(browser, "/account/password", data)


def test_change_password(app, signed_in, mailbox, redis_client):
    other = another_browser(app)

    text = page(change(signed_in, "not the password", NEW_PASSWORD))
    assert "Mot de passe actuel incorrect." in text and 'aria-describedby="current-error"' in text
    assert redis_client.hget(key("throttle", "pair", "camille", "127.0.0.1"), "count") == "1"
    text = page(change(signed_in, PASSWORD, CAMILLE))
    assert "Le mot de passe ne peut pas être votre adresse email." in text
    text = page(change(signed_in, PASSWORD, "court"))
    assert "Au moins 12 caractères." in text
    text = page(change(signed_in, PASSWORD, NEW_PASSWORD, "une autre phrase bien longue"))
    assert "Les deux mots de passe ne sont pas identiques." in text
    assert other.signed_in()

    response = change(signed_in, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    notice = "Mot de passe modifié. Vos autres sessions ont été fermées."
    assert notice in page(signed_in.client.get("/account"))
    assert signed_in.signed_in()
    assert not other.signed_in()
    assert mailbox.last(CAMILLE)["Subject"] == "Votre mot de passe a été modifié"

    signed_in.submit("/logout", form_page="/logout")
    assert "Mot de passe incorrect." in page(signed_in.sign_in(CAMILLE, PASSWORD))
    assert signed_in.sign_in(CAMILLE, NEW_PASSWORD).status_code == 302


def test_wrong_current_passwords_are_delayed(app, signed_in):
    for n in range(5):  # throttle_pair: this (known) browser's own failures delay it
        assert "Mot de passe actuel incorrect." in page(change(signed_in, f"guess {n}", NEW_PASSWORD))
    text = page(change(signed_in, PASSWORD, NEW_PASSWORD))
    assert "Trop de tentatives. Réessayez dans" in text
    assert "Mot de passe modifié" not in page(signed_in.client.get("/account"))


# -- sessions ---------------------------------------------------------------------------------

def test_sessions_listed_and_one_ended(app, browser, camille, audit_events):
    ended = []
    on_session_end(app, lambda session: ended.append((session.sid, session.browser, session.reason)))
    browser.client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    browser.sign_in(CAMILLE, remember=True)
    phone = another_browser(app, user_agent=SAFARI)
    phone_sid = session_cookie(phone)

    text = page(browser.client.get("/account"))
    rows = re.findall(r'<th scope="row">(.*?)</th>', text)
    assert rows == ["Firefox sur Windows <strong>(cette session)</strong>", "Safari sur iOS"]
    assert text.count("Fermer cette session") == 1 and "Fermer toutes mes autres sessions" in text
    assert "Oui" in text and "Non" in text and "127.0.0.1" in text
    assert phone_sid not in text and session_cookie(browser) not in text  # ids are cookies: never shown

    ref = page_form(text, field="ref").fields["ref"]
    response = post(browser, "/account/sessions/end", {"ref": ref})
    assert "La session a été fermée." in page(browser.client.get(response.headers["Location"]))
    assert not phone.signed_in()
    assert browser.signed_in()
    assert ended == [(phone_sid, False, "session.ended_by_user")]
    assert "session.ended" in [r.getMessage() for r in audit_events]
    assert len(re.findall(r'<th scope="row">', page(browser.client.get("/account")))) == 1


def test_ending_a_session_that_is_not_one_of_mine_does_nothing(app, signed_in, make_account):
    make_account("dominique@univ-exemple.fr")
    dominique = another_browser(app, "dominique@univ-exemple.fr")
    mine = another_browser(app)
    with app.test_request_context():
        refs = [signin.session_ref(session_cookie(b)) for b in (dominique, signed_in)]
    for ref in [*refs, "nimporte-quoi", session_cookie(dominique)]:
        response = post(signed_in, "/account/sessions/end", {"ref": ref})
        assert "Cette session n'est plus ouverte." in page(signed_in.client.get(response.headers["Location"]))
    assert dominique.signed_in() and mine.signed_in() and signed_in.signed_in()


def test_end_all_other_sessions(app, signed_in):
    others = [another_browser(app), another_browser(app)]
    response = post(signed_in, "/account/sessions/end-others")
    assert "2 autres sessions ont été fermées." in page(signed_in.client.get(response.headers["Location"]))
    assert not any(o.signed_in() for o in others)
    assert signed_in.signed_in()


def test_device_names(app):
    with app.test_request_context():
        assert account_pages.device_name(FIREFOX) == "Firefox sur Windows"
        assert account_pages.device_name(SAFARI) == "Safari sur iOS"
        assert account_pages.device_name(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36") == "Chrome sur Android"
        assert account_pages.device_name(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0") == "Edge sur macOS"
        assert account_pages.device_name("curl/8.5.0") == "Appareil inconnu"
        assert account_pages.device_name("") == "Appareil inconnu"


# -- CSRF -------------------------------------------------------------------------------------

def test_posts_without_csrf_token_are_refused_and_change_nothing(app, signed_in, directory, mailbox, smtp):
    other = another_browser(app)
    attempts = [
        ("/account/emails", {"new_email": NEW}),
        ("/account/emails/primary", {"address": CAMILLE}),
        ("/account/emails/remove", {"address": CAMILLE}),
        ("/account/password", {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}),
        ("/account/sessions/end-others", {}),
    ]
    for path, data in attempts:
        response = signed_in.client.post(path, data=data)
        assert response.status_code == 400, path
        assert "Page expirée" in page(response)
    assert directory.get("camille").addresses == (CAMILLE,)
    assert other.signed_in()
    mailbox.deliver()
    assert smtp.messages == []
    assert app.extensions["gateway.passwords"].verify(directory.get("camille").password_hash, PASSWORD)


def test_verify_page_without_a_pending_address_goes_back(signed_in):
    response = signed_in.client.get("/account/emails/verify")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
