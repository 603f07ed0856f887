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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import pytest
import requests

from gateway.demo import saml_sp
from tests.conftest import Browser, WsgiServer, free_port, make_app
from tests.helpers.forms import page_form
from tests.oracles.harness import ORACLES, SpOracles

EMAIL = "camille.martin@etu.univ-exemple.fr"


@pytest.fixture
def live(base_config: dict, redis_client, make_account, tmp_path: Path) -> Iterator[dict[str, str]]:
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
    make_account(EMAIL, account_id="camille", given_name="Camille", family_name="Martin",
                 affiliations=("student", "member"), establishment="{UAI}0751717J",
                 eppn="cmartin@univ-exemple.fr", legacy_ids={entity_id: "legacy-camille-0001"})
    servers = [WsgiServer(gateway, gateway_port), WsgiServer(saml_sp.create_app(settings), demo_port)]
    yield {"gateway": gateway_url, "demo": demo_url, "entity_id": entity_id}
    for server in servers:
        server.stop()


def after_sign_in(browser: Browser, login_page: requests.Response) -> requests.Response:
    """The gateway's two sign-in pages, as a person fills them; the page the password step leads to."""
    done = browser.sign_in(EMAIL, start=login_page)
    assert done.status_code == 302, done.text[:500]
    return browser.get(done.headers["Location"], allow_redirects=True)


def submit(browser: Browser, page: requests.Response) -> requests.Response:
    """The auto-submitting form: what post.js does in a browser."""
    form = page_form(page, field="SAMLResponse")
    action = urljoin(page.url, form.action)
    ORACLES.check(form.fields["SAMLResponse"], action)  # TST07: Shibboleth SP 3 and SSP 2 too
    return browser.post(action, form.fields, allow_redirects=True)


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
def browser(live) -> Iterator[Browser]:
    """The person's browser (tests.conftest.Browser) on the gateway; redirects followed where asked."""
    browser = Browser(url=live["gateway"])
    yield browser
    browser.close()


def test_click_through_the_bridge(live, browser):
    home = browser.get(live["demo"] + "/")
    assert "application de démonstration" in home.text.lower() and "Se connecter via UNESS" in home.text
    # SP-initiated: HTTP-Redirect to /saml/sso, then /login
    login_page = browser.get(live["demo"] + "/login", allow_redirects=True)
    assert login_page.url.startswith(live["gateway"] + "/login"), login_page.url
    form = after_sign_in(browser, login_page)
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
    after = browser.get(out.headers["Location"], allow_redirects=True)
    if after.url.startswith(live["demo"]):  # the gateway's SingleLogoutService answered with a LogoutResponse
        assert "Vous êtes déconnecté de la passerelle et de cette application." in after.text
    assert "Se connecter via UNESS" in browser.get(live["demo"] + "/").text


def test_portal_link_idp_initiated(live, browser):
    target = live["demo"] + "/"
    login_page = browser.get(live["gateway"] + "/saml/sso/init?" + urlencode(
        {"sp": live["entity_id"], "target": target}), allow_redirects=True)
    form = after_sign_in(browser, login_page)
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
