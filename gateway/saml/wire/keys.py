"""The IdP's keys and certificates: read once, checked, held in memory.

Settings give PEM text (``signing_key``) or a file (``signing_key_file``, read by
gateway.config); any text before ``-----BEGIN`` (the ``dev-only-`` marker of the
development files) is dropped here. Keys must be RSA >= 2048 bits or EC >= 256
bits and match their certificate (A04). pysaml2 wants files: :class:`KeyFiles`
writes private copies, readable by this user only, removed at exit by the
process that made them (not by forked gunicorn workers).
"""
from __future__ import annotations

import atexit
import base64
import dataclasses
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ...config import DEV_CONFIG_DIR
from ..settings import SamlSettings

DEV_DIR = DEV_CONFIG_DIR / "saml"
DEV_KEY = DEV_DIR / "dev-only-idp-signing.key"
DEV_CERT = DEV_DIR / "dev-only-idp-signing.crt"


class KeyProblem(ValueError):
    """A key or certificate that cannot be used; the message names the setting."""


def pem_block(text: str) -> str:
    """The PEM block(s) of ``text``, without what comes before the first ``-----BEGIN``."""
    start = text.find("-----BEGIN")
    if start < 0:
        raise KeyProblem("no PEM block (-----BEGIN ...)")
    return text[start:].strip() + "\n"


def cert_base64(cert_pem: str) -> str:
    """The DER certificate as one base64 line, as in ds:X509Certificate."""
    return SamlSettings.pem_body(cert_pem)


@dataclasses.dataclass(frozen=True)
class Certificate:
    """A certificate as PEM, with its base64 DER (for metadata and KeyInfo)."""

    pem: str

    @property
    def b64(self) -> str:
        return cert_base64(self.pem)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(base64.b64decode(self.b64)).hexdigest()

    @property
    def public_key_pem(self) -> bytes:
        """The certificate's public key alone (SubjectPublicKeyInfo, PEM)."""
        return x509.load_pem_x509_certificate(self.pem.encode()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def load(cls, text: str, what: str) -> Certificate:
        """Raises KeyProblem."""
        try:
            pem = pem_block(text)
            x509.load_pem_x509_certificate(pem.encode())
        except (KeyProblem, ValueError) as exc:
            raise KeyProblem(f"saml.{what}: not a PEM certificate ({exc})") from None
        return cls(pem)


@functools.lru_cache(maxsize=16)
def private_key(pem: str) -> PrivateKeyTypes:
    """The loaded key, once per process (an RSA load checks the key and costs ~0.1 s)."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


@dataclasses.dataclass(frozen=True)
class KeyPair:
    """A private key and its certificate. ``algorithm`` is "rsa" or "ec"."""

    key_pem: str
    cert: Certificate
    algorithm: str

    @classmethod
    def load(cls, key_text: str, cert_text: str, what: str) -> KeyPair:
        """Check size and match (A04). Raises KeyProblem."""
        cert = Certificate.load(cert_text, f"{what}_cert")
        try:
            key_pem = pem_block(key_text)
            key = private_key(key_pem)
        except (KeyProblem, ValueError, TypeError) as exc:
            raise KeyProblem(f"saml.{what}_key: not an unencrypted PEM private key ({exc})") from None
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
            algorithm = "rsa"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 256:
            algorithm = "ec"
        else:
            raise KeyProblem(f"saml.{what}_key: RSA of at least 2048 bits or EC of at least 256 bits")
        public = x509.load_pem_x509_certificate(cert.pem.encode()).public_key()
        if public.public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
            raise KeyProblem(f"saml.{what}_cert: does not match saml.{what}_key")
        return cls(key_pem, cert, algorithm)


@dataclasses.dataclass(frozen=True)
class IdpKeys:
    """What the IdP signs with, publishes ahead of a rollover, and decrypts with (A04, A05)."""

    signing: KeyPair
    next_signing: Certificate | None = None
    encryption: KeyPair | None = None
    #: A key pair for the metadata signature only (saml.metadata_key); else ``signing`` signs it.
    metadata: KeyPair | None = None

    @property
    def published_signing(self) -> tuple[Certificate, ...]:
        """Every signing certificate of the metadata: the current one, then the next (A04)."""
        return (self.signing.cert,) + ((self.next_signing,) if self.next_signing else ())

    @property
    def metadata_signing(self) -> KeyPair:
        """What signs the metadata; SPs pin its certificate (A10)."""
        return self.metadata or self.signing


def load_idp_keys(settings: SamlSettings, development: bool) -> IdpKeys | None:
    """The configured keys; the dev-only pair in development; None (IdP off) otherwise.

    Raises KeyProblem.
    """
    if settings.signing_key:
        signing = KeyPair.load(settings.signing_key, settings.signing_cert, "signing")
    elif development:
        signing = KeyPair.load(DEV_KEY.read_text(), DEV_CERT.read_text(), "signing")
    else:
        return None
    following = Certificate.load(settings.next_signing_cert, "next_signing_cert") \
        if settings.next_signing_cert else None
    encryption = KeyPair.load(settings.encryption_key, settings.encryption_cert, "encryption") \
        if settings.encryption_key else None
    metadata = KeyPair.load(settings.metadata_key, settings.metadata_cert, "metadata") \
        if settings.metadata_key else None
    return IdpKeys(signing, following, encryption, metadata)


class KeyFiles:
    """Private files holding PEM text for pysaml2 and the xmlsec1 program."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="gateway-saml-"))
        os.chmod(self.directory, 0o700)
        self._owner = os.getpid()
        atexit.register(self.remove)

    def write(self, name: str, text: str) -> str:
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
        return str(path)

    def remove(self) -> None:
        """Only the process that wrote the files removes them (gunicorn workers share them)."""
        if os.getpid() == self._owner:
            shutil.rmtree(self.directory, ignore_errors=True)
