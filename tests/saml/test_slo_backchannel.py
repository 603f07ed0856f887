"""SOAP back-channel single logout (checklist G: SLO04 over SOAP, SLO07, SLO08): a session that ends with no
browser to carry the front-channel chain has its SAML SPs told server to server.

Three real pysaml2 SPs sign in through the gateway, in one browser:

* ``A`` is Shibboleth-like: SingleLogoutService SOAP, then Redirect; one key without ``use`` (signing
  and encryption), so the gateway sends it an ``saml:EncryptedID``;
* ``B`` has a SOAP SingleLogoutService only, and a signing key only (a plain NameID);
* ``C`` has a Redirect SingleLogoutService only: it cannot be told without a browser.

Each SOAP endpoint is a real HTTP server in this process (:class:`SoapEndpoint`): the SP's own
pysaml2 client parses the SOAP LogoutRequest (the IdP's signature, Destination, times), the SP key
decrypts an EncryptedID, and pysaml2 makes the signed SOAP LogoutResponse. The jobs run in the mail
worker (burst mode, in this process), which is what ``gateway mail-worker`` runs.
"""
from __future__ import annotations

import dataclasses
import http.server
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import xmlsec
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from saml2.s_utils import status_message_factory
from saml2.samlp import STATUS_REQUEST_DENIED

from gateway import jobs
from gateway.identity.flaskglue.logout import end_account_sessions
from gateway.logs import AUDIT
from tests.conftest import free_port
from tests.fixtures_mail import SmtpCapture, queue_again_as, run_mail_worker
from tests.saml.conftest import NS, RSA_SHA256, FakeSP, Flow, SpSpec, sp_metadata

ALICE = "alice@univ-exemple.fr"
NEW_PASSWORD = "une phrase de passe assez longue"
SCIM_TOKEN = "scim-test-token-cockpit-0123456789"


@dataclasses.dataclass(frozen=True)
class Received:
    """A LogoutRequest as the SP read it."""

    name_id: tuple[str, str, str | None, str | None]  # value, Format, NameQualifier, SPNameQualifier
    session_indexes: list[str]
    destination: str
    encrypted: bool
    signature_method: str | None


class SoapEndpoint:
    """An SP's SOAP SingleLogoutService on loopback, answering with the SP's pysaml2 client.

    ``statuses`` are answered (empty body) before anything is read, one per request: a failing SP.
    ``refuse`` makes it answer a signed RequestDenied LogoutResponse.
    """

    def __init__(self) -> None:
        self.sp: FakeSP | None = None  # set once the IdP metadata is known
        self.received: list[Received] = []
        self.errors: list[str] = []
        self.statuses: list[int] = []
        self.refuse = False
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if endpoint.statuses:
                    self.send_response(endpoint.statuses.pop(0))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    status, answer = 200, endpoint.answer(body, self.headers.get("Content-Type", ""))
                except Exception as exc:  # noqa: BLE001 - the test reads it
                    endpoint.errors.append(repr(exc))
                    status, answer = 400, b""
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/Shibboleth.sso/SLO/SOAP"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, body: bytes, content_type: str) -> bytes:
        assert content_type.startswith("text/xml"), content_type
        assert self.sp is not None
        request = the_message(body)
        # pysaml2's SOAP binding re-serialises the message with ElementTree (ns0:, ns1:), which breaks any
        # signature over it: the SP's pysaml2 client reads the LogoutRequest as it came (IdP signature,
        # Destination among its SLO endpoints, IssueInstant, NotOnOrAfter).
        parsed = self.sp.client.parse_logout_request(etree.tostring(request).decode(), binding=None)
        message = parsed.message
        method = request.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS)
        encrypted = message.encrypted_id is not None
        name_id = decrypted_name_id(request, self.sp.spec) if encrypted else message.name_id
        self.received.append(Received(
            (name_id.text, name_id.format, name_id.name_qualifier, name_id.sp_name_qualifier),
            [index.text for index in message.session_index], message.destination, encrypted,
            method.get("Algorithm") if method is not None else None))
        status = status_message_factory("Active session did not match", STATUS_REQUEST_DENIED) \
            if self.refuse else None
        response = self.sp.client.create_logout_response(message, [BINDING_SOAP], status=status, sign=True,
                                                          sign_alg=RSA_SHA256, digest_alg=NS_SHA256)
        return self.sp.client.apply_binding(BINDING_SOAP, str(response))["data"].encode()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def the_message(body: bytes) -> Any:
    """The one LogoutRequest of a SOAP 1.1 envelope without Header (Bindings §3.2.3)."""
    envelope = etree.fromstring(body)
    assert envelope.tag == f"{{{SOAP11}}}Envelope" and [e.tag for e in envelope] == [f"{{{SOAP11}}}Body"]
    (message,) = envelope[0]
    assert message.tag == f"{{{NS['samlp']}}}LogoutRequest"
    return message


