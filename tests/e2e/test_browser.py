"""The real sign-in in a real browser: address, password with "Se souvenir de moi", account page, logout."""
from __future__ import annotations

import re
import shutil
import time
from urllib.parse import urlsplit

from tests.conftest import PASSWORD

SCREENSHOT_COPY = "/tmp/uness-login.png"


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_sign_in_remember_me_then_log_out(gateway, account, page, tmp_path):
    address = account.primary_email
    page.goto(gateway.url + "/login")
    page.get_by_label("Adresse email").fill(address)
    page.get_by_role("button", name="Continuer").click()

    page.wait_for_url(re.compile(r"/login/password$"))
    assert address in page.locator("main").inner_text()
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Se souvenir de moi").check()
    page.get_by_role("button", name="Se connecter").click()

    page.wait_for_url(re.compile(r"/account$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Mes informations"
    assert "Camille Martin" in page.locator("main").inner_text()
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "uness_session")
    assert session_cookie["httpOnly"]
    assert session_cookie["expires"] > time.time() + 29 * 86400  # remembered: survives the browser

    page.screenshot(path=str(tmp_path / "account.png"), full_page=True)
    shutil.copyfile(tmp_path / "account.png", SCREENSHOT_COPY)

    logout = page.get_by_role("button", name="Se déconnecter")
    button = logout.bounding_box()
    brand = page.locator("header .brand").bounding_box()
    header = page.locator("header.top").bounding_box()
    assert button and brand and header
    assert button["x"] + button["width"] <= brand["x"], (button, brand)
    assert button["x"] + button["width"] <= header["x"] + header["width"] / 2, (button, header)
    assert header["y"] <= button["y"] and button["y"] + button["height"] <= header["y"] + header["height"]

    logout.click()
    page.wait_for_url(re.compile(r"/login\?logged_out=1$"))
    assert page.get_by_role("status").inner_text() == "Vous êtes déconnecté."
    assert page.get_by_role("button", name="Se déconnecter").count() == 0
    # The login page starts a new anonymous session (its CSRF token): never the signed-in one again.
    assert session_cookie["value"] not in [c["value"] for c in page.context.cookies()]
    page.screenshot(path=str(tmp_path / "logged-out.png"), full_page=True)

    response = page.goto(gateway.url + "/account")
    assert response is not None and response.request.redirected_from is not None
    assert path_of(response.request.redirected_from.url) == "/account"
    assert path_of(page.url) == "/login"
    assert page.get_by_role("heading", level=1).inner_text() == "Connexion à UNESS"
