"""Every page state in headless Chromium: axe-core finds no violation; errors take the focus; phones; no JavaScript.

axe-core runs in the page (``axe-playwright-python`` ships it: nothing is downloaded). The gateway runs
under gunicorn with the footer configured and its mail going to a real SMTP capture; the mail worker
runs in this process when a test needs the mailed link.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from email.message import EmailMessage
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.accounts.directory import Directory
from gateway.accounts.models import Account
from gateway.mail import fate as fates
from gateway.store import Store
from tests.conftest import DEV_KEY, PASSWORD, Gunicorn
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures_mail import SmtpCapture, run_mail_worker

axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright",
                               reason="axe-playwright-python is missing: pip install -e '.[test]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: `make test` installs it")

NEW = "une phrase de passe assez longue"
SITE_ENV = {
    "GATEWAY_SITE_ACCESSIBILITY": "partiellement",
    "GATEWAY_SITE_ACCESSIBILITY_URL": json.dumps({"fr": "https://www.uness.fr/accessibilite"}),
    "GATEWAY_SITE_LEGAL_NOTICE_URL": json.dumps({"fr": "https://www.uness.fr/mentions-legales"}),
    "GATEWAY_SITE_PERSONAL_DATA_URL": json.dumps({"fr": "https://www.uness.fr/donnees-personnelles"}),
    "GATEWAY_SITE_HELP_URL": json.dumps({"fr": "https://www.uness.fr/aide"}),
    "GATEWAY_SITE_CONTACT_URL": json.dumps({"fr": "mailto:support@uness.fr"}),
    "GATEWAY_SITE_HELP_TEXT": json.dumps({"fr": "Un problème ? L'assistance de votre université vous aide."}),
    "GATEWAY_SITE_ESTABLISHMENTS": json.dumps({"{UAI}0751717J": "Université Paris Cité"}),
}


APP_NAME = "UNESS Formation"
#: An OIDC client (public, PKCE) the sign-in pages name.
CLIENTS = f"""
[[clients]]
client_id = "uness-formation"
client_name = "{APP_NAME}"
redirect_uris = ["https://formation.uness.example/cb"]
scopes = ["openid", "email"]
token_endpoint_auth_method = "none"
"""
AUTHORIZE = ("/oidc/authorize?client_id=uness-formation&response_type=code&scope=openid&state=s1"
             "&redirect_uri=https%3A%2F%2Fformation.uness.example%2Fcb&code_challenge_method=S256"
             "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


@pytest.fixture
def site(gunicorn, smtp: SmtpCapture, tmp_path: Path) -> Gunicorn:
    """The gateway with the footer configured and an OIDC client, its mail to the SMTP capture."""
    clients = tmp_path / "oidc-clients.toml"
    clients.write_text(CLIENTS, encoding="utf-8")
    return gunicorn({**SITE_ENV, "GATEWAY_MAIL_SERVER": smtp.host, "GATEWAY_MAIL_PORT": str(smtp.port),
                     "GATEWAY_MAIL_SECURITY": "none", "GATEWAY_OIDC_CLIENTS_FILE": str(clients)})


@pytest.fixture
def worker_app(make_mail_app, mail_config, site: Gunicorn):
    """An app on the same Redis as the gateway, to run the mail worker in this process."""
    return make_mail_app({**mail_config, "public_url": site.url, "secret_key": DEV_KEY[:40]})


@pytest.fixture
def people(make_account, redis_client, account: Account) -> dict[str, Account]:
    """Camille (active, an establishment), Dominique (provisioned: activation), Sacha (an unconfirmed address)."""
    make_account("dominique.e2e@chu-exemple.fr", account_id="e2e-dominique", status="provisioned", verified=False)
    sacha = make_account("sacha.e2e@chu-exemple.fr", "sacha.perso@exemple.fr", account_id="e2e-sacha",
                         display_name="Sacha", password_hash=account.password_hash)
    directory = Directory(Store(redis_client))
    directory.update(sacha.id, lambda a: dataclasses.replace(
        a, emails=(a.emails[0], dataclasses.replace(a.emails[1], verified=False))))
    camille = directory.update(account.id, lambda a: dataclasses.replace(a, establishment="{UAI}0751717J"))
    return {"camille": camille}


@contextlib.contextmanager
def chromium(tmp_path: Path, name: str, **options) -> Iterator:
    """A fresh headless Chromium context (``java_script_enabled=False``, a phone viewport...)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(**{"locale": "fr-FR", **options})
        context.set_default_timeout(20_000)  # a loaded 2-core host is slow, a hang still fails
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