class DecryptedNameId:
    def __init__(self, element: Any) -> None:
        self.text = element.text
        self.format = element.get("Format")
        self.name_qualifier = element.get("NameQualifier")
        self.sp_name_qualifier = element.get("SPNameQualifier")


def decrypted_name_id(request: Any, spec: SpSpec) -> DecryptedNameId:
    """The EncryptedID, decrypted with the SP key as Shibboleth SP does."""
    data = request.find("saml:EncryptedID/xenc:EncryptedData", NS)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(spec.key.key_pem, xmlsec.constants.KeyDataFormatPem))
    return DecryptedNameId(xmlsec.EncryptionContext(manager).decrypt(etree.fromstring(etree.tostring(data))))


# -- the SPs, their metadata, the gateway ------------------------------------------------------------------

@pytest.fixture
def endpoints() -> Iterator[dict[str, SoapEndpoint]]:
    found = {"A": SoapEndpoint(), "B": SoapEndpoint()}
    yield found
    for endpoint in found.values():
        endpoint.stop()


@pytest.fixture
def specs(keys) -> dict[str, SpSpec]:
    return {
        "A": SpSpec("https://a.example.org/shibboleth", (
            (BINDING_HTTP_POST, "https://a.example.org/Shibboleth.sso/SAML2/POST", 0, None),), keys["main"]),
        "B": SpSpec("https://b.example.org/sp", (
            (BINDING_HTTP_POST, "https://b.example.org/acs", 0, None),), keys["signed"], key_use="signing"),
        "C": SpSpec("https://c.example.org/sp", (
            (BINDING_HTTP_POST, "https://c.example.org/acs", 0, None),), keys["email"], key_use="signing"),
    }


@pytest.fixture
def slo_services(endpoints) -> dict[str, tuple[tuple[str, str], ...]]:
    return {
        "A": ((BINDING_SOAP, endpoints["A"].url),
              (BINDING_HTTP_REDIRECT, "https://a.example.org/Shibboleth.sso/SLO/Redirect")),
        "B": ((BINDING_SOAP, endpoints["B"].url),),
        "C": ((BINDING_HTTP_REDIRECT, "https://c.example.org/slo"),),
    }


@pytest.fixture
def saml_config(base_config, tmp_path, specs, slo_services, smtp: SmtpCapture) -> dict:
    directory = tmp_path / "sp-metadata"
    directory.mkdir()
    for name, spec in specs.items():
        services = "".join(f'<md:SingleLogoutService Binding="{b}" Location="{u}"/>'
                           for b, u in slo_services[name])
        acs = "<md:AssertionConsumerService"
        (directory / f"{name.lower()}.xml").write_text(sp_metadata(spec).replace(acs, services + acs, 1))
    return {**base_config, "mail": smtp.overrides, "saml": {
        "sp_metadata_dir": str(directory), "backchannel_retry_intervals": [1], "backchannel_timeout": 2.0}}


@pytest.fixture(autouse=True)
def _close_backchannel(app) -> Iterator[None]:
    yield
    jobs.service(app).close()


class Party:
    """A pysaml2 SP and what the gateway gave it at SSO."""

    def __init__(self, spec: SpSpec, idp_metadata: str, slo: tuple[tuple[str, str], ...]) -> None:
        endpoints = {"assertion_consumer_service": [(spec.acs_url, BINDING_HTTP_POST)],
                     "single_logout_service": [(url, binding) for binding, url in slo]}
        self.sp = FakeSP(spec, idp_metadata, endpoints=endpoints)
        self.name_id: tuple[str, str, str | None, str | None] | None = None
        self.session_index = ""

    def sign_in(self, flow: Flow) -> None:
        request_id, how = self.sp.request()
        result = self.sp.parse(flow.sso(how, email=ALICE).saml_response, request_id)
        name_id = result.name_id
        self.name_id = (name_id.text, name_id.format, name_id.name_qualifier, name_id.sp_name_qualifier)
        self.session_index = result.session_info()["session_index"]


@pytest.fixture
def parties(idp_metadata, specs, slo_services, endpoints, flow, alice) -> dict[str, Party]:
    """A, B and C signed in, in the same browser (``flow``)."""
    found = {name: Party(spec, idp_metadata, slo_services[name]) for name, spec in specs.items()}
    for name, party in found.items():
        party.sign_in(flow)
        if name in endpoints:
            endpoints[name].sp = party.sp
    assert flow.client.get("/account").status_code == 200
    return found


@pytest.fixture
def audits() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logging.getLogger(AUDIT).addHandler(handler)
    yield records
    logging.getLogger(AUDIT).removeHandler(handler)


