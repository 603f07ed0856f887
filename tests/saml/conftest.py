"""A real pysaml2 SP (Saml2Client) in front of the gateway's IdP, driven over the Flask test client.

* Keys and certificates are generated once per session into ``tmp_path_factory``.
* Several SPs' metadata is written into the IdP's SP metadata folder (``sp_dir``):

  ====================  =====================================================================
  ``MAIN``              Shibboleth-like: ACS index 1 (POST), index 2 (POST, isDefault), index 3
                        (Artifact); one key without ``use`` (signing and encryption)
  ``SIGNED``            AuthnRequestsSigned="true", two signing keys (rollover), no encryption key
  ``CBC``               an encryption key whose md:EncryptionMethod lists AES-256-CBC only
  ``EMAIL``             allowed emailAddress NameIDs by the gateway settings
  ====================  =====================================================================

* ``FakeSP`` wraps a ``Saml2Client`` configured with the IdP metadata read from
  ``/saml/metadata``; ``Flow`` drives a browser through /saml/sso, sign-in and
  the auto-POST form, and returns the SAMLResponse for the SP to parse.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

from gateway.accounts.models import Account
from tests.conftest import TEST_SCOPES, Browser, make_app
from tests.helpers.forms import page_form
from tests.oracles.harness import ORACLES, SpOracles

IDP = "http://127.0.0.1:8000/saml/metadata"
SSO = "http://127.0.0.1:8000/saml/sso"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


@dataclasses.dataclass(frozen=True)
class KeyPair:
    key_file: str
    cert_file: str
    key_pem: bytes
    cert_b64: str


@dataclasses.dataclass(frozen=True)
class SpSpec:
    entity_id: str
    acs: tuple[tuple[str, str, int, bool | None], ...]  # binding, location, index, isDefault
    key: KeyPair
    extra_signing: KeyPair | None = None
    key_use: str | None = None  # None: one KeyDescriptor for both uses
    authn_requests_signed: bool = False
    encryption_methods: tuple[str, ...] = ()

    @property
    def acs_url(self) -> str:
        """The ACS the pysaml2 SP sends by value: the metadata default (index 2 for MAIN)."""
        defaults = [a for a in self.acs if a[3]] or [self.acs[0]]
        return defaults[0][1]


def make_key(directory: Path, name: str) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / f"{name}.key").write_bytes(key_pem)
    (directory / f"{name}.crt").write_bytes(cert_pem)
    b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    ORACLES.add_key(b64, key_pem)  # the SP oracles decrypt with it
    return KeyPair(str(directory / f"{name}.key"), str(directory / f"{name}.crt"), key_pem, b64)


def sp_metadata(spec: SpSpec) -> str:
    """SP metadata as a Shibboleth SP or SimpleSAMLphp would publish it."""
    def key_descriptor(pair: KeyPair, use: str | None, methods: tuple[str, ...] = ()) -> str:
        use_attr = f' use="{use}"' if use else ""
        method_xml = "".join(f'<md:EncryptionMethod Algorithm="{m}"/>' for m in methods)
        return (f'<md:KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{pair.cert_b64}'
                f'</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{method_xml}</md:KeyDescriptor>')
    if spec.key_use == "signing":
        keys = key_descriptor(spec.key, "signing")
    else:
        keys = key_descriptor(spec.key, spec.key_use, spec.encryption_methods)
    if spec.extra_signing:
        keys += key_descriptor(spec.extra_signing, "signing")
    acs = "".join(
        f'<md:AssertionConsumerService Binding="{b}" Location="{loc}" index="{i}"'
        + (f' isDefault="{str(d).lower()}"' if d is not None else "") + "/>"
        for b, loc, i, d in spec.acs)
    signed = ' AuthnRequestsSigned="true"' if spec.authn_requests_signed else ""
    return textwrap.dedent(f"""\
        <md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
            xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{spec.entity_id}">
          <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"{signed}>
            {keys}
            {acs}
          </md:SPSSODescriptor>
        </md:EntityDescriptor>
        """)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("saml-keys")
    names = ("main", "signed", "signed2", "cbc", "email", "idp-next", "intruder")
    return {name: make_key(directory, name) for name in names}


@pytest.fixture(scope="session")
def sps(keys) -> dict[str, SpSpec]:
    main = "https://sp.example.org/Shibboleth.sso/SAML2/"
    return {
        "MAIN": SpSpec("https://sp.example.org/shibboleth", (
            (BINDING_HTTP_POST, main + "POST-first", 1, None),
            (BINDING_HTTP_POST, main + "POST", 2, True),
            (BINDING_HTTP_ARTIFACT, main + "Artifact", 3, None),
        ), keys["main"]),
        "SIGNED": SpSpec("https://signed.example.org/sp", (
            (BINDING_HTTP_POST, "https://signed.example.org/acs", 0, None),), keys["signed"],
            extra_signing=keys["signed2"], key_use="signing", authn_requests_signed=True),
        "CBC": SpSpec("https://legacy-ssp.example.org/module.php/saml/sp/metadata.php/default-sp", (
            (BINDING_HTTP_POST, "https://legacy-ssp.example.org/module.php/saml/sp/saml2-acs.php/default-sp",
             0, None),), keys["cbc"], encryption_methods=("http://www.w3.org/2001/04/xmlenc#aes256-cbc",)),
        "EMAIL": SpSpec("https://email.example.org/sp", (
            (BINDING_HTTP_POST, "https://email.example.org/acs", 0, None),), keys["email"],
            key_use="signing"),
    }


@pytest.fixture(scope="session")
def sp_dir(tmp_path_factory: pytest.TempPathFactory, sps) -> Path:
    directory = tmp_path_factory.mktemp("sp-metadata")
    for name, spec in sps.items():
        (directory / f"{name.lower()}.xml").write_text(sp_metadata(spec))
    (directory / "README.txt").write_text("not metadata: ignored (only *.xml is read)")
    return directory


@pytest.fixture
def saml_config(base_config: dict, sp_dir: Path, sps) -> dict:
    return {**base_config, "saml": {
        "sp_metadata_dir": str(sp_dir),
        # Univ-Exemple.fr: a legacy eppn's scope as its IdP wrote it (scopes compare byte for byte)
        "extra_scopes": ["univ-prevue.fr", "Univ-Exemple.fr", *TEST_SCOPES],
        "sp": {sps["EMAIL"].entity_id: {"email_name_id": True, "encrypt": False}},
    }}


@pytest.fixture
def app(saml_config: dict, redis_client):
    return make_app(saml_config)


@pytest.fixture
def idp_metadata(client) -> str:
    return client.get("/saml/metadata").get_data(as_text=True)


class FakeSP:
    """A pysaml2 SP (Saml2Client), as SATOSA's tests use one."""

    def __init__(self, spec: SpSpec, idp_metadata: str, sso_url: str = SSO, metadata: dict | None = None,
                 **sp_options) -> None:
        """``metadata``: pysaml2's metadata sources instead of ``idp_metadata`` inline (e.g. remote + cert)."""
        self.spec = spec
        self.sso_url = sso_url
        config = {
            "entityid": spec.entity_id,
            "key_file": spec.key.key_file,
            "cert_file": spec.key.cert_file,
            "encryption_keypairs": [{"key_file": spec.key.key_file, "cert_file": spec.key.cert_file}],
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "attribute_map_dir": str(Path(__file__).parent / "attributemaps"),
            "metadata": metadata or {"inline": [idp_metadata]},
            "signing_algorithm": RSA_SHA256,
            "digest_algorithm": SHA256,
            "accepted_time_diff": 60,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(spec.acs_url, BINDING_HTTP_POST)]},
                "want_response_signed": True,
                "want_assertions_signed": True,
                "allow_unsolicited": False,
                "authn_requests_signed": spec.authn_requests_signed,
                **sp_options,
            }},
        }
        self.client = Saml2Client(config=SPConfig().load(config))

    def request(self, binding: str = BINDING_HTTP_REDIRECT, relay_state: str = "state-1",
                sign: bool | None = None, **kwargs) -> tuple[str, dict]:
        """(request ID, how to send it): {"url": ...} for Redirect, {"data": ...} for POST."""
        sign = self.spec.authn_requests_signed if sign is None else sign
        request_id, request = self.client.create_authn_request(
            self.sso_url, binding=BINDING_HTTP_POST, sign=sign and binding == BINDING_HTTP_POST,
            sign_alg=RSA_SHA256, digest_alg=SHA256, **kwargs)
        info = self.client.apply_binding(binding, str(request), self.sso_url, relay_state=relay_state,
                                         sign=sign and binding == BINDING_HTTP_REDIRECT, sigalg=RSA_SHA256)
        if binding == BINDING_HTTP_REDIRECT:
            return request_id, {"url": dict(info["headers"])["Location"]}
        return request_id, {"data": {"SAMLRequest": base64.b64encode(str(request).encode()).decode(),
                                     "RelayState": relay_state}}

    def parse(self, saml_response: str, request_id: str):
        return self.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST,
                                                        outstanding={request_id: "/"})


