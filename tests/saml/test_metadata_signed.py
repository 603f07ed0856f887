"""Signed metadata, one shape per trust path (A10, REN02, REN03; saml2int SDP-MD02/MD03).

Each signature is checked by parties that are not the gateway: the ``xmlsec1``
program (as an operator would by hand), pysaml2 loading the metadata as a remote
source with a certificate (as a pysaml2 or SATOSA SP does), and, for the aggregate,
the checks the gateway itself applies to Renater's aggregates.
"""
from __future__ import annotations

import dataclasses
import datetime
import shutil
import subprocess
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
import saml2.data.schemas
from click.testing import CliRunner
from lxml import etree
from saml2.config import SPConfig
from saml2.sigver import SignatureError, security_context
from saml2.xml.schema import _create_xml_schema_validator

import gateway.cli.saml  # noqa: F401  registers ``gateway saml …``
from gateway import ROOT
from gateway.cli import cli
from gateway.config import ConfigError
from gateway.saml.settings import SamlSettings
from gateway.saml.sp.aggregates import AggregateError, verified
from gateway.saml.wire.keys import DEV_CERT, DEV_KEY, pem_block
from tests.cli.conftest import cli_environ, set_environ, unconfigure_logging
from tests.conftest import WsgiServer, free_port, make_app
from tests.saml.conftest import NS, FakeSP, Flow, KeyPair, make_key, re_person
from tests.saml.test_settings import PRODUCTION, problems_of, production_app


MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
ENTITY = "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"
ENTITIES = "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor"
XMLSEC1 = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


