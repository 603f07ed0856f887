"""The demo OIDC application (gateway/demo/oidc_rp.py) against the real gateway.

Both are served by werkzeug in threads of this process, on free ports; the
demo is registered in a clients file of the test (its redirect URI carries its
port). A ``requests`` session plays the person's browser through the real
pages (tests/oidc/conftest.py's ``Browser``: redirects one by one, the
"continue" page's ``Refresh``, the sign-in forms with their CSRF tokens). The
job worker runs in burst mode, as ``gateway mail-worker`` would, to deliver the
Back-Channel Logout.
"""
from __future__ import annotations

import dataclasses
import re
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import jobs
from gateway.demo import oidc_rp
from gateway.oidc.clients import Client
from gateway.oidc.credentials import hash_secret
from gateway.oidc.keys import init_directory
from tests.conftest import WsgiServer, free_port, make_app
from tests.fixtures_mail import run_mail_worker
from tests.helpers.forms import csrf_token
from tests.oidc.conftest import EMAIL, Browser, Live

ROOT = Path(__file__).resolve().parent.parent
SECRET = "demo-test-secret-0123456789"
BACKCHANNEL_LINE = re.compile(r"Déconnecté par la passerelle \(back-channel\) à \d\d:\d\d:\d\d")
NOWHERE = "nowhere:"  # Browser.go follows every redirect: no URL starts with this


@dataclasses.dataclass
class Setup:
    gateway: Live
    demo_url: str
    demo: Any

    @property
    def ended(self) -> dict[str, float]:
        return self.demo.extensions[oidc_rp.ENDED]


@pytest.fixture
def setup(base_config: dict, redis_client, make_account, tmp_path: Path) -> Iterator[Setup]:
    gateway_port, demo_port = free_port(), free_port()
    gateway_url, demo_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{demo_port}"
    keys = tmp_path / "keys"
    init_directory(keys, ["RS256"], int(time.time()))
    clients = tmp_path / "oidc-clients.toml"
    clients.write_text(f"""[[clients]]
client_id = "demo-test"
client_name = "Application de démonstration (test)"
secret_hash = "{hash_secret(SECRET)}"
redirect_uris = ["{demo_url}/callback"]
post_logout_redirect_uris = ["{demo_url}/"]
backchannel_logout_uri = "{demo_url}/backchannel-logout"
scopes = ["openid", "profile", "email", "eduperson", "supann"]
""", encoding="utf-8")
    app = make_app({**base_config, "public_url": gateway_url, "limits": {"enabled": False},
                    "oidc": {"keys_dir": str(keys), "clients_file": str(clients),
                             "backchannel_retry_intervals": [1], "backchannel_timeout": 2.0}})
    make_account(EMAIL, given_name="Camille", family_name="Martin", display_name="Camille Martin",
                 affiliations=("student", "member"), establishment="{UAI}0751717J",
                 eppn="cmartin@univ-exemple.fr")
    demo = oidc_rp.create_app({"url": demo_url, "client_id": "demo-test", "client_secret": SECRET,
                               "discovery_url": f"{gateway_url}/.well-known/openid-configuration"})
    servers = [WsgiServer(app, gateway_port), WsgiServer(demo, demo_port)]
    try:
        yield Setup(Live(gateway_url, app), demo_url, demo)
    finally:
        for server in servers:
            server.stop()
        jobs.service(app).close()


@pytest.fixture
def browser(setup: Setup) -> Iterator[Browser]:
    b = Browser(setup.gateway)
    yield b
    b.close()


def sign_in(setup: Setup, browser: Browser) -> Any:
    """The demo's button, the gateway's sign-in pages, the callback: the demo's signed-in page."""
    page = browser.go(f"{setup.demo_url}/", stop=NOWHERE)
    assert page.status_code == 200 and "Se connecter avec UNESS" in page.text
    assert "Application de démonstration" in page.text
    page = browser.go(f"{setup.demo_url}/login", stop=NOWHERE)
    assert browser.login_pages == 1  # the gateway's address and password pages were filled
    assert any("Refresh" in r.headers for r in browser.history)  # its "continue" page (CSP form-action)
    assert page.status_code == 200 and page.url == f"{setup.demo_url}/", page.text[:2000]
    return page


