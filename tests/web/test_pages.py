"""What every page does around its form: the error summary, shared computers, phones, the footer.

Over HTTP with the real app, Redis and SMTP sink; what a browser does with it (focus, layout,
JavaScript off, axe) is in tests/e2e/test_pages.py.
"""
from __future__ import annotations

import html
import re

import pytest

from gateway.config import ConfigError, load_settings
from gateway.web.login import LAST_EMAIL_COOKIE
from tests.conftest import PASSWORD, Browser

CAMILLE = "camille@univ-exemple.fr"
NEW = "une phrase de passe assez longue"
SITE = {
    "establishments": {"{UAI}0751717J": "Université Paris Cité"},
    "accessibility": "partiellement",
    "accessibility_url": {"fr": "https://www.uness.fr/accessibilite", "en": "https://www.uness.fr/en/accessibility"},
    "legal_notice_url": {"fr": "https://www.uness.fr/mentions-legales"},
    "personal_data_url": {"fr": "https://www.uness.fr/donnees-personnelles"},
    "help_url": {"fr": "https://www.uness.fr/aide"},
    "contact_url": {"fr": "mailto:support@uness.fr"},
    "help_text": {"fr": "Un problème ? L'assistance de votre université vous aide.",
                  "en": "Trouble? Your university's help desk can help."},
}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def title(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, re.S).group(1)


def summary(page: str, summary_id: str = "erreurs") -> str:
    """The error summary's HTML (asserting its role, focus and place in the page)."""
    match = re.search(rf'<div class="error-summary" id="{summary_id}" role="alert" tabindex="-1" autofocus'
                      rf'.*?</div>', page, re.S)
    assert match, f"no error summary #{summary_id}"
    return match.group(0)


def links(summary_html: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary_html)


def cookie(client, name: str):
    return client.get_cookie(name)


# -- the error summary --------------------------------------------------------------------------

def test_address_step_error_summary_links_to_the_field(browser):
    page = text(browser.submit("/login", {"email": "personne@univ-exemple.fr"}))
    assert title(page).startswith("Erreur : Connexion")
    found = links(summary(page))
    assert found[0][0] == "email" and found[0][1].startswith("Adresse email non reconnue.")
    assert page.index('id="erreurs"') < page.index('<form method="post" action="/login"')
    assert 'id="email"' in page  # the link's target


def test_a_page_without_errors_has_no_summary_and_no_error_title(client):
    page = text(client.get("/login"))
    assert "error-summary" not in page and not title(page).startswith("Erreur")


def test_password_step_summary_and_username_for_password_managers(browser, make_account):
    make_account(CAMILLE)
    page = text(browser.sign_in(CAMILLE, "pas le bon"))
    assert title(page).startswith("Erreur : ")
    assert links(summary(page)) == [("password", "Mot de passe incorrect.")]
    assert f'<input type="email" autocomplete="username" value="{CAMILLE}" hidden readonly>' in page


def test_empty_required_fields_each_have_a_link(browser, make_account, mailbox):
    make_account("interne@chu-exemple.fr", status="provisioned", verified=False)
    browser.submit("/login", {"email": "interne@chu-exemple.fr"})
    browser.submit("/login/code/send", form_page="/login/activate")
    page = text(browser.submit("/login/activate", {"code": "", "password": "court", "confirm": "autre"}))
    targets = [target for target, _ in links(summary(page))]
    assert targets == ["code", "password", "confirm"]
    assert 'autocomplete="username" value="interne@chu-exemple.fr"' in page


def test_reset_form_summary_and_username(browser, make_account, mailbox, app):
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    browser.submit("/login/reset", form_page="/login/password")
    link = mailbox.link(CAMILLE)
    other = Browser(app.test_client())
    page = text(other.submit(link, {"password": NEW, "confirm": NEW + "x"}))
    assert links(summary(page)) == [("confirm", "Les deux mots de passe ne sont pas identiques.")]
    assert f'autocomplete="username" value="{CAMILLE}"' in page