def backchannel_events(records: list[logging.LogRecord]) -> list[tuple[str, str]]:
    return sorted((r.getMessage().rsplit("_", 1)[-1], r.sp) for r in records
                  if r.getMessage().startswith("saml.slo.backchannel_"))


def another_browser(app) -> Flow:
    other = Flow(app.test_client())
    assert other.sign_in(ALICE).status_code == 302
    return other


def signed_out(flow: Flow) -> bool:
    answer = flow.client.get("/account")
    return answer.status_code == 302 and "/login" in answer.headers["Location"]


def assert_told(endpoint: SoapEndpoint, party: Party) -> Received:
    """SLO04, SLO07: one signed (RSA-SHA256) LogoutRequest with the NameID and SessionIndex of its SSO."""
    assert endpoint.errors == [] and len(endpoint.received) == 1, (endpoint.errors, endpoint.received)
    received = endpoint.received[0]
    assert received.name_id == party.name_id
    assert received.session_indexes == [party.session_index]
    assert received.destination == endpoint.url
    assert received.signature_method == RSA_SHA256
    return received


def end_other_sessions(browser: Flow) -> float:
    """"Mes informations" > end all my other sessions; how long the request took."""
    page = browser.get("/account")
    started = time.monotonic()
    done = browser.submit("/account/sessions/end-others", page=page)
    assert done.status_code == 302
    return time.monotonic() - started


# -- sessions ended with no browser in the loop -------------------------------------------------------