@dataclasses.dataclass
class Posted:
    """The auto-submitting form the gateway answered with."""

    action: str
    saml_response: str
    relay_state: str | None
    html: str
    csp: str

    @property
    def xml(self) -> str:
        return base64.b64decode(self.saml_response).decode()


def read_form(response) -> Posted:
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:500]
    form = page_form(html, field="SAMLResponse")
    assert form.method == "post", html[:800]
    posted = Posted(form.action, form.fields["SAMLResponse"], form.fields.get("RelayState"), html,
                    response.headers.get("Content-Security-Policy", ""))
    ORACLES.check(posted.saml_response, posted.action)  # TST07: as Shibboleth SP 3 and SSP 2 would
    return posted


@pytest.fixture(autouse=True)
def sp_oracles() -> Iterator[SpOracles]:
    """TST07: every Response ``read_form`` returns also goes through both SP oracles (tests/oracles)."""
    with ORACLES.running() as oracles:
        yield oracles


class Flow(Browser):
    """A browser (tests.conftest.Browser): sends the SP's request, signs in when asked, returns the POST
    form."""

    def send(self, how: dict):
        if "url" in how:
            parts = urlsplit(how["url"])
            return self.client.get(parts.path + "?" + parts.query)
        return self.client.post("/saml/sso", data=how["data"])

    def sso(self, how: dict, email: str | None = None) -> Posted:
        """Send the request; sign in if redirected to /login; follow to the POST form."""
        response = self.send(how)
        if response.status_code == 302 and "/login" in response.headers["Location"]:
            assert email, "the gateway asked for a sign-in"
            response = self.sign_in(email, start=response.headers["Location"])
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
            response = self.client.get(response.headers["Location"])
        return read_form(response)


