"""SEC07: the SSO session reaches /saml/sso on a cross-site POST, through a second, /saml-only cookie."""
from __future__ import annotations

import pytest
from saml2 import BINDING_HTTP_POST

from tests.conftest import make_app
from tests.saml.conftest import FakeSP, Flow, read_form

ALICE = "alice@univ-exemple.fr"
HTTPS = "https://127.0.0.1:8000"


@pytest.fixture
def https_app(saml_config, redis_client, make_account):
    app = make_app({**saml_config, "public_url": HTTPS, "insecure_http": False})
    make_account(ALICE)
    return app


@pytest.fixture
def https_sp(https_app, sps):
    metadata = https_app.test_client().get("/saml/metadata").get_data(as_text=True)
    return FakeSP(sps["MAIN"], metadata, sso_url=HTTPS + "/saml/sso")


def set_cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_sec07_sign_in_sets_a_saml_only_cross_site_cookie(https_app):
    flow = Flow(https_app.test_client())
    cookies = set_cookies(flow.sign_in(ALICE))
    main, saml = cookies["uness_session"], cookies["uness_session_saml"]
    assert "SameSite=Lax" in main and "Path=/;" in main + ";"
    assert "SameSite=None" in saml and "Secure" in saml and "HttpOnly" in saml and "Path=/saml" in saml
    assert main.split(";")[0].split("=", 1)[1] == saml.split(";")[0].split("=", 1)[1]  # the same session id


def test_sec07_cross_site_post_authn_request_finds_the_session(https_app, https_sp):
    """A cross-site POST carries only the SameSite=None cookie: SSO without asking to sign in again."""
    flow = Flow(https_app.test_client())
    flow.sign_in(ALICE)
    flow.client.delete_cookie("uness_session")  # what the browser leaves out of a cross-site POST
    assert flow.client.get_cookie("uness_session_saml", path="/saml") is not None
    request_id, how = https_sp.request(BINDING_HTTP_POST)
    posted = read_form(flow.send(how))
    assert https_sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]


def test_sec07_without_either_cookie_the_person_signs_in(https_app, https_sp):
    flow = Flow(https_app.test_client())
    flow.sign_in(ALICE)
    flow.client.delete_cookie("uness_session")
    flow.client.delete_cookie("uness_session_saml", path="/saml")
    _, how = https_sp.request(BINDING_HTTP_POST)
    response = flow.send(how)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_sec07_the_saml_cookie_is_not_read_outside_saml(https_app):
    flow = Flow(https_app.test_client())
    sid = set_cookies(flow.sign_in(ALICE))["uness_session_saml"].split(";")[0].split("=", 1)[1]
    other = https_app.test_client()
    other.set_cookie("uness_session_saml", sid, path="/")
    response = other.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_sec07_logout_clears_both_cookies(https_app):
    flow = Flow(https_app.test_client())
    flow.sign_in(ALICE)
    cookies = set_cookies(flow.submit("/logout"))
    assert "Expires=Thu, 01 Jan 1970" in cookies["uness_session_saml"]
    assert "Path=/saml" in cookies["uness_session_saml"]


def test_no_cross_site_cookie_over_plain_http(flow, alice):
    """insecure_http (development on localhost): SameSite=None needs Secure, so no second cookie."""
    assert "uness_session_saml" not in set_cookies(flow.sign_in(ALICE))


def test_csrf_exempt_only_for_the_saml_endpoints(client):
    """SAML POSTs come from SPs without a CSRF token; the sign-in forms still need theirs."""
    sso = client.post("/saml/sso", data={"SAMLRequest": "x"})
    assert sso.status_code == 400 and "Connexion impossible" in sso.get_data(as_text=True)  # no CSRF page
    slo = client.post("/saml/slo", data={"SAMLRequest": "x"})  # SLO answers now: a refused request, not CSRF
    assert slo.status_code == 400 and "déconnexion" in slo.get_data(as_text=True)
    login = client.post("/login", data={"email": ALICE})
    assert login.status_code == 400 and "Page expirée" in login.get_data(as_text=True)
