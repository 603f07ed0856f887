"""The IdP, built once per process from the settings (gunicorn ``preload`` shares it).

The pysaml2 ``Server`` configuration is generated here, in code (no pysaml2
config files): entityID, keys, endpoints, SHA-256 algorithms, and the SP
metadata of every ``*.xml`` of ``saml.sp_metadata_dir`` (plus, in development,
``config/dev/saml/sp``), each file checked with defusedxml first. pysaml2 keeps
the metadata store of those files; the SP aggregates are indexed at start and each of
their SPs read when first used (:class:`~gateway.saml.sp.providers.Providers`);
:class:`IdentityProvider` holds the typed views the rest of the package uses. Every URL is
built from ``settings.public_url``.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.server import Server

from ...config import ROOT, ConfigError, Settings
from ..errors import MalformedRequest
from ..settings import SamlSettings
from ..sp.aggregates import Aggregate, Aggregates
from ..sp.policy import SpPolicy, parse_policies
from ..sp.providers import Providers, ServiceProvider, load_service_providers
from ..wire.crypto import SHA256, SIGNATURE_URIS, InProcessSigner, ProgramSigner, Signer, XmlSecBindingBackend
from ..wire.keys import DEV_DIR, IdpKeys, KeyFiles, KeyProblem, load_idp_keys
from ..wire.xml import check_safe

log = logging.getLogger("gateway.saml")
DEV_SP_DIR = DEV_DIR / "sp"


@dataclasses.dataclass(frozen=True)
class IdentityProvider:
    """Everything the SAML views need, immutable once built."""

    entity_id: str
    public_url: str
    settings: SamlSettings
    keys: IdpKeys
    #: the local files' SPs, read at start; the aggregates' ones, read on first use
    providers: Providers
    signer: Signer
    server: Server
    files: KeyFiles
    #: Remote SP aggregates (saml.aggregates), refreshed by :meth:`Aggregates.tick`; None without any.
    aggregates: Aggregates | None = None

    @property
    def sso_url(self) -> str:
        return self.public_url + "/saml/sso"

    @property
    def slo_url(self) -> str:
        return self.public_url + "/saml/slo"

    @property
    def signature_algorithm(self) -> str:
        return SIGNATURE_URIS[self.keys.signing.algorithm]

    def provider(self, entity_id: str) -> ServiceProvider | None:
        return self.providers.get(entity_id)


def build_identity_provider(settings: Settings) -> IdentityProvider | None:
    """The IdP, or None when it is off (production without a signing key). Raises ConfigError."""
    saml = settings.saml
    policies, keys = _checked_inputs(settings)
    if keys is None:
        log.warning("SAML IdP off: no saml.signing_key in production mode")
        return None
    public_url = settings.public_url.rstrip("/")
    entity_id = saml.entity_id or public_url + "/saml/metadata"
    if len(entity_id) > 256 or not entity_id.startswith(("https://", "http://")):
        raise ConfigError(["saml.entity_id: an absolute http(s) URI of at most 256 characters (A01)"])
    files = KeyFiles()
    key_file = files.write("signing.key", keys.signing.key_pem)
    server = _server(entity_id, public_url, keys, files, metadata_files(settings), key_file)
    feeds = _aggregates(saml, server)
    providers = Providers(load_service_providers(server.metadata, policies), policies, feeds)
    problems = _duplicates(server) + _policy_problems(policies, providers)
    if problems:
        raise ConfigError(problems)
    signer: Signer
    if saml.crypto_backend == "xmlsec1":
        signer = ProgramSigner(key_file)
    else:
        signer = InProcessSigner(keys.signing)
        server.sec.crypto = XmlSecBindingBackend(signer)  # pysaml2 signs in-process too
    return IdentityProvider(entity_id, public_url, saml, keys, providers, signer, server, files, feeds)


def _aggregates(saml: SamlSettings, server: Server) -> Aggregates | None:
    """Load saml.aggregates into the store (network, else the disk cache); local files win."""
    if not saml.aggregates:
        return None
    local = {entity_id for loaded in server.metadata.metadata.values() for entity_id in loaded.keys()}
    feeds = Aggregates([Aggregate.from_table(t) for t in saml.aggregates], server.metadata, local,
                       saml.aggregate_check_seconds)
    feeds.load_at_start()
    return feeds


def _checked_inputs(settings: Settings) -> tuple[dict[str, SpPolicy], IdpKeys | None]:
    """Per-SP policies and keys, every problem of them reported at once. Raises ConfigError.

    The rules of the values themselves (:meth:`SamlSettings.problems`) ran in
    :func:`gateway.config.load_settings`, which every ``settings`` comes from.
    """
    policies, problems = parse_policies(settings.saml.sp)
    keys = None
    try:
        keys = load_idp_keys(settings.saml, development=not settings.is_production)
    except KeyProblem as exc:
        problems.append(str(exc))
    if problems:
        raise ConfigError(problems)
    return policies, keys


def metadata_files(settings: Settings) -> list[Path]:
    """Every ``*.xml`` of the SP metadata folder(s), sorted. Raises ConfigError for a missing folder."""
    folder = Path(settings.saml.sp_metadata_dir)
    folder = folder if folder.is_absolute() else ROOT / folder
    folders = [folder] + ([] if settings.is_production else [DEV_SP_DIR])
    if not folder.is_dir() and settings.is_production:
        raise ConfigError([f"saml.sp_metadata_dir: no such folder: {folder}"])
    return sorted(p for f in folders if f.is_dir() for p in f.glob("*.xml"))


def pysaml2_config(entity_id: str, public_url: str, key_file: str, cert_file: str,
                   metadata: list[str]) -> dict[str, Any]:
    """The pysaml2 IdP configuration, as the dict ``IdPConfig.load`` takes."""
    endpoints = {
        "single_sign_on_service": [(public_url + "/saml/sso", BINDING_HTTP_REDIRECT),
                                   (public_url + "/saml/sso", BINDING_HTTP_POST)],
        "single_logout_service": [(public_url + "/saml/slo", BINDING_HTTP_REDIRECT),
                                  (public_url + "/saml/slo", BINDING_HTTP_POST)],
    }
    return {
        "entityid": entity_id,
        "key_file": key_file,
        "cert_file": cert_file,
        "metadata": {"local": metadata},
        "signing_algorithm": SIGNATURE_URIS["rsa"],
        "digest_algorithm": SHA256,
        "service": {"idp": {
            "endpoints": endpoints,
            "want_authn_requests_signed": False,  # A06: enforced per SP instead (REQ05)
            "sign_response": True,
            "sign_assertion": True,
        }},
        "accepted_time_diff": 180,
        "allow_unknown_attributes": True,
    }


def _server(entity_id: str, public_url: str, keys: IdpKeys, files: KeyFiles, metadata: list[Path],
            key_file: str) -> Server:
    problems = []
    for path in metadata:
        try:
            check_safe(path.read_bytes())
        except MalformedRequest as exc:
            problems.append(f"saml SP metadata {path}: refused ({exc.detail})")
    if problems:
        raise ConfigError(problems)
    cert_file = files.write("signing.crt", keys.signing.cert.pem)
    config = pysaml2_config(entity_id, public_url, key_file, cert_file, [str(p) for p in metadata])
    try:
        return Server(config=IdPConfig().load(config))
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises anything on bad metadata; no traceback
        raise ConfigError([f"saml SP metadata: cannot be loaded ({type(exc).__name__}: {exc})"]) from None


def _duplicates(server: Server) -> list[str]:
    """An entityID in two files would make the answer depend on the load order."""
    seen: dict[str, str] = {}
    problems = []
    for source, loaded in server.metadata.metadata.items():
        for entity_id in loaded.keys():
            if entity_id in seen:
                problems.append(f"saml SP metadata: {entity_id} is in both {seen[entity_id]} and {source}")
            seen[entity_id] = source
    return problems


def _policy_problems(policies: dict[str, Any], providers: Providers) -> list[str]:
    """Only the SPs with a policy are read here: the aggregates' others wait for their first use."""
    problems = []
    configured = providers.configured()
    for entity_id in sorted(set(policies) - {sp.entity_id for sp in configured}):
        log.warning("saml.sp.%s: no such SP in the metadata (options unused)", entity_id)
    for sp in configured:
        if sp.policy.encrypt and not sp.encryption_certs:
            problems.append(f"saml.sp.{sp.entity_id!r}.encrypt: true, but its metadata has no encryption key")
    return problems