AXE = None


def assert_accessible(page, state: str) -> None:
    """axe-core (WCAG 2.0/2.1 A and AA rules and best practices) finds no violation on this page state."""
    global AXE
    AXE = AXE or axe_sync.Axe()
    results = AXE.run(page)
    assert results.violations_count == 0, f"{state} ({page.url}):\n{results.generate_report()}"


def assert_way_forward(page, state: str) -> None:
    """Not a dead end: the page's main part holds a form with a button, a button, or a link."""
    ways = page.locator("main form button, main form input[type=submit], main button, main a[href]")
    assert ways.count() > 0, f"{state} ({page.url}): no way forward\n{page.locator('main').inner_text()}"


def mailed(smtp: SmtpCapture, to: str) -> tuple[str, str]:
    """The code and the link of the last mail to ``to``."""
    message: EmailMessage = [m for m in smtp.messages if to in str(m["To"])][-1]
    text = message.get_body(("plain",)).get_content()
    return re.search(r"^\s+(\d{6})\s*$", text, re.M).group(1), re.search(r"(http://\S+)", text).group(1)


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def assert_error_summary_focused(page, summary_id: str = "erreurs", title: str = "Erreur : ") -> None:
    """Focus is on the summary (role=alert), it is on screen, the title says "Erreur :" (``title``)."""
    summary = page.locator(f"#{summary_id}")
    summary.wait_for()
    page.wait_for_load_state()
    assert summary.get_attribute("role") == "alert"
    page.wait_for_function("id => document.activeElement && document.activeElement.id === id", arg=summary_id)
    assert summary.is_visible() and summary.evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")
    assert page.title().startswith(title)
    for link in summary.get_by_role("link").all():  # each error links to its field
        assert page.locator(link.get_attribute("href")).count() == 1


def address_step(page, url: str, address: str, path: str = "/login") -> None:
    """The sign-in page at ``path``, ``address`` typed, "Continuer" pressed."""
    page.goto(url + path)
    page.get_by_label("Adresse email").fill(address)
    page.get_by_role("button", name="Continuer").click()


def sign_in_steps(page, url: str, address: str) -> None:
    page.goto(url + "/login")
    assert_accessible(page, "address step")
    page.get_by_label("Adresse email").fill("personne@univ-exemple.fr")
    page.get_by_role("button", name="Continuer").click()
    assert_error_summary_focused(page)
    assert_accessible(page, "address step, unknown address")
    page.get_by_label("Adresse email").fill(address)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(re.compile(r"/login/password$"))
    assert_accessible(page, "password step")


