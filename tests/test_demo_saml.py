"""The demo legacy application (gateway/demo/saml_sp.py, a pysaml2 SP) against the real gateway.

Both are served by werkzeug in threads of this process, on free ports; the
demo's metadata is generated for its port (:func:`saml_sp.metadata_xml`) into
the test gateway's SP metadata folder. A ``requests`` session plays the
browser: demo "/" -> "Se connecter via UNESS" -> the gateway's sign-in pages
(address, then password, with their CSRF tokens) -> the auto-POST form, posted
by hand as the browser's script would -> the demo shows what it received.
"""
from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import pytest
import requests

from gateway.accounts.models import Account, Email
from gateway.demo import saml_sp
from tests.conftest import WsgiServer, free_port, make_app
from tests.oracles.harness import ORACLES, SpOracles

EMAIL, PASSWORD = "camille.martin@etu.univ-exemple.fr", "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def live(base_config: dict, redis_client, tmp_path: Path) -> Iterator[dict[str, str]]:
    gateway_port, demo_port = free_port(), free_port()
    gateway_url, demo_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{demo_port}"
    settings = {**saml_sp.settings_from_env({}), "url": demo_url,
                "idp_metadata_url": gateway_url + "/saml/metadata"}
    sp_dir = tmp_path / "sp"
    sp_dir.mkdir()
    (sp_dir / "demo.xml").write_text(saml_sp.metadata_xml(settings))
    saml = {"sp_metadata_dir": str(sp_dir), "extra_scopes": ["univ-exemple.fr"]}
    gateway = make_app({**base_config, "public_url": gateway_url, "saml": saml})
    entity_id = demo_url + "/saml/metadata"
    account = Account(id="camille", emails=(Email(EMAIL, True),), status="active", given_name="Camille",
                      family_name="Martin", affiliations=("student", "member"), establishment="{UAI}0751717J",
                      eppn="cmartin@univ-exemple.fr", legacy_ids={entity_id: "legacy-camille-0001"},
                      password_hash=gateway.extensions["gateway.passwords"].hash(PASSWORD))
    gateway.extensions["gateway.directory"].create(account)
    servers = [WsgiServer(gateway, gateway_port), WsgiServer(saml_sp.create_app(settings), demo_port)]
    yield {"gateway": gateway_url, "demo": demo_url, "entity_id": entity_id}
    for server in servers:
        server.stop()


def sign_in(browser: requests.Session, login_page: requests.Response) -> requests.Response:
    """The gateway's two sign-in pages, as a person fills them; the response after the password."""
    token = CSRF.search(login_page.text).group(1)  # type: ignore[union-attr]
    page = browser.post(login_page.url, data={"csrf_token": token, "email": EMAIL})
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    return browser.post(page.url, data={"csrf_token": token, "password": PASSWORD})


def submit(browser: requests.Session, page: requests.Response) -> requests.Response:
    """The auto-submitting form: what post.js does in a browser."""
    action = html.unescape(re.search(r'<form method="post" action="([^"]*)"', page.text).group(1))
    fields = {name: html.unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text)}
    assert "SAMLResponse" in fields, page.text[:500]
    ORACLES.check(fields["SAMLResponse"], urljoin(page.url, action))  # TST07: Shibboleth SP 3 and SSP 2 too
    return browser.post(urljoin(page.url, action), data=fields)


@pytest.fixture(autouse=True)
def sp_oracles() -> Iterator[SpOracles]:
    """TST07: the demo's key decrypts in the SP oracles as well (tests/oracles/harness.py)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate(Path(saml_sp.DEFAULTS["cert_file"]).read_bytes())
    ORACLES.add_key(base64.b64encode(cert.public_bytes(Encoding.DER)).decode(),
                    Path(saml_sp.DEFAULTS["key_file"]).read_bytes())
    with ORACLES.running() as oracles:
        yield oracles


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_click_through_the_bridge(live, browser):
    home = browser.get(live["demo"] + "/")
    assert "application de démonstration" in home.text.lower() and "Se connecter via UNESS" in home.text
    login_page = browser.get(live["demo"] + "/login")  # SP-initiated: HTTP-Redirect to /saml/sso, then /login
    assert login_page.url.startswith(live["gateway"] + "/login"), login_page.url
    form = sign_in(browser, login_page)
    assert form.url.startswith(live["gateway"] + "/saml/sso/resume"), form.url
    shown = submit(browser, form)
    assert shown.url == live["demo"] + "/", shown.text[:500]
    text = shown.text
    assert EMAIL in text and "urn:oid:0.9.2342.19200300.100.1.3" in text and "mail" in text
    assert "legacy-camille-0001" in text  # the persistent NameID the legacy application already knows
    assert "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" in text
    assert "cmartin@univ-exemple.fr" in text and "eduPersonTargetedID" in text
    assert "SessionIndex" in text and "AuthnInstant" in text and "Se déconnecter" in text

    out = browser.post(live["demo"] + "/logout", allow_redirects=False)  # SP-initiated SLO
    assert out.status_code == 302
    assert out.headers["Location"].startswith(live["gateway"] + "/saml/slo?SAMLRequest="), out.headers
    after = browser.get(out.headers["Location"])
    if after.url.startswith(live["demo"]):  # the gateway's SingleLogoutService answered with a LogoutResponse
        assert "Vous êtes déconnecté de la passerelle et de cette application." in after.text
    assert "Se connecter via UNESS" in browser.get(live["demo"] + "/").text


def test_portal_link_idp_initiated(live, browser):
    target = live["demo"] + "/"
    login_page = browser.get(live["gateway"] + "/saml/sso/init?" + urlencode(
        {"sp": live["entity_id"], "target": target}))
    form = sign_in(browser, login_page)
    assert form.url.startswith(live["gateway"] + "/saml/sso/init"), form.url
    shown = submit(browser, form)
    assert shown.url == target and "legacy-camille-0001" in shown.text and EMAIL in shown.text


def test_committed_metadata_is_what_the_demo_makes():
    """config/dev/saml/sp/demo-sp.xml (what `make run`'s gateway trusts) matches the demo on port 8001."""
    from lxml import etree

    def facts(root: Any) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
        """Every element by namespace-qualified name, attributes and text: prefixes may differ."""
        return [(e.tag, tuple(sorted(e.attrib.items())), (e.text or "").strip()) for e in root.iter()
                if isinstance(e.tag, str)]

    committed = etree.parse(str(Path(__file__).resolve().parent.parent / "config/dev/saml/sp/demo-sp.xml"))
    made = etree.fromstring(saml_sp.metadata_xml(saml_sp.settings_from_env({})).encode())
    assert facts(committed.getroot()) == facts(made)
    assert committed.getroot().get("entityID") == "http://127.0.0.1:8001/saml/metadata"