@pytest.fixture(scope="session")
def metadata_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A key pair kept for the metadata only, as a federation does."""
    return make_key(tmp_path_factory.mktemp("metadata-key"), "metadata-signing")


@pytest.fixture
def idp_cert(tmp_path: Path) -> Path:
    """The development IdP signing certificate (the metadata signer by default)."""
    path = tmp_path / "idp.pem"
    path.write_text(pem_block(DEV_CERT.read_text()))
    return path


def with_saml(config: dict, **saml: object) -> dict:
    return {**config, "saml": {**config["saml"], **saml}}


def separate_key(config: dict, pair: KeyPair) -> dict:
    return with_saml(config, metadata_key=pair.key_pem.decode(),
                     metadata_cert=Path(pair.cert_file).read_text())


def xmlsec1_verify(document: bytes, cert: Path | str, node: str,
                   tmp_path: Path) -> subprocess.CompletedProcess:
    """``xmlsec1 --verify`` trusting only ``cert`` (the KeyInfo in the document is not a trust anchor)."""
    path = tmp_path / "signed.xml"
    path.write_bytes(document)
    command = [XMLSEC1, "--verify", "--pubkey-cert-pem", str(cert), "--id-attr:ID", node, str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def verifies(document: bytes, cert: Path | str, node: str, tmp_path: Path) -> bool:
    done = xmlsec1_verify(document, cert, node, tmp_path)
    return done.returncode == 0 and "\nOK\n" in "\n" + done.stdout + done.stderr


def pysaml2_verifies(document: bytes, cert: Path | str, node: str) -> bool:
    """What MetaDataExtern.parse_and_check_signature calls (the xmlsec1 backend of pysaml2)."""
    security = security_context(SPConfig().load({"entityid": "https://sp.example.org/sp",
                                                 "xmlsec_binary": XMLSEC1}))
    try:
        return bool(security.verify_signature(document.decode(), cert_file=str(cert), node_name=node))
    except SignatureError:
        return False


def tampered(document: bytes) -> bytes:
    """One byte changed in the signed content (the French display name)."""
    assert b">UNESS</mdui:DisplayName>" in document
    return document.replace(b">UNESS</mdui:DisplayName>", b">UNESs</mdui:DisplayName>", 1)


def schema_valid(document: bytes) -> None:
    schemas = files(saml2.data.schemas)
    validator = _create_xml_schema_validator(str(schemas.joinpath("saml-schema-metadata-2.0.xsd")))
    validator.validate(document.decode())


# -- /saml/metadata: the entity, for one MetadataProvider per SP ---------------------------------------------

def test_a10_metadata_is_signed_as_sps_expect(client):
    """A10: an enveloped signature, first child, one Reference to the root's ID, RSA-SHA256, SHA-256,
    exclusive c14n; still schema-valid."""
    document = client.get("/saml/metadata").data
    root = etree.fromstring(document)
    signature = root[0]
    assert signature.tag == DS + "Signature" and len(root.findall(f".//{DS}Signature")) == 1
    assert root.get("ID") and root.get("ID").startswith("_")
    info = signature.find(DS + "SignedInfo")
    assert info.find(DS + "CanonicalizationMethod").get("Algorithm") == EXC_C14N
    assert info.find(DS + "SignatureMethod").get("Algorithm") == \
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    references = info.findall(DS + "Reference")
    assert [r.get("URI") for r in references] == ["#" + root.get("ID")]
    assert references[0].find(DS + "DigestMethod").get("Algorithm") == SHA256
    assert [t.get("Algorithm") for t in references[0].iterfind(f"{DS}Transforms/{DS}Transform")] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature", EXC_C14N]
    schema_valid(document)


def test_a10_signature_verifies_with_xmlsec1_and_pysaml2_and_a_tampered_byte_fails(client, idp_cert,
                                                                                    tmp_path):
    """A10: by default the IdP signing key signs the metadata."""
    document = client.get("/saml/metadata").data
    assert verifies(document, idp_cert, ENTITY, tmp_path)
    assert pysaml2_verifies(document, idp_cert, ENTITY)
    assert not verifies(tampered(document), idp_cert, ENTITY, tmp_path)
    assert not pysaml2_verifies(tampered(document), idp_cert, ENTITY)


def test_a10_valid_until_is_in_the_future_and_bounded(client, saml_config):
    """A10, REN01: validUntil when signed, days ahead, never more than saml.metadata_valid_days (+ today)."""
    root = etree.fromstring(client.get("/saml/metadata").data)
    valid_until = datetime.datetime.strptime(root.get("validUntil"), "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now + datetime.timedelta(days=13) < valid_until <= now + datetime.timedelta(days=14)
    assert root.get("cacheDuration") == "PT6H"


def test_a10_a_separate_metadata_key_signs_only_the_metadata(saml_config, redis_client, metadata_key,
                                                            idp_cert, tmp_path):
    """REN02: SPs pin the metadata certificate; the IdP signing key, published inside, signs responses."""
    app = make_app(separate_key(saml_config, metadata_key))
    document = app.test_client().get("/saml/metadata").data
    assert verifies(document, metadata_key.cert_file, ENTITY, tmp_path)
    assert not verifies(document, idp_cert, ENTITY, tmp_path)
    published = etree.fromstring(document).findall(f".//{MD}KeyDescriptor//ds:X509Certificate", NS)
    assert [c.text for c in published] == [SamlSettings.pem_body(DEV_CERT.read_text())]


def test_a10_signed_once_per_process_and_etag_still_works(app, client):
    """The document is kept (not signed at each GET); the ETag answers 304; a new day signs again."""
    first = client.get("/saml/metadata")
    assert client.get("/saml/metadata").data == first.data
    assert client.get("/saml/metadata", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    publisher = app.extensions["gateway.saml.metadata"]
    scopes = app.extensions["gateway.saml"].settings.scopes
    now = datetime.datetime.now(datetime.timezone.utc)
    assert publisher.entity(scopes, now) is publisher.entity(scopes, now)
    tomorrow = etree.fromstring(publisher.entity(scopes, now + datetime.timedelta(days=1)))
    assert tomorrow.get("validUntil") > etree.fromstring(first.data).get("validUntil")


def test_a10_signing_can_be_turned_off(saml_config, redis_client):
    root = etree.fromstring(make_app(with_saml(saml_config, metadata_signing=False)).test_client()
                            .get("/saml/metadata").data)
    assert root.find(DS + "Signature") is None and root.get("validUntil")


def test_pysaml2_sp_loads_the_metadata_remotely_only_with_the_right_certificate(metadata_key, live_idp, keys):
    """As an SP configured with ``remote: [{url, cert}]`` (MetaDataExtern) loads it."""
    url = live_idp.url + "/saml/metadata"
    loaded = SPConfig().load(sp_config(url, metadata_key.cert_file))
    endpoints = loaded.metadata.single_sign_on_service(live_idp.entity_id)
    assert endpoints[0]["location"] == live_idp.url + "/saml/sso"
    with pytest.raises(SignatureError):
        SPConfig().load(sp_config(url, keys["intruder"].cert_file))


# -- /saml/metadata/aggregate: for a local federation ---------------------------------------------------

def test_aggregate_holds_the_entity_and_verifies(client, idp_cert, tmp_path):
    """REN02 (b): a signed md:EntitiesDescriptor, named by default after its URL, holding the entity."""
    response = client.get("/saml/metadata/aggregate")
    assert response.mimetype == "application/samlmetadata+xml" and response.headers["ETag"]
    document = response.data
    root = etree.fromstring(document)
    assert root.tag == MD + "EntitiesDescriptor"
    assert root.get("Name") == "http://127.0.0.1:8000/saml/metadata/aggregate" and root.get("validUntil")
    entities = root.findall(MD + "EntityDescriptor")
    assert [e.get("entityID") for e in entities] == ["http://127.0.0.1:8000/saml/metadata"]
    assert entities[0].get("validUntil") is None and entities[0].find(DS + "Signature") is None
    assert verifies(document, idp_cert, ENTITIES, tmp_path)
    assert pysaml2_verifies(document, idp_cert, ENTITIES)
    assert verified(document, idp_cert.read_bytes()) is not None  # the checks applied to Renater's aggregates
    with pytest.raises(AggregateError):
        verified(tampered(document), idp_cert.read_bytes())
    schema_valid(document)


def test_aggregate_name_from_settings(saml_config, redis_client):
    app = make_app(with_saml(saml_config, metadata_aggregate_name="https://federation.uness.fr/"))
    root = etree.fromstring(app.test_client().get("/saml/metadata/aggregate").data)
    assert root.get("Name") == "https://federation.uness.fr/"


# -- settings ------------------------------------------------------------------------------------------

def test_metadata_key_and_cert_go_together(saml_config, redis_client, metadata_key):
    with pytest.raises(ConfigError) as caught:
        make_app(with_saml(saml_config, metadata_key=metadata_key.key_pem.decode()))
    assert "saml.metadata_key and saml.metadata_cert: give both or neither" in caught.value.problems


def test_metadata_cert_must_match_its_key(saml_config, redis_client, metadata_key, keys):
    config = with_saml(saml_config, metadata_key=metadata_key.key_pem.decode(),
                       metadata_cert=Path(keys["intruder"].cert_file).read_text())
    with pytest.raises(ConfigError) as caught:
        make_app(config)
    assert caught.value.problems == ["saml.metadata_cert: does not match saml.metadata_key"]


def test_dev_metadata_key_refused_in_production(tmp_path, redis_server, redis_client, keys):
    """The development key signs no production metadata: by file, or copied without its marker."""
    found = problems_of({**PRODUCTION, "GATEWAY_SAML_METADATA_KEY_FILE": str(DEV_KEY),
                         "GATEWAY_SAML_METADATA_CERT_FILE": str(DEV_CERT)})
    assert "saml.metadata_key: a development secret in production mode" in found
    assert any(p.startswith("saml.metadata_cert: read from") and "a development file" in p for p in found)
    pair = keys["main"]
    with pytest.raises(ConfigError) as caught:
        production_app(redis_server, tmp_path, signing_key=pair.key_pem.decode(),
                       signing_cert=Path(pair.cert_file).read_text(), technical_contact="technique@uness.fr",
                       metadata_key=pem_block(DEV_KEY.read_text()),
                       metadata_cert=pem_block(DEV_CERT.read_text()))
    assert caught.value.problems == [
        "saml.metadata_cert: the dev-only certificate of config/dev/saml, in production mode"]


# -- gateway saml metadata -----------------------------------------------------------------------------

@pytest.fixture
def gateway_saml(monkeypatch, redis_server, redis_client, sp_dir):
    """``gateway_saml("metadata", ...)`` through CliRunner, development settings, the test SP folder."""
    set_environ(monkeypatch, {**cli_environ(redis_server.url), "GATEWAY_SAML_SP_METADATA_DIR": str(sp_dir)})

    def invoke(*args: str):
        unconfigure_logging()
        result = CliRunner().invoke(cli, ["saml", *args], catch_exceptions=False)
        assert "Traceback" not in result.output
        return result
    return invoke


def test_cli_writes_each_shape(gateway_saml, tmp_path, idp_cert):
    """REN02: the signed entity (a), the aggregate of a local federation (b), the entity for the Renater
    registry (c), and the certificate to hand to SP operators."""
    entity, aggregate, registry, cert = (tmp_path / n for n in ("e.xml", "a.xml", "r.xml", "c.pem"))
    done = gateway_saml("metadata", "-o", str(entity))
    assert done.exit_code == 0 and done.output == f"{entity}: signed EntityDescriptor of " \
        "http://127.0.0.1:8000/saml/metadata\n"
    assert verifies(entity.read_bytes(), idp_cert, ENTITY, tmp_path)

    done = gateway_saml("metadata", "--aggregate", "https://federation.uness.fr/", "-o", str(aggregate))
    assert done.exit_code == 0
    root = etree.fromstring(aggregate.read_bytes())
    assert root.get("Name") == "https://federation.uness.fr/"
    assert root.find(MD + "EntityDescriptor").get("entityID") == "http://127.0.0.1:8000/saml/metadata"
    assert verifies(aggregate.read_bytes(), idp_cert, ENTITIES, tmp_path)

    assert gateway_saml("metadata", "--unsigned", "-o", str(registry)).exit_code == 0
    root = etree.fromstring(registry.read_bytes())
    assert root.find(DS + "Signature") is None and root.get("validUntil") is None and root.get("ID") is None
    assert root.find(f"{MD}IDPSSODescriptor/{MD}KeyDescriptor") is not None
    schema_valid(registry.read_bytes())

    assert gateway_saml("metadata", "--cert", "-o", str(cert)).exit_code == 0
    assert cert.read_text() == pem_block(DEV_CERT.read_text())


def test_cli_writes_to_standard_output(gateway_saml):
    done = gateway_saml("metadata")
    assert done.exit_code == 0 and etree.fromstring(done.stdout_bytes).find(DS + "Signature") is not None


@pytest.mark.parametrize("args, code, message", [
    (("--unsigned", "--cert"), 1, "gateway: choose one of --unsigned, --aggregate and --cert\n"),
    (("--aggregate", " "), 1,
     "gateway: --aggregate: give the aggregate's Name (e.g. https://federation.uness.fr/)\n"),
    (("-o", "/nonexistent-folder/metadata.xml"), 1,
     "gateway: cannot write /nonexistent-folder/metadata.xml: No such file or directory\n"),
    (("--signed",), 2, "Error: No such option '--signed'. Did you mean '--unsigned'?"),
])
def test_cli_fails_cleanly(gateway_saml, args, code, message):
    done = gateway_saml("metadata", *args)
    assert done.exit_code == code
    assert message in done.output
    if code == 1:
        assert done.output == message  # one line, nothing on stdout


# -- REN02, end to end: an SP given only the signed metadata's URL and the metadata certificate --------

@dataclasses.dataclass
class LiveIdp:
    url: str
    entity_id: str
    app: object


@pytest.fixture
def live_idp(saml_config, redis_client, metadata_key) -> Iterator[LiveIdp]:
    """The gateway on a real port (the SP fetches the metadata over HTTP), with a separate metadata key."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_app({**separate_key(saml_config, metadata_key), "public_url": url})
    server = WsgiServer(app, port)
    yield LiveIdp(url, url + "/saml/metadata", app)
    server.stop()