def test_every_page_state_passes_axe_and_errors_take_the_focus(site, people, page, worker_app, smtp):
    address = people["camille"].primary_email
    sign_in_steps(page, site.url, address)
    page.get_by_label("Mot de passe", exact=True).fill("pas le bon")
    page.get_by_role("button", name="Se connecter").click()
    assert_error_summary_focused(page)
    assert_accessible(page, "password step, wrong password")

    page.get_by_role("button", name="Mot de passe oublié ?").click()
    page.get_by_role("heading", name="Mot de passe oublié").wait_for()
    assert_accessible(page, "reset link sent")
    run_mail_worker(worker_app)
    link = re.search(r"(http://\S+/reset/\S+)", smtp.messages[-1].get_body(("plain",)).get_content()).group(1)
    page.goto(link)
    assert_accessible(page, "reset form")
    page.get_by_label("Nouveau mot de passe").fill(NEW)
    page.get_by_label("Confirmez le mot de passe").fill(NEW + " pas pareil")
    page.get_by_role("button", name="Enregistrer et me connecter").click()
    assert_error_summary_focused(page)
    assert_accessible(page, "reset form, passwords differ")
    page.goto(site.url + "/reset/pas-un-lien")
    assert_accessible(page, "reset link no longer valid")

    address_step(page, site.url, address, "/login?change=1")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Mot de passe", exact=True).press("Enter")  # Enter signs in (not "Afficher")
    page.wait_for_url(re.compile(r"/account$"))
    assert "Université Paris Cité" in page.locator("main").inner_text()
    assert page.locator("header .who").inner_text() == "Connecté : Camille Martin"
    activity = page.locator("section[aria-labelledby=activite] tbody tr")
    assert activity.count() >= 2  # "Activité récente": the failure, the sign-in
    assert_accessible(page, "Mes informations, with Activité récente")

    page.get_by_label("Mot de passe actuel").fill("pas le bon")
    page.get_by_label("Nouveau mot de passe").fill(NEW)
    page.get_by_label("Confirmez le mot de passe").fill(NEW)
    page.get_by_role("button", name="Changer mon mot de passe").click()
    assert_error_summary_focused(page, "erreurs-mot-de-passe")  # ~1,000 px down: on screen all the same
    assert page.evaluate("scrollY") > 0
    assert_accessible(page, "Mes informations, wrong current password")
    page.get_by_label("Nouvelle adresse email").fill("pas une adresse")
    page.get_by_role("button", name="Ajouter l'adresse").click()
    assert_error_summary_focused(page, "erreurs-ajout")
    assert_accessible(page, "Mes informations, invalid address")
    page.locator("#erreurs-ajout a").click()
    assert focused_id(page) == "new_email"  # the summary's link leads to the field
    page.get_by_label("Nouvelle adresse email").fill("camille.autre@exemple.fr")
    page.get_by_role("button", name="Ajouter l'adresse").click()
    page.wait_for_url(re.compile(r"/account/emails/verify$"))
    assert "c***e@exemple.fr" in page.locator("#etat-du-message").inner_text()
    assert_accessible(page, "address confirmation, its mail's status")

    page.goto(site.url + "/logout")
    assert_accessible(page, "logout confirmation")
    page.get_by_role("button", name="Se déconnecter").last.click()
    page.wait_for_url(re.compile(r"/login\?logged_out=1$"))
    assert_accessible(page, "logged out")
    assert page.get_by_label("Adresse email").input_value() == ""

    response = page.goto(site.url + "/saml/sso")
    assert response is not None and response.status == 400
    page.get_by_role("heading", name="Connexion impossible").wait_for()
    assert_accessible(page, "SAML error page")
    response = page.goto(site.url + "/oidc/authorize?client_id=inconnu&response_type=code&scope=openid"
                         "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb")
    assert response is not None and response.status == 400 and "/oidc/" in page.url  # the error page itself
    assert_accessible(page, "OIDC error page")
    footer = page.locator("footer")
    assert footer.get_by_role("link", name="Accessibilité : partiellement conforme").count() == 1
    assert footer.get_by_role("link", name="Mentions légales").count() == 1

    page.goto(site.url + "/login?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("footer").get_by_role("link", name="Accessibility: partially compliant").count() == 1
    assert_accessible(page, "address step in English")


def test_activation_and_code_pages_pass_axe(site, people, page):
    address_step(page, site.url, "dominique.e2e@chu-exemple.fr")
    page.wait_for_url(re.compile(r"/login/activate$"))
    assert_accessible(page, "activation, before the code")
    page.get_by_role("button", name="Recevoir mon code d'activation par email").click()
    page.get_by_label("Code reçu par email").wait_for()
    assert_accessible(page, "activation form")
    page.get_by_label("Code reçu par email").fill("12")
    page.get_by_label("Nouveau mot de passe").fill("court")
    page.get_by_role("button", name="Activer mon compte").click()
    assert_error_summary_focused(page)
    assert page.locator("#erreurs li").count() == 3  # the code, the short password, the missing confirmation
    assert_accessible(page, "activation form, errors")

    # a second cockpit address, never mailed: the password step
    address_step(page, site.url, "sacha.perso@exemple.fr", "/login?change=1")
    page.wait_for_url(re.compile(r"/login/password$"))
    assert_accessible(page, "password, a second cockpit address")
    page.get_by_role("button", name="Recevoir un code de connexion par email").click()
    page.wait_for_url(re.compile(r"/login/code$"))
    assert_accessible(page, "sign-in code, before the code")
    page.get_by_label("Code reçu par email").fill("000000")
    page.get_by_role("button", name="Se connecter").click()
    assert_error_summary_focused(page)
    assert_accessible(page, "sign-in code, wrong code")


def test_phone_width_sessions_as_cards(site, people, tmp_path):
    phone = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
    with chromium(tmp_path, "phone", **phone) as page:
        sign_in_steps(page, site.url, people["camille"].primary_email)
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(re.compile(r"/account$"))
        assert_accessible(page, "Mes informations at 375 px")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing overflows sideways
        row = page.locator("table.sessions tbody tr").first
        device, ip = row.locator("th").bounding_box(), row.locator("td").first.bounding_box()
        assert ip["y"] >= device["y"] + device["height"] - 1 and abs(ip["x"] - device["x"]) < 2  # stacked: a card
        assert row.locator("td").first.evaluate("e => getComputedStyle(e, '::before').content") == '"Adresse IP : "'
        assert page.locator("table.sessions thead").is_hidden() or \
            page.locator("table.sessions thead").bounding_box()["height"] <= 1

    with chromium(tmp_path, "phone-activation", **phone) as page:  # the activation steps at 375 px
        address_step(page, site.url, "dominique.e2e@chu-exemple.fr")
        page.wait_for_url(re.compile(r"/login/activate$"))
        assert_accessible(page, "activation at 375 px, before the code")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.get_by_role("button", name="Recevoir mon code d'activation par email").click()
        page.get_by_label("Code reçu par email").fill("12")
        page.get_by_role("button", name="Activer mon compte").click()
        assert_error_summary_focused(page)
        assert_accessible(page, "activation form at 375 px, errors")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_show_password_without_javascript(site, people, tmp_path):
    with chromium(tmp_path, "nojs", java_script_enabled=False) as page:
        address_step(page, site.url, people["camille"].primary_email)
        field = page.get_by_label("Mot de passe", exact=True)
        field.fill(PASSWORD)
        assert field.get_attribute("type") == "password"
        page.get_by_role("button", name="Afficher").click()  # posts the form; it comes back as typed
        page.wait_for_load_state()
        field = page.locator("#password")
        assert field.get_attribute("type") == "text" and field.input_value() == PASSWORD
        assert page.get_by_role("button", name="Afficher").get_attribute("aria-pressed") == "true"
        page.wait_for_function("document.activeElement.id === 'password'")  # autofocus
        # (axe-core cannot run where JavaScript is off: the same state is checked with it below)
        field.press("Enter")  # the form's own button, not "Afficher"
        page.wait_for_url(re.compile(r"/account$"))

        page.get_by_label("Mot de passe actuel").fill("pas le bon")
        page.get_by_role("button", name="Changer mon mot de passe").click()
        page.wait_for_function("document.activeElement.id === 'erreurs-mot-de-passe'")  # autofocus, no script
        assert page.evaluate("scrollY") > 0
        assert page.locator("#erreurs-mot-de-passe").evaluate(
            "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")


def test_show_password_with_javascript(site, people, page):
    address_step(page, site.url, people["camille"].primary_email)
    field = page.get_by_label("Mot de passe", exact=True)
    field.fill(PASSWORD)
    toggle = page.get_by_role("button", name="Afficher")
    url = page.url
    toggle.click()
    assert field.get_attribute("type") == "text" and toggle.get_attribute("aria-pressed") == "true"
    assert page.url == url and field.input_value() == PASSWORD  # switched in place
    assert_accessible(page, "password shown")
    toggle.click()
    assert field.get_attribute("type") == "password" and toggle.get_attribute("aria-pressed") == "false"


def test_mail_status_ended_links_and_throttle_messages_pass_axe(site, people, page, worker_app, smtp):
    address = people["camille"].primary_email
    address_step(page, site.url, address)
    page.get_by_role("button", name="Recevoir un code de connexion par email").click()
    page.wait_for_url(re.compile(r"/login/code$"))
    assert "Envoi en cours" in page.locator("#etat-du-message").inner_text()
    assert_accessible(page, "sign-in code, mail queued")
    run_mail_worker(worker_app)
    _code, first_link = mailed(smtp, address)
    page.get_by_role("button", name="Renvoyer un code").click()
    run_mail_worker(worker_app)
    page.get_by_role("link", name="Actualiser").click()
    assert "accepté par votre messagerie" in page.locator("#etat-du-message").inner_text()
    assert_accessible(page, "sign-in code, mail accepted")

    response = page.goto(first_link)  # replaced by the second code
    assert response is not None and response.status == 410
    page.get_by_role("heading", name="Ce lien n'est plus valable").wait_for()
    assert_accessible(page, "ended link")
    page.get_by_role("button", name="Recevoir un nouveau code par email").click()
    page.wait_for_url(re.compile(r"/login/code$"))
    page.get_by_role("button", name="Renvoyer un code").click()  # the fourth mail in ten minutes: refused
    assert "il reste valable" in page.get_by_role("status").first.inner_text()
    assert_accessible(page, "throttle message")

    run_mail_worker(worker_app)  # accepted ten minutes ago and still unused: the Mailinblack hint
    store = worker_app.extensions["gateway.store"]
    [newest, *_] = fates.recent(store, address)
    fates.record(store, dataclasses.replace(newest, at=newest.at - 600), days=1)
    page.get_by_role("link", name="Actualiser").click()
    assert "Mailinblack" in page.locator("#etat-du-message").inner_text()
    assert_accessible(page, "sign-in code, Mailinblack hint")


def test_refused_and_retrying_mail_and_the_activated_link_pass_axe(site, people, worker_app, smtp, tmp_path):
    smtp.refuse["sacha.perso@exemple.fr"] = "550 5.1.1 <sacha.perso@exemple.fr>: Recipient address rejected"
    with chromium(tmp_path, "refused") as page:
        address_step(page, site.url, "sacha.perso@exemple.fr")
        page.get_by_role("button", name="Recevoir un code de connexion par email").click()
        run_mail_worker(worker_app)
        page.get_by_role("link", name="Actualiser").click()
        assert "Refusé par votre messagerie" in page.locator("#etat-du-message").inner_text()
        assert_accessible(page, "sign-in code, mail refused")

        page.get_by_role("link", name="Utiliser une autre de mes adresses").click()
        page.get_by_label("Adresse email").fill("sacha.e2e@chu-exemple.fr")
        page.get_by_role("button", name="Continuer").click()
        smtp.stop()
        try:
            page.get_by_role("button", name="Recevoir un code de connexion par email").click()
            run_mail_worker(worker_app)
            page.get_by_role("link", name="Actualiser").click()
            assert "nouvel essai" in page.locator("#etat-du-message").inner_text()
            assert_accessible(page, "sign-in code, mail retrying")
        finally:
            smtp.start()

    with chromium(tmp_path, "activation") as page:
        address_step(page, site.url, "dominique.e2e@chu-exemple.fr")
        page.get_by_role("button", name="Recevoir mon code d'activation par email").click()
        run_mail_worker(worker_app)
        code, link = mailed(smtp, "dominique.e2e@chu-exemple.fr")
        page.get_by_label("Code reçu par email").fill(code)
        page.get_by_label("Nouveau mot de passe").fill(NEW)
        page.get_by_label("Confirmez le mot de passe").fill(NEW)
        page.get_by_role("button", name="Activer mon compte").click()
        page.wait_for_url(re.compile(r"/account$"))
        response = page.goto(link)  # the activation link once more
        assert response is not None and response.status == 410
        page.get_by_role("heading", name="Votre compte est déjà activé").wait_for()
        assert_accessible(page, "account already activated")
        assert_way_forward(page, "account already activated")


def test_forgot_page_and_the_application_name_pass_axe(site, people, page):
    page.goto(site.url + "/login/forgot")
    assert_accessible(page, "forgot, blank")
    page.get_by_label("Adresse email").fill("personne@univ-exemple.fr")
    page.get_by_role("button", name="Recevoir un lien par email").click()
    assert_error_summary_focused(page)
    assert_accessible(page, "forgot, unknown address")
    page.get_by_label("Adresse email").fill(people["camille"].primary_email)
    page.get_by_role("button", name="Recevoir un lien par email").click()
    page.get_by_role("heading", name="Mot de passe oublié").wait_for()
    assert_accessible(page, "forgot, link sent")

    page.goto(site.url + "/login?change=1")
    page.goto(site.url + AUTHORIZE)
    page.wait_for_url(re.compile(r"/login(\?|$)"))
    assert f"Vous vous connectez à « {APP_NAME} »" in page.locator("main").inner_text()
    assert_accessible(page, "address step naming the application")
    page.get_by_label("Adresse email").fill(people["camille"].primary_email)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(re.compile(r"/login/password$"))
    assert f"Vous vous connectez à « {APP_NAME} »" in page.locator("main").inner_text()
    assert_accessible(page, "password step naming the application")


def test_english_pages_pass_axe(site, people, tmp_path):
    with chromium(tmp_path, "english", locale="en-GB") as english:
        english.goto(site.url + AUTHORIZE)
        english.wait_for_url(re.compile(r"/login(\?|$)"))
        assert english.locator("html").get_attribute("lang") == "en"
        assert f"You are signing in to “{APP_NAME}”" in english.locator("main").inner_text()
        english.get_by_label("Email address").fill(people["camille"].primary_email)
        english.locator("form button.button-primary").click()
        english.wait_for_url(re.compile(r"/login/password$"))
        assert_accessible(english, "password step in English")
        english.locator("#password").fill("not it")
        english.locator("form button.button-primary").first.click()
        assert_error_summary_focused(english, title="Error")
        assert_accessible(english, "password step in English, wrong password")
        english.goto(site.url + "/login/forgot")
        assert_accessible(english, "forgot page in English")
        response = english.goto(site.url + "/reset/not-a-link")
        assert response is not None and response.status == 410
        assert_accessible(english, "ended link in English")