@pytest.fixture
def flow(client) -> Flow:
    return Flow(client)


@pytest.fixture
def make_sp(idp_metadata, sps):
    def make(name: str = "MAIN", **options) -> FakeSP:
        return FakeSP(sps[name], idp_metadata, **options)
    return make


@pytest.fixture
def sp(make_sp) -> FakeSP:
    return make_sp("MAIN")


#: The address of Alice, the person most SAML tests sign in.
ALICE = "alice@univ-exemple.fr"


def re_person(**fields) -> dict:
    """The R&E attributes of the SAML tests' accounts (Alice Martin, a student of UAI 0751717J),
    with ``fields`` added or replaced: ``make_account(ALICE, **re_person(eppn=...))``."""
    return {"given_name": "Alice", "family_name": "Martin", "affiliations": ("student", "member"),
            "establishment": "{UAI}0751717J", **fields}


@pytest.fixture
def alice(make_account) -> Account:
    return make_account(ALICE, **re_person())


# -- crafting requests by hand (the attacks and the edge cases) ------------------------------------------

def authn_request_xml(issuer: str, request_id: str = "_req1", acs: str | None = None,
                      destination: str | None = SSO, issue_instant: str | None = None, extra_attrs: str = "",
                      body: str = "") -> str:
    instant = issue_instant or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = f' AssertionConsumerServiceURL="{acs}" ProtocolBinding="{BINDING_HTTP_POST}"' if acs else ""
    if destination:
        attrs += f' Destination="{destination}"'
    return (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
            f'IssueInstant="{instant}"{attrs}{extra_attrs}><saml:Issuer>{issuer}</saml:Issuer>{body}'
            f'</samlp:AuthnRequest>')


