"""Single logout in a real browser: sign in to demo legacy SAML SPs, then the gateway's logout button.

The logout button is a form (POST /logout, CSRF) and the gateway's pages send
``Content-Security-Policy: form-action 'self'``; Chromium applies that directive
to every redirect of the navigation the form started. So the chain must not
leave the gateway by a redirect of such a navigation (README, "The continue
page"), else Chromium logs "Sending form data to '…/logout' violates the
following Content Security Policy directive: "form-action 'self'"" and the SP is
never told. The demo SPs (gateway/demo/saml_sp.py, pysaml2, werkzeug servers in
threads of the test) take their LogoutRequest by HTTP-Redirect or HTTP-POST and
answer by either (:data:`SCENARIOS`); every request they receive is recorded.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pytest

from gateway.demo import saml_sp
from tests.conftest import PASSWORD, Gunicorn, WsgiServer, free_port
from tests.e2e.test_pages import assert_accessible


class DemoSp:
    """The demo SP on ``port``, in a thread; ``requests`` lists (method, path, SAML fields) it received."""

    def __init__(self, port: int, slo_binding: str, answer_binding: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.name = f"Démo {port}"  # its mdui:DisplayName
        self.settings = {**saml_sp.settings_from_env({}), "url": self.url, "slo_binding": slo_binding,
                         "slo_answer_binding": answer_binding, "display_name": self.name}
        self.requests: list[tuple[str, str, frozenset[str]]] = []
        self.server: Any = None
        #: The gateway's chain URL: its LogoutRequests are then sent back there without a LogoutResponse.
        self.silent_to = ""

    def start(self, gateway_url: str) -> None:
        app = saml_sp.create_app({**self.settings, "idp_metadata_url": gateway_url + "/saml/metadata"})

        def recorded(environ: dict[str, Any], start_response: Any) -> Any:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)  # read once here, again by the SP
            sent = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode("latin-1"))
            fields = frozenset(k for k in ("SAMLRequest", "SAMLResponse") if k in sent)
            self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], fields))
            if self.silent_to and environ["PATH_INFO"] == "/slo":
                relay = sent["RelayState"][0]
                start_response("302 Found", [("Location", f"{self.silent_to}?token={quote(relay)}")])
                return [b""]
            return app(environ, start_response)

        port = int(self.url.rsplit(":", 1)[1])
        self.server = WsgiServer(recorded, port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


#: (SingleLogoutService binding, binding of the SP's LogoutResponse) of each SP, in the chain's order.
SCENARIOS = {
    "redirect": [("redirect", "redirect")],
    "post": [("post", "post")],
    "post-then-redirect": [("post", "redirect")],  # back by Redirect from our POST page's form
    "two-sps": [("post", "redirect"), ("redirect", "redirect")],  # then a 302 to the second SP
}


@pytest.fixture(params=list(SCENARIOS))
def demo(request: pytest.FixtureRequest, gunicorn, tmp_path: Path) -> Iterator[tuple[Gunicorn, list[DemoSp]]]:
    """The gateway under gunicorn trusting the demo SPs (``saml.sp_metadata_dir``), and the SPs."""
    specs = SCENARIOS[request.param]
    ports = sorted((free_port() for _ in specs), key=lambda port: f"http://127.0.0.1:{port}/")  # chain order
    sps = [DemoSp(port, *spec) for port, spec in zip(ports, specs)]
    folder = tmp_path / "sp"
    folder.mkdir()
    for number, sp in enumerate(sps):
        (folder / f"demo{number}.xml").write_text(saml_sp.metadata_xml(sp.settings))
    gateway = gunicorn({"GATEWAY_SAML_SP_METADATA_DIR": str(folder)})
    try:
        for sp in sps:
            sp.start(gateway.url)
        yield gateway, sps
    finally:
        for sp in sps:
            sp.stop()


def test_logout_button_logs_the_saml_sps_out(demo, account, page):
    gateway, sps = demo
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

    for number, sp in enumerate(sps):
        page.goto(sp.url + "/")
        page.get_by_role("button", name="Se connecter via UNESS").click()  # SP-initiated SSO, HTTP-Redirect
        if number == 0:
            assert f"Vous vous connectez à « {sp.name} »" in page.locator("main").inner_text()
            page.get_by_label("Adresse email").fill(account.primary_email)
            page.get_by_role("button", name="Continuer").click()
            page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Se connecter").click()  # -> /saml/sso/resume -> POST to /acs
        page.wait_for_url(sp.url + "/")
        assert "Connecté par" in page.locator("body").inner_text(), console

    page.goto(gateway.url + "/account")
    for sp in sps:
        sp.requests.clear()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r"/login\?logged_out=1$"))  # every logout ends on the sign-in page
    assert "Vous êtes déconnecté." in page.get_by_role("status").inner_text()
    requests = [sp.requests for sp in sps]
    names = sorted(sp.name for sp in sps)
    assert page.locator("#slo-done li").all_inner_texts() == names, (console, requests)
    assert page.locator("#slo-unconfirmed").count() == 0
    assert_accessible(page, "logged out, the applications listed")
    for sp in sps:
        method = "POST" if sp.settings["slo_binding"] == "post" else "GET"
        assert (method, "/slo", frozenset({"SAMLRequest"})) in sp.requests, (console, requests)
    assert not [line for line in console if re.search(r"form-action|Refused", line)], console

    for sp in sps:  # each SP's own session ended with its LogoutRequest
        page.goto(sp.url + "/")
        assert "Vous n'êtes pas connecté à cette application." in page.locator("body").inner_text()
    page.goto(gateway.url + "/account")
    assert page.url.startswith(gateway.url + "/login")


@pytest.mark.parametrize("demo", ["redirect"], indirect=True)
def test_an_sp_that_never_answers_is_listed_as_not_confirmed(demo, account, page):
    """The SP takes its LogoutRequest but sends the person back without a LogoutResponse: the waiting
    page, its "Continuer", and the sign-in page listing the SP as not confirmed (axe on each)."""
    gateway, [sp] = demo
    page.goto(sp.url + "/")
    page.get_by_role("button", name="Se connecter via UNESS").click()
    page.get_by_label("Adresse email").fill(account.primary_email)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(sp.url + "/")

    sp.silent_to = gateway.url + "/saml/slo/chain"
    page.goto(gateway.url + "/account")
    page.get_by_role("button", name="Se déconnecter", exact=True).first.click()
    page.get_by_role("heading", name="Déconnexion en cours").wait_for()
    assert_accessible(page, "logout waiting for an application")
    page.get_by_role("link", name="Continuer").click()
    page.wait_for_url(re.compile(r"/login\?logged_out=1$"))
    assert page.locator("#slo-unconfirmed li").all_inner_texts() == [sp.name]
    assert_accessible(page, "logged out, an application not confirmed")
