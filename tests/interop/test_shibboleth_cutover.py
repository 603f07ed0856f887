"""Issue 11 with the real Shibboleth SP 3: after the switch, the application sees the same person.

Two unmodified Shibboleth SPs (Debian's apache2 + libapache2-mod-shib) in front of
the live gateway. Jean reached application A through his former IdP
(``https://idp.univ-exemple.fr/idp/shibboleth``), which sent eppn
``jdupont@univ-exemple.fr`` and a persistent NameID qualified by itself;
application B through another university, as ``jean.dupont@univ.fr``. His legacy
identifiers are imported; A's attribute-policy.xml gets the rule
``gateway saml cutover-check`` prints to accept the former NameQualifier (the
runbook's step 4). Signing in through A shows the REMOTE_USER, eppn and
persistent-id strings the former IdP gave; then B (same gateway session) shows its
own legacy eppn.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from gateway.accounts.directory import Directory
from gateway.accounts.models import Account, NameQualifiers
from gateway.config import RedisSettings
from gateway.saml.cutover import attribute_policy_rule
from gateway.store import Store
from tests.conftest import TEST_SCOPES, Browser, Gunicorn, RedisServer, free_port
from tests.helpers.accounts import create_account

from .conftest import LEGACY_ID, ShibbolethSP, live_gateway
from .test_shibboleth_sp import TIMEOUT, auto_post_form, shown, sign_in, values

FORMER_IDP = "https://idp.univ-exemple.fr/idp/shibboleth"
EPPN_A = "jdupont@univ-exemple.fr"
EPPN_B = "jean.dupont@univ.fr"
AFP = "urn:mace:shibboleth:2.0:afp"


class Moved:
    """Both SPs, the gateway and Jean's account (what sign_in() needs of an Interop, for SP A)."""

    def __init__(self, a: ShibbolethSP, b: ShibbolethSP, gateway: Gunicorn, account: Account) -> None:
        self.sp, self.b, self.gateway, self.account = a, b, gateway, account

    def logs(self) -> str:
        return (self.sp.logs_text() + "\n" + self.b.logs_text()
                + f"\n----- gunicorn -----\n{self.gateway.output()[-8000:]}")


def accept_former_qualifier(sp: ShibbolethSP) -> None:
    """Replace the persistent-id AttributeRule of the SP's attribute-policy.xml by cutover-check's rule."""
    path = sp.conf / "attribute-policy.xml"
    tree = etree.parse(str(path))
    old = tree.find(f".//{{{AFP}}}AttributeRule[@attributeID='persistent-id']")
    assert old is not None, "Debian's attribute-policy.xml has no persistent-id rule any more"
    rule = attribute_policy_rule([(FORMER_IDP, "")])
    group = (f'<AttributeFilterPolicyGroup xmlns="{AFP}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
             f'{rule}</AttributeFilterPolicyGroup>')
    new = etree.fromstring(group)[0]
    new.tail = old.tail
    old.getparent().replace(old, new)
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    path.chmod(0o644)


@pytest.fixture
def moved(shibboleth_packages, redis_server: RedisServer, redis_client, tmp_path: Path) -> Iterator[Moved]:
    root = Path(tempfile.mkdtemp(prefix="uness-shibsp-", dir="/tmp"))  # www-data must enter it
    root.chmod(0o755)
    gateway_port = free_port()
    idp_entity_id = f"http://127.0.0.1:{gateway_port}/saml/metadata"
    sps: list[ShibbolethSP] = []
    gateway = None
    store = Store.from_settings(RedisSettings(url=redis_server.url))
    try:
        sp_dir = tmp_path / "sp-metadata"
        sp_dir.mkdir()
        for name in ("a", "b"):
            sp = ShibbolethSP(root / name, idp_entity_id)
            sps.append(sp)
            if name == "a":
                accept_former_qualifier(sp)
            sp.start_shibd()
            sp.start_apache()
            metadata = requests.get(sp.url + "/Shibboleth.sso/Metadata", timeout=10)
            assert metadata.status_code == 200, metadata.text[:500]
            (sp_dir / f"shibboleth-{name}.xml").write_bytes(metadata.content)
        a, b = sps
        account = create_account(
            Directory(store, ("uness.fr", *TEST_SCOPES)), "jean.dupont@univ-exemple.fr", account_id="jdupont",
            given_name="Jean", family_name="Dupont", display_name="Jean Dupont",
            affiliations=("staff", "member"),
            eppn="jean@univ-exemple.fr", legacy_eppns={a.entity_id: EPPN_A, b.entity_id: EPPN_B},
            legacy_ids={a.entity_id: LEGACY_ID}, legacy_qualifiers={a.entity_id: NameQualifiers(FORMER_IDP)})
        gateway = live_gateway(redis_server.url, tmp_path / "gunicorn.log", gateway_port, sp_dir)
        idp_metadata = requests.get(gateway.url + "/saml/metadata", timeout=10)
        assert idp_metadata.status_code == 200, idp_metadata.text[:500]
        for sp in sps:
            saved = sp.conf / "idp-metadata.xml"
            saved.write_bytes(idp_metadata.content)
            saved.chmod(0o644)
            sp.restart_shibd(saved)
        yield Moved(a, b, gateway, account)
    finally:
        if gateway is not None:
            gateway.stop()
        for sp in sps:
            sp.stop()
        store.close()
        shutil.rmtree(root, ignore_errors=True)


def test_each_application_sees_the_identifiers_the_former_idps_gave(moved: Moved) -> None:
    browser = Browser(url=moved.gateway.url)
    try:
        page = sign_in(browser, moved)  # type: ignore[arg-type]  # through SP A
        former = f"{FORMER_IDP}!{moved.sp.entity_id}!{LEGACY_ID}"
        assert page.get("REMOTE_USER") == EPPN_A, shown(page)
        assert page.get("eppn") == EPPN_A, shown(page)
        assert values(page, "persistent_id") == {former}, shown(page)
        assert values(page, "affiliation") == {"staff@univ-exemple.fr", "member@univ-exemple.fr"}, shown(page)

        other = second_application(browser.http, moved)
        assert other.get("REMOTE_USER") == EPPN_B and other.get("eppn") == EPPN_B, shown(other)
        assert values(other, "affiliation") == {"staff@univ.fr", "member@univ.fr"}, shown(other)
        assert all(v.startswith(f"{moved.gateway.url}/saml/metadata!{moved.b.entity_id}!")
                   for v in values(other, "persistent_id")), shown(other)
    except (AssertionError, requests.RequestException) as exc:
        pytest.fail(f"{type(exc).__name__}: {exc}\n\n{moved.logs()}", pytrace=True)


def second_application(browser: requests.Session, moved: Moved) -> dict[str, str]:
    """SP B's protected page, with the gateway session already open: no sign-in, straight back."""
    response = browser.get(moved.b.url + "/secure", timeout=TIMEOUT)
    assert response.status_code == 200, (response.url, response.text[:800])
    action, fields = auto_post_form(response.text, response.url)
    assert action == moved.b.url + "/Shibboleth.sso/SAML2/POST", action
    response = browser.post(action, data=fields, timeout=TIMEOUT)
    assert response.status_code == 200, (response.status_code, response.url, response.text[:1500])
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)
