"""The real Shibboleth SP 3 (Debian's apache2 + libapache2-mod-shib), unmodified, against the live gateway.

A browser (a requests.Session keeping cookies) opens the page the SP protects,
signs in on the gateway's real pages, posts the gateway's auto-submitting form to
the SP's ACS like a browser would, and reads what mod_shib gave the page: eppn,
mail, displayName, the affiliations and the persistent-id of the legacy account,
with Debian's attribute-policy.xml (scope checks, affiliation values,
NameIDQualifierString) and an attribute map with the standard entries enabled, as
Renater SPs have it. Then the SP's logout: the SP session ends, and through the
gateway's SingleLogoutService, so does the gateway session.

See tests/interop/conftest.py for how Apache, shibd and gunicorn are started.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.conftest import Browser
from tests.helpers.forms import forms

from .conftest import EPPN, LEGACY_ID, Interop

#: What the Shibboleth SP must keep (attribute ids of its map); a warning about one of these is a failure.
EXPECTED_IDS = ("eppn", "mail", "displayName", "givenName", "sn", "cn", "affiliation", "unscoped-affiliation",
                "persistent-id")
TIMEOUT = 15


def test_sign_in_through_shibboleth_sp_shows_the_attributes_and_its_logout_ends_the_gateway_session(
        interop: Interop) -> None:
    browser = Browser(url=interop.gateway.url)
    try:
        page = sign_in(browser, interop)
        check_attributes(page, interop)
        check_shibd_kept_everything(interop)
        logout(browser.http, interop)
    except (AssertionError, requests.RequestException) as exc:
        pytest.fail(f"{type(exc).__name__}: {exc}\n\n{interop.logs()}", pytrace=True)


def sign_in(browser: Browser, interop: Interop) -> dict[str, str]:
    """Through the SP's protected page: the gateway's sign-in pages (tests.conftest.Browser), the
    auto-submitting form to the ACS; what mod_shib gave the page."""
    sp, gateway = interop.sp, interop.gateway
    # 1. The protected page sends the browser to the gateway with an AuthnRequest (HTTP-Redirect).
    response = browser.get(sp.url + "/secure", allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(gateway.url + "/saml/sso?"), location
    assert "SAMLRequest" in parse_qs(urlsplit(location).query)
    # 2. The gateway asks for a sign-in: address, then password, each with its CSRF token.
    response = browser.get(location, allow_redirects=True, timeout=TIMEOUT)
    assert urlsplit(response.url).path == "/login", (response.url, response.text[:500])
    done = browser.sign_in(interop.account.primary_email, start=response)
    assert done.status_code == 302, (done.url, done.text[:500])
    # 3. Back on /saml/sso/resume: the auto-submitting form to the SP's ACS, posted as a browser does.
    response = browser.get(done.headers["Location"], allow_redirects=True, timeout=TIMEOUT)
    assert response.status_code == 200, (response.url, response.text[:800])
    action, fields = auto_post_form(response.text, response.url)
    assert action == sp.url + "/Shibboleth.sso/SAML2/POST", action
    response = browser.post(action, data=fields, allow_redirects=True, timeout=TIMEOUT)
    # 4. mod_shib made a session and sent the browser back to /secure (the RelayState).
    assert response.status_code == 200, (response.status_code, response.url, response.text[:1500])
    assert urlsplit(response.url).path == "/secure", response.url
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def check_attributes(page: dict[str, str], interop: Interop) -> None:
    sp, gateway = interop.sp, interop.gateway
    idp_entity_id = gateway.url + "/saml/metadata"
    assert page.get("Shib_Identity_Provider") == idp_entity_id, shown(page)
    assert page.get("eppn") == EPPN, shown(page)
    assert page.get("REMOTE_USER") == EPPN, shown(page)  # REMOTE_USER="eppn subject-id ...": the legacy eppn first
    assert page.get("mail") == "jean.dupont@univ-exemple.fr", shown(page)
    assert page.get("displayName") == "Jean Dupont", shown(page)
    assert page.get("givenName") == "Jean", shown(page)
    assert page.get("sn") == "Dupont", shown(page)
    assert values(page, "affiliation") == {"staff@univ-exemple.fr", "member@univ-exemple.fr"}, shown(page)
    assert values(page, "unscoped_affiliation") == {"staff", "member"}, shown(page)
    # eduPersonTargetedID (NameID-valued) -> NameQualifier!SPNameQualifier!value, the legacy value (NID06, NID07).
    assert page.get("persistent_id") == f"{idp_entity_id}!{sp.entity_id}!{LEGACY_ID}", shown(page)


def check_shibd_kept_everything(interop: Interop) -> None:
    """Debian's attribute-policy.xml removed nothing the page needs (scopes published, qualifiers right)."""
    log = interop.sp.log("shibd.log")
    assert "DEBUG Shibboleth.AttributeFilter" in log, "the filter's own messages are not in shibd.log"
    dropped = [line for line in log.splitlines()
               if ("removed value" in line or "removing" in line) and "attribute (" in line
               and any(f"attribute ({name})" in line for name in EXPECTED_IDS)]
    assert not dropped, "\n".join(dropped)


