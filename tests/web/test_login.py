"""Sign-in: address first, then password; unknown and disabled addresses; any verified address."""
from __future__ import annotations

from tests.conftest import PASSWORD

UNKNOWN = "Adresse email non reconnue. Réessayez avec une autre de vos adresses"


def test_address_then_password_signs_in(browser, make_account):
    make_account("camille@univ-exemple.fr")
    step1 = browser.submit("/login", {"email": "Camille@Univ-Exemple.fr"})
    assert step1.status_code == 302 and step1.headers["Location"].endswith("/login/password")
    page = browser.client.get("/login/password").get_data(as_text=True)
    assert "camille@univ-exemple.fr" in page and "Se souvenir de moi" in page
    assert "Mot de passe oublié ?" in page and "Recevoir un code de connexion par email" in page
    done = browser.submit("/login/password", {"password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/account")
    assert browser.signed_in()


def test_sign_in_with_each_verified_address(browser, make_account, client):
    make_account("camille@univ-exemple.fr", "camille@chu-exemple.fr")
    for address in ("camille@univ-exemple.fr", "camille@chu-exemple.fr"):
        assert browser.sign_in(address).status_code == 302
        assert browser.signed_in()
        browser.submit("/logout", form_page="/logout")
        assert not browser.signed_in()


def test_unknown_address_message(browser):
    """SEC09 deliberately not met: the product tells an unknown address apart (README, "Requirements deliberately not met");
    the answer is rate limited per client and per address instead (tests/web/test_protection.py)."""
    page = browser.submit("/login", {"email": "personne@univ-exemple.fr"}).get_data(as_text=True)
    assert UNKNOWN in page
    assert "contactez votre université (ou celle de votre terrain de stage)" in page
    assert 'aria-invalid="true"' in page and 'aria-describedby="email-hint email-error"' in page


def test_invalid_address_message(browser):
    page = browser.submit("/login", {"email": "pas une adresse"}).get_data(as_text=True)
    assert "Cette adresse email n&#39;est pas valide." in page


def test_disabled_account_message_reveals_nothing_more(browser, make_account):
    make_account("ancien@univ-exemple.fr", status="disabled")
    page = browser.submit("/login", {"email": "ancien@univ-exemple.fr"}).get_data(as_text=True)
    assert "Ce compte est désactivé. Contactez le support" in page
    assert browser.client.get("/login/password").status_code == 302


def test_wrong_password(browser, make_account):
    make_account("camille@univ-exemple.fr")
    page = browser.sign_in("camille@univ-exemple.fr", "not the password").get_data(as_text=True)
    assert "Mot de passe incorrect." in page
    assert not browser.signed_in()


def test_next_resumes_only_local_pages(browser, make_account, client):
    make_account("camille@univ-exemple.fr")
    client.get("/login?next=/saml/sso/resume?x=1")
    response = browser.sign_in("camille@univ-exemple.fr")
    assert response.headers["Location"] == "/saml/sso/resume?x=1"
    browser.submit("/logout", form_page="/logout")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        client.get("/login", query_string={"next": evil})
        response = browser.sign_in("camille@univ-exemple.fr")
        assert response.headers["Location"] == "/account", evil
        browser.submit("/logout", form_page="/logout")


def test_english_when_the_browser_asks(client):
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    page = client.get("/login", headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
    assert '<html lang="fr">' in page and "Connexion à UNESS" in page


def test_a_second_cockpit_address_leads_to_the_password(browser, make_account, directory, mailbox):
    """An address cockpit registered but never mailed leads an active account to the password (issue 12):
    the password signs in without confirming it; a code mailed from there confirms it."""
    make_account("camille@univ-exemple.fr")
    account_id = directory.find_by_email("camille@univ-exemple.fr").id
    directory.add_email(account_id, "camille@gmail.com")
    step = browser.submit("/login", {"email": "camille@gmail.com"})
    assert step.headers["Location"].endswith("/login/password")
    page = browser.client.get("/login/password").get_data(as_text=True)
    assert "Mot de passe oublié ?" in page and "Recevoir un code de connexion par email" in page
    assert browser.submit("/login/password", {"password": PASSWORD}).status_code == 302
    assert browser.signed_in() and mailbox.to("camille@gmail.com") == []
    assert not directory.get(account_id).email("camille@gmail.com").verified
