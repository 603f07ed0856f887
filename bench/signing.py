"""Signing throughput: the xmlsec1 program (one process per signature) against the in-process binding.

``python -m bench.signing [seconds]`` signs a typical Assertion with the
development key (RSA 3072) both ways, then builds whole encrypted Responses
(sign assertion, encrypt, sign response) both ways, and prints the rates.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from lxml import etree

from gateway.saml.wire.crypto import InProcessSigner, ProgramSigner, Signer, add_signature_template
from gateway.saml.wire.keys import DEV_CERT, DEV_KEY, Certificate, KeyFiles, KeyPair
from gateway.saml.wire.xml import SAML, SAML_NS


def sample_assertion(key_pair: KeyPair) -> etree._Element:
    assertion = etree.Element(SAML + "Assertion", nsmap={"saml": SAML_NS}, ID="_bench", Version="2.0",
                              IssueInstant="2025-01-01T00:00:00Z")
    etree.SubElement(assertion, SAML + "Issuer").text = "https://idp.example.org/saml/metadata"
    statement = etree.SubElement(assertion, SAML + "AttributeStatement")
    for index in range(12):
        attribute = etree.SubElement(statement, SAML + "Attribute", Name=f"urn:oid:1.2.3.{index}")
        etree.SubElement(attribute, SAML + "AttributeValue").text = "value-%d@univ-exemple.fr" % index
    add_signature_template(assertion, key_pair.cert, key_pair.algorithm)
    return assertion


def rate(action: Callable[[], object], seconds: float) -> float:
    """Operations per second over about ``seconds``."""
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        action()
        count += 1
    return count / (time.perf_counter() - started)


def measure(seconds: float = 3.0) -> dict[str, float]:
    key_pair = KeyPair.load(DEV_KEY.read_text(), DEV_CERT.read_text(), "signing")
    files = KeyFiles()
    signers: dict[str, Signer] = {
        "xmlsec1 program": ProgramSigner(files.write("bench.key", key_pair.key_pem)),
        "in-process (xmlsec binding)": InProcessSigner(key_pair),
    }
    template = etree.tostring(sample_assertion(key_pair))
    recipient = Certificate.load(DEV_CERT.read_text(), "bench")
    results = {}
    for name, signer in signers.items():
        def sign(signer: Signer = signer) -> object:
            return signer.sign(etree.fromstring(template), "_bench")

        def respond(signer: Signer = signer) -> object:
            signed = signer.sign(etree.fromstring(template), "_bench")
            return signer.encrypt(signed, recipient, "aes256-gcm")

        results[f"{name}: signatures/s"] = rate(sign, seconds)
        results[f"{name}: signed+encrypted assertions/s"] = rate(respond, seconds)
    files.remove()
    return results


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    for name, value in measure(seconds).items():
        print(f"{name:55s} {value:8.1f}")


if __name__ == "__main__":
    main()
