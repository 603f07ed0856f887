"""REN02 (c) with the real Shibboleth SP 3: it loads the gateway's metadata by URL through a Signature filter.

The SP's ``shibboleth2.xml`` gets exactly the MetadataProvider of the README
("How an unmodified SP comes to trust the gateway"): ``url`` + ``backingFilePath``,
``RequireValidUntil maxValidityInterval="2419200"`` and ``Signature certificate=…``.
With a certificate that did not sign the metadata, shibd refuses it and the SP
cannot send anyone to the gateway; with the metadata certificate (the development
gateway's signing certificate, which signs its metadata by default), a person signs in.

The ``interop`` fixture (tests/interop/conftest.py) starts Apache, shibd and the
gateway; this test only restarts shibd with another MetadataProvider.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from gateway.saml.wire.keys import DEV_CERT, pem_block

from tests.conftest import Browser

from .conftest import ETC, Interop, render
from .test_shibboleth_sp import TIMEOUT, check_attributes, sign_in


#: What OpenSAML's SignatureMetadataFilter logs when it refuses a document.
REFUSED = "SignatureMetadataFilter unable to verify signature at root of metadata instance"


def use_remote_metadata(interop: Interop, certificate: Path, name: str) -> None:
    """Restart shibd with the README's MetadataProvider, checking the signature with ``certificate``."""
    sp = interop.sp
    provider = (
        f'<MetadataProvider type="XML" validate="true" url="{interop.gateway.url}/saml/metadata" '
        f'backingFilePath="{sp.run / (name + ".xml")}" maxRefreshDelay="7200">'
        '<MetadataFilter type="RequireValidUntil" maxValidityInterval="2419200"/>'
        f'<MetadataFilter type="Signature" certificate="{certificate}"/>'
        '</MetadataProvider>')
    sp.stop_shibd()
    render("shibboleth2.xml", sp.conf / "shibboleth2.xml", conf=sp.conf, run=sp.run, etc=ETC,
           sp_entity_id=sp.entity_id, idp_entity_id=sp.idp_entity_id, metadata_provider=provider)
    (sp.conf / "shibboleth2.xml").chmod(0o644)
    sp.start_shibd()
    sp.wait_status()


def test_ren02_shibboleth_sp_trusts_the_gateway_through_its_signed_metadata(interop: Interop) -> None:
    """REN02: one MetadataProvider line on the SP, with the metadata certificate; nothing else."""
    sp = interop.sp
    wrong = sp.conf / "sp-signing-cert.pem"  # a certificate that signed nothing of the gateway's
    right = sp.conf / "gateway-metadata.pem"
    right.write_text(pem_block(DEV_CERT.read_text()))
    right.chmod(0o644)
    try:
        use_remote_metadata(interop, wrong, "refused")
        refused = requests.get(sp.url + "/secure", allow_redirects=False, timeout=TIMEOUT)
        assert not refused.headers.get("Location", "").startswith(interop.gateway.url), refused.headers
        assert not (sp.run / "refused.xml").exists(), "shibd kept metadata it could not verify"
        failures = sp.log("shibd.log").count(REFUSED)
        assert failures, f"no {REFUSED!r} in shibd.log"

        use_remote_metadata(interop, right, "accepted")
        assert (sp.run / "accepted.xml").exists(), "shibd kept no backing copy of the verified metadata"
        assert sp.log("shibd.log").count(REFUSED) == failures
        check_attributes(sign_in(Browser(url=interop.gateway.url), interop), interop)
    except (AssertionError, requests.RequestException) as exc:
        pytest.fail(f"{type(exc).__name__}: {exc}\n\n{interop.logs()}", pytrace=True)
