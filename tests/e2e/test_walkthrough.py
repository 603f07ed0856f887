"""Issue 12's "Done when", walked in one headless Chromium: no page without a way forward.

A hospital practitioner has two addresses from cockpit; the hospital's mailbox refuses the
gateway's mail (the SMTP capture answers 550 for it), and the computer is shared. She tries
the refused address, sees that her mailbox refused the code, signs in with the other one and
her password without "Se souvenir de moi", logs out; the next person finds no address filled
in. Then a support operator runs ``gateway support diagnose`` (in process, as tests/support
does) and reads why the first address got nothing. At every page: a way forward in the page's
main part (a form, a button or a link; the footer does not count) and axe-core finds no violation.
"""
from __future__ import annotations

import re

import gateway.cli.support  # noqa: F401  registers ``gateway support …``
from tests.cli.conftest import cli_env, restore_logging, run  # noqa: F401  the CLI in process
from tests.conftest import PASSWORD
from tests.e2e.test_pages import (  # noqa: F401  the gateway with its mail to the SMTP capture
    assert_accessible,
    assert_way_forward,
    site,
    worker_app,
)
from tests.fixtures_mail import run_mail_worker

HOSPITAL = "claire.dupont@chu-exemple.fr"  # its mailbox refuses the gateway's mail
UNIVERSITY = "claire.dupont@univ-exemple.fr"
NAME = "Claire Dupont"


def step(page, state: str) -> None:
    """Every page of the walk: a way forward, and no axe violation."""
    page.wait_for_load_state()
    assert_way_forward(page, state)
    assert_accessible(page, state)


def test_a_practitioner_on_a_shared_pc_never_meets_a_dead_end_and_support_sees_why(
        site, worker_app, smtp, make_account, page, run):
    smtp.refuse[HOSPITAL] = "550 5.7.1 <claire.dupont@chu-exemple.fr>: Message refused by policy"
    make_account(HOSPITAL, UNIVERSITY, account_id="e2e-claire", display_name=NAME)

    page.goto(site.url + "/")  # the address people type: on to the sign-in page
    page.wait_for_url(re.compile(r"/login$"))
    step(page, "address step")
    page.get_by_label("Adresse email").fill(HOSPITAL)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(re.compile(r"/login/password$"))  # any cockpit address leads to the password
    step(page, "password step, the hospital address")
    page.get_by_role("button", name="Recevoir un code de connexion par email").click()  # password forgotten
    page.wait_for_url(re.compile(r"/login/code$"))
    step(page, "code step, mail on its way")
    run_mail_worker(worker_app)
    page.get_by_role("link", name="Actualiser").click()
    status = page.locator("#etat-du-message").inner_text()
    assert "Refusé par votre messagerie : utilisez une autre adresse." in status
    assert "550 5.7.1" in status and smtp.messages == []
    step(page, "code step, mail refused")

    page.get_by_role("link", name="Utiliser une autre de mes adresses").click()
    page.wait_for_url(re.compile(r"/login\?change=1$"))
    step(page, "address step, another address")
    page.get_by_label("Adresse email").fill(UNIVERSITY)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(re.compile(r"/login/password$"))
    step(page, "password step, the university address")
    remember = page.get_by_label("Se souvenir de moi")
    assert not remember.is_checked()
    assert "ordinateur partagé" in page.locator("main").inner_text()  # the warning under the box
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.wait_for_url(re.compile(r"/account$"))
    assert page.locator("header .who").inner_text() == f"Connecté : {NAME}"
    step(page, "Mes informations")

    page.get_by_role("button", name="Se déconnecter", exact=True).first.click()
    page.wait_for_url(re.compile(r"/login\?logged_out=1$"))
    assert "Vous êtes déconnecté." in page.get_by_role("status").first.inner_text()
    assert page.get_by_label("Adresse email").input_value() == ""
    step(page, "logged out")
    page.goto(site.url + "/login")  # the next person at the same computer
    assert page.get_by_label("Adresse email").input_value() == ""  # nothing remembered
    assert not [c for c in page.context.cookies() if UNIVERSITY in c["value"] or "univ-exemple" in c["value"]]
    step(page, "address step, the next person")

    said = run("support", "diagnose", HOSPITAL)  # the operator, in one command
    assert said.exit_code == 0, said.output
    assert f"Code de connexion envoyé par email à {HOSPITAL} : refusé ou jamais remis" in said.stdout
    assert "a été refusé ou n'a pas pu être remis" in said.stdout
    assert "Connexion réussie" in said.stdout  # and that she got in with the other address