def test_slo04_password_reset_tells_each_soap_sp(app, flow, parties, endpoints, smtp, audits):
    """SLO04 over SOAP: a reset through the real pages (mail link) ends the session of another browser;
    A (EncryptedID) and B (plain NameID) get their own NameID and SessionIndex; C cannot be told."""
    other = Flow(app.test_client())
    other.submit("/login", {"email": ALICE})
    assert other.submit("/login/reset", form_page="/login/password").status_code == 200
    run_mail_worker(app)
    mail = smtp.messages[-1].get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:8000(/reset/\S+)", mail)
    done = other.submit(link.group(1), {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and signed_out(flow)
    run_mail_worker(app)
    assert assert_told(endpoints["A"], parties["A"]).encrypted
    assert not assert_told(endpoints["B"], parties["B"]).encrypted
    assert backchannel_events(audits) == [
        ("queued", "https://a.example.org/shibboleth"), ("queued", "https://b.example.org/sp"),
        ("sent", "https://a.example.org/shibboleth"), ("sent", "https://b.example.org/sp"),
        ("unreachable", "https://c.example.org/sp")]


def test_slo04_account_disabled_by_scim_tells_each_soap_sp(app, parties, endpoints, flow):
    """SLO04 over SOAP: SCIM DELETE (the provisioning service, no browser) disables the account; its
    session's SPs are told."""
    scim = app.test_client()
    answer = scim.delete("/scim/v2/Users/alice", headers={"Authorization": f"Bearer {SCIM_TOKEN}"})
    assert answer.status_code == 204 and signed_out(flow)
    run_mail_worker(app)
    assert_told(endpoints["A"], parties["A"])
    assert_told(endpoints["B"], parties["B"])


def test_slo04_sessions_ended_outside_a_request_as_the_cli_does(app, parties, endpoints):
    """SLO04 over SOAP: ``gateway users disable`` ends the sessions in an app context, with no request."""
    with app.app_context():
        assert end_account_sessions("alice", reason="account.disabled") == 1
    run_mail_worker(app)
    assert_told(endpoints["A"], parties["A"])
    assert_told(endpoints["B"], parties["B"])


def test_slo04_end_all_my_other_sessions_tells_each_soap_sp(app, flow, parties, endpoints):
    """SLO04 over SOAP: "end all my other sessions" from another browser; the first one is signed out."""
    other = another_browser(app)
    assert end_other_sessions(other) < 1.0
    assert signed_out(flow) and other.client.get("/account").status_code == 200
    run_mail_worker(app)
    assert_told(endpoints["A"], parties["A"])
    assert_told(endpoints["B"], parties["B"])


def test_slo04_a_logout_queued_before_the_saml_package_moved_is_delivered(app, parties, endpoints):
    """A SOAP logout job stored under its function's former module path (``gateway.saml.backchannel.deliver``,
    before saml/ was split by concern) by the release before an upgrade is still run by the worker."""
    with app.app_context():
        assert end_account_sessions("alice", reason="account.disabled") == 1
    assert queue_again_as(app, jobs.LOGOUT, "gateway.saml.backchannel.deliver") == 2
    run_mail_worker(app)
    assert_told(endpoints["A"], parties["A"])
    assert_told(endpoints["B"], parties["B"])


# -- failures ----------------------------------------------------------------------------------------------

def test_sp_answering_500_gets_the_logout_on_retry(app, flow, parties, endpoints, audits):
    """A fails once (HTTP 500); the worker tries again after the retry interval, with a fresh request."""
    endpoints["A"].statuses = [500]
    end_other_sessions(another_browser(app))
    run_mail_worker(app)
    assert endpoints["A"].received == [] and endpoints["A"].statuses == []
    failed = [r for r in audits if r.getMessage() == "saml.slo.backchannel_failed"]
    assert [(r.sp, r.will_retry) for r in failed] == [("https://a.example.org/shibboleth", True)]
    assert "HTTP 500" in failed[0].error
    time.sleep(1.1)
    run_mail_worker(app)
    assert_told(endpoints["A"], parties["A"])


def test_sp_down_blocks_nobody(app, flow, parties, endpoints, audits):
    """B is down: ending the sessions does not wait, A is still told, B's attempt is retried."""
    endpoints["B"].stop()
    assert end_other_sessions(another_browser(app)) < 1.0
    assert signed_out(flow)
    run_mail_worker(app)
    assert_told(endpoints["A"], parties["A"])
    failed = [(r.sp, r.will_retry) for r in audits if r.getMessage() == "saml.slo.backchannel_failed"]
    assert failed == [("https://b.example.org/sp", True)]


def test_sp_refusing_the_logout_is_final(app, flow, parties, endpoints, audits):
    """A answers a signed RequestDenied: audited as failed, not tried again."""
    endpoints["A"].refuse = True
    end_other_sessions(another_browser(app))
    run_mail_worker(app)
    time.sleep(1.1)
    run_mail_worker(app)
    assert len(endpoints["A"].received) == 1
    failed = [r for r in audits if r.getMessage() == "saml.slo.backchannel_failed"]
    assert [(r.sp, r.will_retry) for r in failed] == [("https://a.example.org/shibboleth", False)]
    assert "RequestDenied" in failed[0].error


# -- the browser's own logout --------------------------------------------------------------------------------

def test_slo08_logout_button_uses_the_front_channel_and_soap_only_for_soap_only_sps(app, flow, parties,
                                                                                   endpoints):
    """SLO08: the button starts the front-channel chain (A by Redirect, never SOAP); B, which has SOAP
    SLO only, is told over the back channel."""
    started = flow.submit("/logout")
    assert started.status_code == 200  # a page of its own before leaving the site (CSP form-action)
    _, chain_url = started.headers["Refresh"].split(";url=")
    assert chain_url.startswith("/saml/slo/chain?token=")
    step = flow.client.get(chain_url)
    assert step.status_code == 302
    assert step.headers["Location"].startswith("https://a.example.org/Shibboleth.sso/SLO/Redirect?")
    run_mail_worker(app)
    assert endpoints["A"].received == []
    assert_told(endpoints["B"], parties["B"])


# -- where the worker may go -------------------------------------------------------------------------------

@pytest.mark.parametrize("location, production, usable", [
    ("https://sp.example.org/Shibboleth.sso/SLO/SOAP", True, True),
    ("http://sp.example.org/Shibboleth.sso/SLO/SOAP", True, False),
    ("http://127.0.0.1:8080/Shibboleth.sso/SLO/SOAP", True, False),
    ("https://127.0.0.1:8443/Shibboleth.sso/SLO/SOAP", True, False),
    ("https://10.1.2.3/Shibboleth.sso/SLO/SOAP", True, False),
    ("https://[fd00::5]/Shibboleth.sso/SLO/SOAP", True, False),
    ("https://localhost/Shibboleth.sso/SLO/SOAP", True, False),
    ("https://sp.example.org\\@10.0.0.1/Shibboleth.sso/SLO/SOAP", True, False),
    ("http://127.0.0.1:8080/Shibboleth.sso/SLO/SOAP", False, True),
    ("http://sp.example.org/Shibboleth.sso/SLO/SOAP", False, True),
    ("file:///etc/passwd", False, False),
    ("ftp://sp.example.org/x", False, False),
    ("data:text/plain,x", False, False),
    ("https:///no-host", False, False),
])
def test_slo04_soap_locations_the_worker_may_call(location, production, usable):
    """SLO04, SEC: a SOAP location comes from SP metadata (federation aggregates too): in production https
    to a public host (gateway.outbound, as OIDC back-channel logout URIs); http and loopback in development;
    never file:, ftp:, data: (the worker would read or reach them)."""
    from gateway.saml.slo.backchannel import soap_endpoint
    from gateway.saml.sp.providers import Endpoint, ServiceProvider

    sp = ServiceProvider("https://sp.example.org/shibboleth", (), slo=(Endpoint(BINDING_SOAP, location),))
    assert (soap_endpoint(sp, production) is not None) is usable
