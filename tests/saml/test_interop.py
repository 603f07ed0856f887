"""AuthnRequests shaped as the legacy SPs send them, and their Responses accepted (REQ02, REQ10, REQ12).

The XML below is what Shibboleth SP 3 and SimpleSAMLphp 2 put on the wire by
default (checklist REQ02, REQ10, SSP02); the SP side is played by pysaml2.
"""
from __future__ import annotations

import datetime

from tests.saml.conftest import SSO, assertion_of, deflate, read_form



def now() -> str:
    """IssueInstant: the time the request is made, not the time the module was collected."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def shibboleth_request(request_id: str) -> str:
    """Shibboleth SP 3: ACS by value + ProtocolBinding, NameIDPolicy AllowCreate="1" without Format."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            f'AssertionConsumerServiceURL="https://sp.example.org/Shibboleth.sso/SAML2/POST" '
            f'Destination="{SSO}" '
            f'ID="{request_id}" IssueInstant="{now()}" ProtocolBinding="{POST}" Version="2.0">'
            f'<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">'
            f'https://sp.example.org/shibboleth</saml:Issuer>'
            f'<samlp:NameIDPolicy AllowCreate="1"/></samlp:AuthnRequest>')


def simplesamlphp_request(request_id: str) -> str:
    """SimpleSAMLphp 2: Format=transient AllowCreate=false, ForceAuthn/IsPassive="false" spelled out."""
    acs = "https://legacy-ssp.example.org/module.php/saml/sp/saml2-acs.php/default-sp"
    return (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
            f'IssueInstant="{now()}" Destination="{SSO}" ForceAuthn="false" IsPassive="false" '
            f'AssertionConsumerServiceURL="{acs}" ProtocolBinding="{POST}">'
            f'<saml:Issuer>https://legacy-ssp.example.org/module.php/saml/sp/metadata.php/default-sp'
            f'</saml:Issuer>'
            f'<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" '
            f'AllowCreate="false"/></samlp:AuthnRequest>')


def test_req02_req10_shibboleth_sp3_request(flow, sp, alice):
    """[BRK] REQ02 ACS by value, REQ10 AllowCreate without Format: transient, accepted by the SP."""
    from urllib.parse import urlencode

    relay = "ss:mem:5f0d6c3e2b"  # Shibboleth's short RelayState key
    response = flow.send({"url": "http://x/saml/sso?" + urlencode(
        {"SAMLRequest": deflate(shibboleth_request("_shib1")), "RelayState": relay})})
    response = flow.sign_in("alice@univ-exemple.fr", start=response.headers["Location"])
    posted = read_form(flow.client.get(response.headers["Location"]))
    assert posted.action == "https://sp.example.org/Shibboleth.sso/SAML2/POST" and posted.relay_state == relay
    result = sp.parse(posted.saml_response, "_shib1")
    assert result.name_id.format.endswith(":transient") and result.ava["mail"] == ["alice@univ-exemple.fr"]


def test_req10_req12_simplesamlphp_request_over_post(flow, make_sp, alice):
    """[BRK] REQ10 transient + AllowCreate=false; REQ12 a whole return URL as RelayState; CRY05 CBC."""
    import base64

    sp = make_sp("CBC")
    relay = "https://moodle.univ-exemple.fr/auth/saml2/login.php?wants=%2Fcourse%2Fview.php%3Fid%3D42&idp=x"
    encoded = base64.b64encode(simplesamlphp_request("_ssp1").encode()).decode()
    data = {"SAMLRequest": encoded, "RelayState": relay}
    posted = flow.sso({"data": data}, email="alice@univ-exemple.fr")
    assert posted.relay_state == relay
    result = sp.parse(posted.saml_response, "_ssp1")
    assert result.name_id.format.endswith(":transient") and result.ava["sn"] == ["Martin"]
    assertion = assertion_of(posted, sp.spec.key)
    assert assertion.get("ID").startswith("_")