def deliver_backchannel(setup: Setup, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not setup.ended and time.monotonic() < deadline:
        run_mail_worker(setup.gateway.app)
        if not setup.ended:
            time.sleep(0.2)
    assert setup.ended, "the demo received no back-channel logout"


def test_sign_in_refresh_and_backchannel_logout(setup: Setup, browser: Browser):
    page = signed_in = sign_in(setup, browser)
    # every claim of the ID token and of UserInfo, in tables; the ID token's header
    kid = setup.gateway.provider.keys.current().signer("RS256").kid
    for text in ("Revendications de l’ID token", "Revendications UserInfo", "<code>sub</code>",
                 "<code>camille-martin</code>", "<code>email</code>", f"<code>{EMAIL}</code>",
                 "<code>name</code>", "<code>Camille Martin</code>", "<code>sid</code>", "<code>nonce</code>",
                 "<code>auth_time</code>", "<code>eduperson_affiliation</code>", '["student", "member"]',
                 "<code>supann_etablissement</code>", "<code>alg</code> = <code>RS256</code>",
                 f"<code>kid</code> = <code>{kid}</code>", "Rafraîchir les jetons", "Se déconnecter"):
        assert text in page.text, text
    assert f"<code>{setup.gateway.url}</code>" in page.text  # iss

    # refresh: new tokens, and the refresh token rotated
    before = re.search(r"empreinte <code>([0-9a-f]{8})</code>", page.text).group(1)
    done = browser.submit(f"{setup.demo_url}/refresh", page=page)
    assert done.status_code == 302
    page = browser.get(f"{setup.demo_url}/")
    rotated = re.search(r"Jeton de rafraîchissement : ([0-9a-f]{8}) → ([0-9a-f]{8}) \(rotation", page.text)
    assert rotated, page.text[:3000]
    assert rotated.group(1) == before != rotated.group(2)
    assert re.search(r"empreinte <code>([0-9a-f]{8})</code>", page.text).group(1) == rotated.group(2)
    assert "Se déconnecter" in page.text and "<code>Camille Martin</code>" in page.text
    # a forged refresh (no CSRF token) is refused
    assert browser.http.post(f"{setup.demo_url}/refresh", data={}, timeout=10).status_code == 400

    # the gateway's logout button: the demo hears it over the back channel
    logged_out = browser.submit("/logout", page=browser.get("/logout"))
    assert logged_out.status_code == 302 and logged_out.headers["Location"].endswith("/login?logged_out=1")
    deliver_backchannel(setup)
    [key] = setup.ended
    assert key.startswith("sid:") and f"<code>{key[4:]}</code>" in signed_in.text  # the ID token's sid
    page = browser.get(f"{setup.demo_url}/")
    assert "Se connecter avec UNESS" in page.text and "Se déconnecter" not in page.text
    assert BACKCHANNEL_LINE.search(page.text)
    page = browser.get(f"{setup.demo_url}/")  # said once; the demo's session is over
    assert "Se connecter avec UNESS" in page.text and not BACKCHANNEL_LINE.search(page.text)


def test_rp_initiated_logout_from_the_demo(setup: Setup, browser: Browser):
    page = sign_in(setup, browser)
    csrf = csrf_token(page)
    # id_token_hint names this very session: no confirmation page, back to the demo with its state
    page = browser.go(f"{setup.demo_url}/logout", stop=NOWHERE, email=None, method="POST",
                      data={"csrf_token": csrf})
    assert page.status_code == 200 and page.url.startswith(f"{setup.demo_url}/?state=")
    assert "Vous êtes déconnecté de la passerelle et de cette application." in page.text
    assert "Se connecter avec UNESS" in page.text
    assert browser.get("/account").status_code == 302  # the gateway's session ended too
    deliver_backchannel(setup)  # the gateway still tells the demo's back end (its session is already gone)
    assert "Se connecter avec UNESS" in browser.get(f"{setup.demo_url}/").text


def test_backchannel_endpoint_refuses_what_is_not_a_logout_token(setup: Setup, browser: Browser):
    """§2.6: signed by the gateway, iss, aud, the event, no nonce; anything else is a 400."""
    import requests

    provider = setup.gateway.provider
    now = int(time.time())
    good = {"iss": provider.issuer, "aud": "demo-test", "iat": now, "exp": now + 120, "jti": "j", "sid": "s1",
            "sub": "camille-martin", "events": {oidc_rp.EVENT: {}}}
    forged = [
        "garbage",
        provider.sign({**good, "nonce": "n"}, "RS256", typ="logout+jwt"),
        provider.sign({k: v for k, v in good.items() if k != "events"}, "RS256", typ="logout+jwt"),
        provider.sign({**good, "aud": "another-client"}, "RS256", typ="logout+jwt"),
        provider.sign({**good, "iss": "https://elsewhere.example"}, "RS256", typ="logout+jwt"),
        provider.sign({**good, "exp": now - 3600, "iat": now - 3720}, "RS256", typ="logout+jwt"),
    ]
    url = f"{setup.demo_url}/backchannel-logout"
    for token in forged:
        response = requests.post(url, data={"logout_token": token}, timeout=10)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", token
    assert setup.ended == {}
    response = requests.post(url, data={"logout_token": provider.sign(good, "RS256", typ="logout+jwt")},
                             timeout=10)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert set(setup.ended) == {"sid:s1"}


def test_the_dev_clients_file_registers_the_demo_with_its_defaults():
    """`make run`: the demo's default client id and secret are those of config/dev/oidc-clients.toml."""
    data = tomllib.loads((ROOT / "config/dev/oidc-clients.toml").read_text(encoding="utf-8"))
    [entry] = [c for c in data["clients"] if c["client_id"] == oidc_rp.DEFAULTS["client_id"]]
    client = Client(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()})
    assert client.check_client_secret(oidc_rp.DEFAULTS["client_secret"])
    assert client.redirect_uris == ("http://127.0.0.1:8002/callback",)
    assert client.post_logout_redirect_uris == ("http://127.0.0.1:8002/",)
    assert client.backchannel_logout_uri == "http://127.0.0.1:8002/backchannel-logout"
    assert set(oidc_rp.SCOPE.split()) <= set(client.scopes)
    settings = oidc_rp.settings_from_env({})
    assert settings["url"] == "http://127.0.0.1:8002"
    assert settings["discovery_url"] == "http://127.0.0.1:8000/.well-known/openid-configuration"
    assert oidc_rp.settings_from_env({"GATEWAY_DEMO_OIDC_PORT": "18002"})["url"] == "http://127.0.0.1:18002"