def test_account_errors_land_at_the_form_that_failed(browser, make_account):
    """The summary is at the form that failed, ~1,000 px below the top, with autofocus (the browser
    scrolls there: tests/e2e/test_pages.py)."""
    make_account(CAMILLE)
    browser.sign_in(CAMILLE)

    page = text(browser.submit("/account/password", {"current": "faux", "password": NEW, "confirm": NEW},
                               form_page="/account"))
    assert title(page) == "Erreur : Mes informations · UNESS"
    assert links(summary(page, "erreurs-mot-de-passe")) == [("current", "Mot de passe actuel incorrect.")]
    assert page.count("error-summary") == 1
    assert page.index('id="erreurs-mot-de-passe"') > page.index('id="mot-de-passe"')  # in its section

    page = text(browser.submit("/account/emails", {"new_email": "pas une adresse"}, form_page="/account"))
    assert links(summary(page, "erreurs-ajout")) == [("new_email", "Cette adresse email n'est pas valide.")]

    page = text(browser.submit("/account/emails/remove", {"address": CAMILLE}, form_page="/account"))
    assert "Vous ne pouvez pas retirer votre seule adresse." in summary(page, "erreurs-adresses")
    assert title(page).startswith("Erreur : ")


# -- shared computers -----------------------------------------------------------------------------

def test_last_address_only_with_remember_me(browser, make_account, client):
    make_account(CAMILLE)
    browser.sign_in(CAMILLE)
    assert cookie(client, LAST_EMAIL_COOKIE) is None
    browser.client.delete_cookie("uness_session")
    assert f'value="{CAMILLE}"' not in text(client.get("/login"))


def test_remembered_address_is_forgotten_at_logout(browser, make_account, client, app):
    make_account(CAMILLE)
    browser.sign_in(CAMILLE, remember=True)
    remembered = cookie(client, LAST_EMAIL_COOKIE)
    assert remembered is not None
    assert f'value="{CAMILLE}"' in text(client.get("/login?force=1"))
    browser.submit("/logout", form_page="/logout")
    assert cookie(client, LAST_EMAIL_COOKIE) is None
    assert f'value="{CAMILLE}"' not in text(client.get("/login"))


def test_next_person_without_remember_me_clears_the_previous_address(browser, make_account, client):
    """Someone ticked "Se souvenir de moi" on a shared PC and closed the browser; the next person
    signs in without it: the first person's address is gone."""
    make_account(CAMILLE)
    make_account("dominique@chu-exemple.fr")
    browser.sign_in(CAMILLE, remember=True)
    client.delete_cookie("uness_session")
    assert f'value="{CAMILLE}"' in text(client.get("/login"))
    browser.sign_in("dominique@chu-exemple.fr")
    assert cookie(client, LAST_EMAIL_COOKIE) is None


def test_shared_computer_warning_under_remember_me(browser, make_account):
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    page = text(browser.client.get("/login/password"))
    assert '<input aria-describedby="remember-hint" id="remember" name="remember" type="checkbox"' in page
    assert re.search(r'<p class="hint checkbox-hint" id="remember-hint">Ne cochez pas cette case sur un '
                     r'ordinateur partagé', page)


def test_signed_in_name_beside_the_logout_button(browser, make_account):
    make_account(CAMILLE, display_name="Camille Martin")
    browser.sign_in(CAMILLE)
    for path in ("/account", "/logout"):
        header = re.search(r'<header class="top">.*?</header>', text(browser.client.get(path)), re.S).group(0)
        assert header.index("Se déconnecter") < header.index('<span class="who">Connecté : Camille Martin</span>')


def test_name_falls_back_to_the_address(browser, make_account):
    make_account(CAMILLE)
    browser.sign_in(CAMILLE)
    assert f'<span class="who">Connecté : {CAMILLE}</span>' in text(browser.client.get("/account"))


# -- phones: a password in clear without JavaScript ----------------------------------------------

def test_show_password_without_javascript_does_nothing_but_show_it(browser, make_account, audit_events):
    """The "Afficher" button posts the form: it comes back with the password in clear, nothing signed in,
    no wrong password counted."""
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    page = text(browser.submit("/login/password", {"password": "pas le bon", "reveal": "password"}))
    field = re.search(r'<input [^>]*id="password"[^>]*>', page).group(0)
    assert 'type="text"' in field and 'value="pas le bon"' in field and "autofocus" in field
    assert 'aria-pressed="true"' in page and "error-summary" not in page
    assert not browser.signed_in()
    assert not [r for r in audit_events if r.getMessage().startswith("login.")]
    page = text(browser.submit("/login/password", {"password": "pas le bon", "reveal": ""}))
    field = re.search(r'<input [^>]*id="password"[^>]*>', page).group(0)
    assert 'type="password"' in field and 'value="pas le bon"' in field  # hidden again, still typed
    assert browser.submit("/login/password", {"password": PASSWORD}).status_code == 302