def sp_config(metadata_url: str, cert_file: str) -> dict:
    return {"entityid": "https://sp.example.org/probe", "xmlsec_binary": XMLSEC1,
            "metadata": {"remote": [{"url": metadata_url, "cert": cert_file}]},
            "service": {"sp": {"endpoints": {"assertion_consumer_service": ["https://sp.example.org/acs"]}}}}


def test_ren02_sp_trusts_the_gateway_through_its_signed_metadata_only(live_idp, sps, metadata_key,
                                                                      make_account):
    """REN02 (c): one MetadataProvider per SP. The pysaml2 SP knows the metadata URL and the metadata
    certificate, nothing else: it loads and checks the signed metadata, learns the SSO endpoint and the
    IdP signing certificate from it, and signs a person in, verifying the signed Response and Assertion."""
    sp = FakeSP(sps["MAIN"], "", sso_url=live_idp.url + "/saml/sso",
                metadata={"remote": [{"url": live_idp.entity_id, "cert": metadata_key.cert_file}]})
    account = make_account("alice@univ-exemple.fr", **re_person())
    request_id, how = sp.request()
    assert how["url"].startswith(live_idp.url + "/saml/sso?")
    posted = Flow(live_idp.app.test_client()).sso(how, email=account.emails[0].address)
    parsed = sp.parse(posted.saml_response, request_id)
    assert parsed.ava["mail"] == [account.emails[0].address]
    assert parsed.issuer() == live_idp.entity_id


# -- REN03: documentation ------------------------------------------------------------------------------

def test_ren03_readme_explains_each_trust_path_and_the_renater_wayf():
    """REN02, REN03: the README says what to hand over on each path, how SPs check the signature, and
    that SPs behind Renater's WAYF need a fixed ``<SSO entityID>`` (configuration) unless the gateway is
    registered."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### How an unmodified SP comes to trust the gateway", 1)[1].split("\n### ", 1)[0]
    for needed in ("https://discovery.renater.fr/renater/WAYF", 'discoveryProtocol="SAMLDS"',
                   '<SSO entityID="', '<MetadataFilter type="Signature"',
                   '<MetadataFilter type="RequireValidUntil"', "validateFingerprint",
                   "gateway saml metadata --unsigned", "gateway saml metadata --aggregate",
                   "gateway saml metadata --cert", "/saml/metadata/aggregate"):
        assert needed in section, needed
    assert "The document itself is\n  not signed" not in readme