def deflate(xml: str | bytes) -> str:
    data = xml.encode() if isinstance(xml, str) else xml
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(data) + compressor.flush()).decode()


def redirect_query(xml: str, relay_state: str | None = None) -> str:
    params = {"SAMLRequest": deflate(xml)}
    if relay_state is not None:
        params["RelayState"] = relay_state
    return urlencode(params)


def sign_query(query: str, key_pem: bytes, sig_alg: str = RSA_SHA256) -> str:
    """Append SigAlg and Signature over ``query`` exactly as given (the SP's own encoding)."""
    from urllib.parse import quote_plus

    signed = f"{query}&SigAlg={quote_plus(sig_alg)}"
    key = serialization.load_pem_private_key(key_pem, password=None)
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}&Signature={quote_plus(base64.b64encode(signature).decode())}"


# -- reading what the gateway sent ---------------------------------------------------------------------------

NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
      "ds": "http://www.w3.org/2000/09/xmldsig#", "xenc": "http://www.w3.org/2001/04/xmlenc#",
      "md": "urn:oasis:names:tc:SAML:2.0:metadata"}


def response_root(posted: Posted):
    from lxml import etree

    return etree.fromstring(base64.b64decode(posted.saml_response))


def assertion_of(posted: Posted, key: KeyPair | None = None):
    """The Assertion: decrypted *on its own* with the SP key when encrypted, as Shibboleth SP does."""
    import xmlsec
    from lxml import etree

    root = response_root(posted)
    plain = root.find("saml:Assertion", NS)
    if plain is not None:
        return plain
    data = root.find("saml:EncryptedAssertion/xenc:EncryptedData", NS)
    standalone = etree.fromstring(etree.tostring(data))
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(key.key_pem, xmlsec.constants.KeyDataFormatPem))
    return xmlsec.EncryptionContext(manager).decrypt(standalone)


def status_codes(posted: Posted) -> list[str]:
    return [code.get("Value") for code in response_root(posted).iter("{%s}StatusCode" % NS["samlp"])]


@pytest.fixture
def saml_cli(monkeypatch, redis_server, sp_dir, tmp_path):
    """``saml_cli(config_toml, *prefix)``: a function running ``gateway saml <prefix> <args>`` in this process
    against the test Redis and SP folder, with ``config_toml`` as its configuration file; the output never
    holds a traceback."""
    import logging
    import os

    from click.testing import CliRunner

    import gateway.cli.saml  # noqa: F401  registers ``gateway saml …``
    from gateway import logs
    from gateway.cli import cli
    from tests.cli.conftest import cli_environ

    def configure(config_toml: str, *prefix: str):
        config = tmp_path / "gateway.toml"
        config.write_text(config_toml)
        env = cli_environ(redis_server.url)
        env.update(GATEWAY_CONFIG=str(config), GATEWAY_SAML_SP_METADATA_DIR=str(sp_dir))
        for name in list(os.environ):
            if name not in env:
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        def invoke(*args: str):
            for name in ("gateway", logs.AUDIT):
                logging.getLogger(name).handlers = []
            result = CliRunner().invoke(cli, ["saml", *prefix, *args], catch_exceptions=False)
            assert "Traceback" not in result.output
            return result
        return invoke
    return configure