def test_show_one_of_two_new_passwords_keeps_both(browser, make_account, mailbox, app):
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    browser.submit("/login/reset", form_page="/login/password")
    link = mailbox.link(CAMILLE)
    other = Browser(app.test_client())
    page = text(other.submit(link, {"password": NEW, "confirm": NEW, "reveal": "confirm"}))
    fields = {m.group(1): m.group(0) for m in re.finditer(r'<input [^>]*id="(password|confirm)"[^>]*>', page)}
    assert 'type="password"' in fields["password"] and f'value="{NEW}"' in fields["password"]
    assert 'type="text"' in fields["confirm"] and f'value="{NEW}"' in fields["confirm"]
    assert other.client.get(link).status_code == 200  # the link was not spent


def test_a_password_page_never_shows_it_unasked(browser, make_account):
    make_account(CAMILLE)
    browser.submit("/login", {"email": CAMILLE})
    page = text(browser.submit("/login/password", {"password": "pas le bon"}))
    field = re.search(r'<input [^>]*id="password"[^>]*>', page).group(0)
    assert 'type="password"' in field and 'value=""' in field


# -- establishments by name, the footer ------------------------------------------------------------

def test_establishment_by_name(build, make_account):
    make_account(CAMILLE, establishment="{UAI}0751717J")
    other = Browser(build({"site": SITE}).test_client())
    other.sign_in(CAMILLE)
    page = text(other.client.get("/account"))
    assert "<dd>Université Paris Cité</dd>" in page and "0751717J" not in page


def test_footer_on_every_page_in_both_languages(build, make_account):
    app = build({"site": SITE})
    client = app.test_client()
    for path, status in (("/login", 200), ("/reset/not-a-token", 410)):
        response = client.get(path)
        assert response.status_code == status
        footer = re.search(r"<footer.*?</footer>", text(response), re.S).group(0)
        assert '<a href="https://www.uness.fr/accessibilite">Accessibilité : partiellement conforme</a>' in footer
        assert '<a href="https://www.uness.fr/mentions-legales">Mentions légales</a>' in footer
        assert '<a href="https://www.uness.fr/donnees-personnelles">Données personnelles</a>' in footer
        assert '<a href="mailto:support@uness.fr">Contacter l\'assistance</a>' in footer
        assert "Un problème ? L'assistance de votre université vous aide." in footer
    english = re.search(r"<footer.*?</footer>", text(client.get("/login?lang=en")), re.S).group(0)
    assert '<a href="https://www.uness.fr/en/accessibility">Accessibility: partially compliant</a>' in english
    assert '<a href="https://www.uness.fr/mentions-legales">Legal notice</a>' in english  # no English page: French
    assert "Trouble? Your university's help desk can help." in english


def test_footer_without_configuration_still_states_accessibility(client):
    footer = re.search(r"<footer.*?</footer>", text(client.get("/login")), re.S).group(0)
    assert "<li>Accessibilité : non conforme</li>" in footer and "<a " not in footer


@pytest.mark.parametrize("site, problem", [
    ({"accessibility": "presque"}, "site.accessibility: one of non, partiellement, totalement"),
    ({"legal_notice_url": {"fr": "javascript:alert(1)"}}, "site.legal_notice_url.fr: an https:, http: or mailto:"),
    ({"help_text": {"de": "Hilfe"}}, "site.help_text: languages are fr and en"),
    ({"establishments": {"{UAI}0751717J": 3}}, "site.establishments: expected a table of strings"),
])
def test_site_settings_are_checked(site, problem):
    env = {"GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": "x" * 40}
    with pytest.raises(ConfigError) as info:
        load_settings(env, overrides={"site": site})
    assert any(line.startswith(problem) for line in info.value.problems), info.value.problems