def logout(browser: requests.Session, interop: Interop) -> None:
    sp, gateway = interop.sp, interop.gateway
    assert browser.get(gateway.url + "/account", allow_redirects=False, timeout=TIMEOUT).status_code == 200
    # The SP's logout: SAML2 first (a LogoutRequest to the gateway's SingleLogoutService), then Local.
    response = browser.get(sp.url + "/Shibboleth.sso/Logout", allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code in (200, 302, 303), (response.status_code, response.text[:800])
    # The SP session is over either way: /secure asks the gateway again.
    again = browser.get(sp.url + "/secure", allow_redirects=False, timeout=TIMEOUT)
    assert again.status_code == 302 and again.headers["Location"].startswith(gateway.url + "/saml/sso?"), \
        (again.status_code, again.headers, again.text[:500])
    assert response.status_code in (302, 303), ("the SP did not send a LogoutRequest to the gateway",
                                                response.text[:800])
    location = response.headers["Location"]
    assert location.startswith(gateway.url + "/saml/slo?"), location
    answer = follow_logout(browser, browser.get(location, timeout=TIMEOUT))
    assert answer.status_code == 200, (answer.status_code, answer.url, answer.text[:800])
    account = browser.get(gateway.url + "/account", allow_redirects=False, timeout=TIMEOUT)
    assert account.status_code == 302 and urlsplit(account.headers["Location"]).path == "/login", \
        (account.status_code, account.headers)


def follow_logout(browser: requests.Session, response: requests.Response) -> requests.Response:
    """Auto-submitted forms on the way back (a LogoutResponse by POST), as a browser would post them."""
    for _ in range(5):
        if response.status_code != 200 or 'name="SAMLResponse"' not in response.text:
            return response
        action, fields = auto_post_form(response.text, response.url)
        response = browser.post(action, data=fields, timeout=TIMEOUT)
    return response


def auto_post_form(html: str, base: str) -> tuple[str, dict[str, str]]:
    """The auto-submitting SAML form of a page: (its action, absolute; its fields)."""
    found = [f for f in forms(html) if "SAMLResponse" in f.fields or "SAMLRequest" in f.fields]
    assert found, html[:800]
    return urljoin(base, found[0].action), found[0].fields


def shown(page: dict[str, str]) -> str:
    return "the page showed:\n" + "\n".join(f"  {k}={v}" for k, v in page.items())


def values(page: dict[str, str], name: str) -> set[str]:
    """mod_shib joins multiple values with ';' (escaping a ';' inside a value as '\\;')."""
    return set(re.split(r"(?<!\\);", page.get(name, ""))) - {""}
