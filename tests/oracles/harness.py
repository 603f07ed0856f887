"""Every gateway SAML Response the tests receive, through both SP oracles (TST07).

The tests read the auto-POST form where they always did (``read_form`` in
tests/saml/conftest.py, ``submit`` in tests/test_demo_saml.py) and hand the
``SAMLResponse`` and the form's action to :meth:`SpOracles.check`. The SP is the
one whose *own* metadata (the files in the gateway's ``saml.sp_metadata_dir``)
lists that action as an ACS; its private keys come from the key ring (``add_key``:
tests/saml/conftest.py's ``make_key`` fills it). The IdP metadata is the one the emitting app serves at /saml/metadata at
that moment: Flask's ``request_finished`` signal says which app emitted which
Response, so apps built with other settings in the same test are told apart.

A refusal by either SP, or a value Shibboleth SP would silently drop by a scope
or qualifier rule or its decoder, fails the test that triggered it (an attribute
its map lacks, or an affiliation outside its whitelist, is how Renater SPs
always were). A test that means to produce such a Response
says so with ``sp_oracles.allow_refusal("why")``.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, Response, request_finished
from lxml import etree

from tests.helpers.forms import forms

from .saml import MD_NS, NS, SAMLP_NS, IdpMetadata, Refused, parse_xml
from .shibsp3 import Rule, Session, ShibbolethSP
from .ssp2 import Login, SimpleSamlSP


@dataclasses.dataclass(frozen=True)
class Verdict:
    shibboleth: Session
    simplesaml: Login


@dataclasses.dataclass(frozen=True)
class SpEntity:
    """An SP as its own metadata describes it, with the private keys of its certificates."""

    entity_id: str
    keys: tuple[bytes, ...]


class SpOracles:
    """The oracles of one test: who emitted what, the SPs' key ring, their replay caches."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._running = False
        self._reset()

    def _reset(self) -> None:
        self._emitted: dict[str, Flask] = {}
        self._sps: dict[tuple[int, str], tuple[ShibbolethSP, SimpleSamlSP]] = {}
        self.refusal_allowed: str | None = None
        self.former_name_qualifiers: frozenset[str] = frozenset()
        self.verdicts: list[Verdict] = []
        self.refusals: list[Refused] = []

    @contextlib.contextmanager
    def running(self) -> Iterator[SpOracles]:
        """Watch the apps of one test, with fresh replay caches."""
        self._reset()
        self._running = True
        request_finished.connect(self._record)
        try:
            yield self
        finally:
            request_finished.disconnect(self._record)
            self._running = False

    def add_key(self, cert_b64: str, key_pem: bytes) -> None:
        """An SP key pair (certificate as base64 DER): the SP whose metadata has the cert decrypts with it."""
        self._keys[cert_b64] = key_pem

    def allow_refusal(self, reason: str) -> None:
        """This test produces Responses an SP would refuse, on purpose (``reason`` says why)."""
        self.refusal_allowed = reason

    def accept_name_qualifiers(self, *name_qualifiers: str) -> None:
        """The Shibboleth SPs' attribute-policy accepts persistent-ids qualified by these former IdPs
        (the rule ``gateway saml cutover-check`` prints, README "Moving an application to the gateway")."""
        self.former_name_qualifiers = frozenset(name_qualifiers)

    def check(self, saml_response: str, url: str) -> Verdict | None:
        """Both SPs receive the Response at ``url``. Raises Refused, or AssertionError for a silent drop."""
        if not self._running:
            raise RuntimeError("no SP oracle session: use the sp_oracles fixture")
        if etree.fromstring(base64.b64decode(saml_response)).tag != f"{{{SAMLP_NS}}}Response":
            return None  # a LogoutResponse: not what these oracles model
        app = self._emitted.get(saml_response)
        assert app is not None, "this SAMLResponse was not emitted by a gateway app of this test"
        shibboleth, simplesaml = self._oracles(app, url)
        try:
            verdict = Verdict(shibboleth.receive(saml_response, url), simplesaml.receive(saml_response, url))
        except Refused as refusal:
            if not self.refusal_allowed:
                raise
            self.refusals.append(refusal)
            return None
        lost = [d for d in verdict.shibboleth.dropped if d.rule not in (Rule.VALUES, Rule.UNMAPPED)]
        assert self.refusal_allowed or not lost, f"Shibboleth SP 3 would silently drop {lost}"
        self.verdicts.append(verdict)
        return verdict

    def _record(self, sender: Flask, response: Response, **_: object) -> None:
        if response.mimetype == "text/html" and not response.is_streamed:
            page = response.get_data(as_text=True)
            if 'name="SAMLResponse"' in page:
                for form in forms(page):
                    if "SAMLResponse" in form.fields:
                        self._emitted[form.fields["SAMLResponse"]] = sender

    def _oracles(self, app: Flask, url: str) -> tuple[ShibbolethSP, SimpleSamlSP]:
        """The two SPs at ``url``, kept for the test (replay caches) and given the current IdP metadata."""
        idp = IdpMetadata.parse(app.test_client().get("/saml/metadata").get_data())
        sp = self._sp_at(app, url)
        if (id(app), sp.entity_id) not in self._sps:
            self._sps[id(app), sp.entity_id] = (ShibbolethSP(idp, sp.entity_id, sp.keys),
                                                SimpleSamlSP(idp, sp.entity_id, sp.keys))
        pair = self._sps[id(app), sp.entity_id]
        for oracle in pair:
            oracle.idp = idp
        pair[0].former_name_qualifiers = self.former_name_qualifiers
        return pair

    def _sp_at(self, app: Flask, url: str) -> SpEntity:
        folder = Path(app.extensions["gateway.settings"].saml.sp_metadata_dir)
        found = [entity for path in sorted(folder.glob("*.xml"))
                 for entity in parse_xml(path.read_bytes()).iter(f"{{{MD_NS}}}EntityDescriptor")
                 if entity.find(f"md:SPSSODescriptor/md:AssertionConsumerService[@Location='{url}']", NS)
                 is not None]
        assert len(found) == 1, f"{len(found)} SPs in {folder} have the ACS {url}"
        certs = ["".join(c.text.split()) for c in found[0].iterfind(
            "md:SPSSODescriptor/md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)]
        return SpEntity(found[0].get("entityID"), tuple(self._keys[c] for c in certs if c in self._keys))


#: The one instance the fixtures start and the form readers call.
ORACLES = SpOracles()
