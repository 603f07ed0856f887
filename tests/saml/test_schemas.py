"""pysaml2's schema validator, deferred by gateway/saml/wire/schemas.py: not built by the IdP, still
refusing what the SAML schemas refuse once pysaml2's SP side asks for it."""
from __future__ import annotations

import subprocess
import sys

from gateway.config import ROOT

# A fresh interpreter: the import order is the gateway's (gateway.saml.app, which create_app imports,
# before pysaml2's sigver).
PROBE = """
import gateway.saml.app
import saml2.xml.schema as schema
from saml2.sigver import XMLSchemaError, validate_doc_with_schema

print("built at import:", schema._schema_validator_default.built)
ISSUE = 'ID="_r1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"'
NS = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
good = f'<samlp:Response {NS} {ISSUE}><samlp:Status><samlp:StatusCode '\\
       f'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>'
validate_doc_with_schema(good)
print("valid Response: accepted")
for name, bad in [("no Status", f'<samlp:Response {NS} {ISSUE}/>'),
                  ("a foreign element", good.replace("<samlp:Status>", "<samlp:Evil/><samlp:Status>"))]:
    try:
        validate_doc_with_schema(bad)
        print(name + ": ACCEPTED")
    except XMLSchemaError:
        print(name + ": refused")
"""


def test_schema_validator_is_deferred_and_still_refuses() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        "built at import: False",
        "valid Response: accepted",
        "no Status: refused",
        "a foreign element: refused",
    ]
