"""Signing keys: the JWKS the relying parties fetch, and the key that signs each token.

Two sources are merged (checklist DISC02, OIDC07):

* the **managed key directory** (``oidc.keys_dir``): one PEM file per key and
  ``keyset.json``, the state of every key. ``gateway keys init|rotate`` is its
  only writer (atomic rename); every gunicorn worker notices a new
  ``keyset.json`` (another inode or modification time) and reloads it within
  seconds. Several nodes share one folder (README, "Several nodes"): a rotation
  run on one node is followed by every worker of every node. A reload that finds
  the folder half-written (a key file not there yet, or already pruned) keeps the
  keys it has and tries again at the next look.
* **static keys** (``oidc.signing_keys``): PEM text from the environment or a
  secret file, for deployments without a writable folder. Always published;
  they sign only for an algorithm that has no active managed key.

Life of a managed key, per algorithm (``gateway keys rotate``)::

    next  --rotate-->  active  --rotate-->  retired  --(retire_at passed)-->  deleted
    published,         published,           published, never signs again,
    never signs        signs every token    until rotation + the longest token lifetime

so a relying party that caches the JWKS has always seen a key before the first
token it signs, and can still verify every token signed by the previous one.
The ``kid`` is the RFC 7638 thumbprint of the public key, unique per key.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, RSAKey

from .errors import SigningKeyError

#: Signing algorithms offered (OIDC Core §15.1: RS256 is mandatory) and their key types.
ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}
DEFAULT_ALG = "RS256"
STATE_FILE = "keyset.json"
STATES = ("next", "active", "retired")
#: How often a worker looks at ``keyset.json`` for changes (seconds).
RELOAD_INTERVAL = 2.0

Key = Union[RSAKey, ECKey]
#: What tells one version of ``keyset.json`` from the next: (inode, mtime in ns, size).
Stamp = tuple[int, int, int]
log = logging.getLogger("gateway")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """One key of the set, with its place in the life cycle (``static`` for configured PEM keys)."""

    kid: str
    alg: str
    key: Key = dataclasses.field(repr=False)
    state: str = "static"
    created: int = 0
    retire_at: int = 0

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517 §4): never a private parameter (DISC02)."""
        return dict(self.key.as_dict(private=False, kid=self.kid, use="sig", alg=self.alg))

    def is_published(self, now: float) -> bool:
        return self.state != "retired" or self.retire_at > now

    def signature(self, signing_input: bytes) -> bytes:
        """The JWS signature of ``signing_input`` (RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256; §3.4:
        ECDSA P-256 with SHA-256, as R || S in 32 bytes each), by ``cryptography`` directly."""
        private = self.key.raw_value
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]


def generate(alg: str) -> Key:
    """A new private key for ``alg``: RSA 2048 bits or EC P-256."""
    if alg == "RS256":
        return RSAKey.generate_key(2048)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    raise SigningKeyError(f"unsupported signing algorithm {alg!r}")


def alg_for(key: Key) -> str:
    """The algorithm a key signs with. Raises SigningKeyError for weak or unsupported keys."""
    if isinstance(key, RSAKey):
        if key.raw_value.key_size < 2048:  # type: ignore[union-attr]
            raise SigningKeyError("RSA signing keys need at least 2048 bits (DISC02)")
        return "RS256"
    if isinstance(key, ECKey) and key.curve_name == "P-256":
        return "ES256"
    raise SigningKeyError("signing keys are RSA (>= 2048 bits) or EC P-256")


def import_private_pem(pem: str | bytes) -> Key:
    """Read one PEM private key. Raises SigningKeyError."""
    data = pem.encode() if isinstance(pem, str) else pem
    for cls in (RSAKey, ECKey):
        try:
            with warnings.catch_warnings():  # joserfc warns of weak keys; alg_for refuses them below
                warnings.simplefilter("ignore", SecurityWarning)
                key = cls.import_key(data)
        except (JoseError, ValueError, TypeError):
            continue
        if key.is_private:
            alg_for(key)
            return key
    raise SigningKeyError("not a PEM private RSA or EC key")


def static_keys(text: str) -> list[SigningKey]:
    """The keys of ``oidc.signing_keys`` (PEM blocks one after another), in order."""
    keys = []
    for match in _PEM_BLOCK.finditer(text or ""):
        key = import_private_pem(match.group(0))
        keys.append(SigningKey(key.thumbprint(), alg_for(key), key))
    return keys


class Keys:
    """An immutable set of keys: what is published, what signs."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        self.keys = tuple(keys)
        #: (kids published, their JWK Set, the same as a KeySet): built again only when the kids change
        self._published: tuple[tuple[str, ...], dict[str, Any], KeySet] | None = None
        #: (alg, typ) -> the key that signs and its JWS header, encoded: made once per set of keys
        self._headers: dict[tuple[str, str], tuple[SigningKey, bytes]] = {}

    def signer(self, alg: str = DEFAULT_ALG) -> SigningKey:
        """The key that signs ``alg`` now: the active managed key, else the first static one."""
        for state in ("active", "static"):
            for key in self.keys:
                if key.alg == alg and key.state == state:
                    return key
        raise SigningKeyError(f"no signing key for {alg}")

    def algorithms(self) -> list[str]:
        """Algorithms that can sign now, RS256 first (discovery's id_token_signing_alg_values_supported)."""
        found = []
        for alg in ALGORITHMS:
            try:
                self.signer(alg)
            except SigningKeyError:
                continue
            found.append(alg)
        return found

    def published(self, now: float) -> list[SigningKey]:
        return [k for k in self.keys if k.is_published(now)]

    def _public(self, now: float) -> tuple[tuple[str, ...], dict[str, Any], KeySet]:
        """The published keys as a JWK Set and as a KeySet, made once per set of kids (keys are
        immutable; only retirement dates change what is published)."""
        published = self.published(now)
        kids = tuple(k.kid for k in published)
        cached = self._published
        if cached is None or cached[0] != kids:
            jwks = {"keys": [k.public_jwk() for k in published]}
            cached = self._published = (kids, jwks, KeySet.import_key_set(cast(Any, jwks)))
        return cached

    def jwks(self, now: float) -> dict[str, Any]:
        """The JWK Set served at ``jwks_uri`` (OIDC Discovery §3, checklist DISC02)."""
        jwks = self._public(now)[1]
        return {"keys": [dict(k) for k in jwks["keys"]]}  # a copy: callers may change theirs

    def verification_keys(self, now: float) -> KeySet:
        """Public keys that verify what this provider signed (id_token_hint, SEC12)."""
        return self._public(now)[2]

    def sign(self, claims: Mapping[str, Any], alg: str = DEFAULT_ALG, typ: str = "JWT") -> str:
        """A compact JWS (RFC 7515 §7.1) with ``kid`` in its header (OIDC07), by the key that signs
        ``alg`` now (RS256 or ES256; never ``none``). The header is encoded once per set of keys (a
        rotation makes a new set). Raises SigningKeyError when no key signs ``alg``."""
        found = self._headers.get((alg, typ))
        if found is None:
            key = self.signer(alg)
            header = json.dumps({"alg": key.alg, "kid": key.kid, "typ": typ}, separators=(",", ":"))
            found = self._headers[(alg, typ)] = (key, _b64(header.encode()))
        key, header_part = found
        signing_input = header_part + b"." + _b64(json.dumps(dict(claims), separators=(",", ":")).encode())
        return (signing_input + b"." + _b64(key.signature(signing_input))).decode("ascii")


def _b64(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


# -- the managed directory ------------------------------------------------------------------

def read_state(directory: Path) -> dict[str, Any]:
    """``keyset.json`` as a dict (``{"keys": []}`` when the folder is new)."""
    path = directory / STATE_FILE
    if not path.exists():
        return {"keys": []}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"{path}: unreadable key set ({exc})") from exc
    if not isinstance(state, dict) or not isinstance(state.get("keys"), list):
        raise SigningKeyError(f"{path}: expected an object with a 'keys' list")
    return state


def write_state(directory: Path, state: Mapping[str, Any]) -> None:
    """Replace ``keyset.json`` atomically (write a temporary file, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".keyset-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(state, out, indent=2, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, directory / STATE_FILE)


def load_directory(directory: Path) -> list[SigningKey]:
    """Every key the state file names. Raises SigningKeyError (missing file, wrong kid...)."""
    keys = []
    for entry in read_state(directory)["keys"]:
        try:
            pem = (directory / entry["file"]).read_bytes()
        except (OSError, KeyError) as exc:
            raise SigningKeyError(f"{directory}: cannot read key {entry.get('kid')}: {exc}") from exc
        key = import_private_pem(pem)
        if key.thumbprint() != entry.get("kid") or alg_for(key) != entry.get("alg"):
            raise SigningKeyError(f"{directory}: {entry.get('file')} does not match its kid or alg")
        if entry.get("state") not in STATES:
            raise SigningKeyError(f"{directory}: key {entry['kid']} has unknown state {entry.get('state')!r}")
        keys.append(SigningKey(entry["kid"], entry["alg"], key, entry["state"],
                               int(entry.get("created", 0)), int(entry.get("retire_at", 0))))
    return keys


def _add_key(directory: Path, state: dict[str, Any], alg: str, key_state: str, now: int) -> dict[str, Any]:
    key = generate(alg)
    kid = key.thumbprint()
    path = directory / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.as_pem(private=True))
    entry = {"kid": kid, "alg": alg, "state": key_state, "file": path.name, "created": now, "retire_at": 0}
    state["keys"].append(entry)
    return entry


def init_directory(directory: Path, algs: Iterable[str], now: int, *, dev_only: bool = False) -> list[str]:
    """Create an active key and a published next key for each algorithm that has none; returns new kids."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = read_state(directory)
    if dev_only:
        state["dev_only"] = True
    created = []
    for alg in algs:
        present = {e["state"] for e in state["keys"] if e["alg"] == alg}
        for key_state in ("active", "next"):
            if key_state not in present:
                created.append(_add_key(directory, state, alg, key_state, now)["kid"])
    write_state(directory, state)
    return created


@dataclasses.dataclass(frozen=True)
class Rotation:
    """What ``rotate`` did, for the CLI to report."""

    alg: str
    activated: str
    retired: str | None
    next: str
    pruned: tuple[str, ...]


def rotate(directory: Path, alg: str, now: int, retire_after: int, publish_seconds: int,
           force: bool = False) -> Rotation:
    """Promote the published next key to active, retire the active one, publish a new next key.

    The retired key stays published until ``now + retire_after`` (the longest
    token lifetime). Raises SigningKeyError when the next key was published less
    than ``publish_seconds`` ago, or is missing, unless ``force``.
    """
    state = read_state(directory)
    entries = [e for e in state["keys"] if e["alg"] == alg]
    nxt = next((e for e in entries if e["state"] == "next"), None)
    active = next((e for e in entries if e["state"] == "active"), None)
    if active is not None and not force:
        if nxt is None:
            raise SigningKeyError(f"no published next {alg} key: run `gateway keys init` (or --force)")
        if now - int(nxt["created"]) < publish_seconds:
            raise SigningKeyError(f"the next {alg} key was published {now - int(nxt['created'])} s ago; "
                                  f"wait {publish_seconds} s so relying parties fetch it (or --force)")
    if active is not None:
        active.update(state="retired", retire_at=now + retire_after)
    if nxt is None:
        nxt = _add_key(directory, state, alg, "active", now)
    nxt.update(state="active", activated=now)
    new_next = _add_key(directory, state, alg, "next", now)
    gone = _prune(state, now)
    write_state(directory, state)
    pruned = _unlink(directory, gone)
    return Rotation(alg, nxt["kid"], active["kid"] if active else None, new_next["kid"], tuple(pruned))


def _prune(state: dict[str, Any], now: int) -> list[dict[str, Any]]:
    """Drop expired retired keys from ``state``; their files go once ``state`` is written (see callers)."""
    gone = [e for e in state["keys"] if e["state"] == "retired" and int(e.get("retire_at", 0)) <= now]
    for entry in gone:
        state["keys"].remove(entry)
    return gone


def _unlink(directory: Path, entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Remove the files of pruned keys, after the state that no longer names them was written, so a
    node reading the previous state finds them for as long as possible."""
    for entry in entries:
        (directory / entry["file"]).unlink(missing_ok=True)
    return [e["kid"] for e in entries]


def prune(directory: Path, now: int) -> list[str]:
    """Forget retired keys whose last token has expired; returns their kids."""
    state = read_state(directory)
    gone = _prune(state, now)
    if gone:
        write_state(directory, state)
    return _unlink(directory, gone)


class KeyStore:
    """The current :class:`Keys` of one process, reloaded when ``keyset.json`` changes.

    Raises SigningKeyError at start when the folder is unreadable or no key can sign.
    """

    def __init__(self, directory: Path | None, static_pem: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.static = static_keys(static_pem)
        self.clock = clock
        self._lock = threading.Lock()
        self._stamp: Stamp | None = None
        self._checked = 0.0
        self._keys = self._load()
        if not self._keys.algorithms():
            raise SigningKeyError("no signing key: set oidc.keys_dir (then `gateway keys init`) "
                                  "or oidc.signing_keys")

    def _version(self) -> Stamp | None:
        if self.directory is None:
            return None
        try:
            stat = (self.directory / STATE_FILE).stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _load(self) -> Keys:
        stamp = self._version()
        managed = load_directory(self.directory) if self.directory is not None else []
        self._stamp = stamp  # only once loaded: a failed reload is tried again
        return Keys([*managed, *self.static])

    def current(self) -> Keys:
        """The key set, re-read at most every RELOAD_INTERVAL seconds when the state file changed.

        A re-read that fails (a shared folder caught mid-rotation or mid-sync) keeps the
        previous keys, logs one line, and is tried again at the next look; never raises.
        """
        now = time.monotonic()
        if self.directory is not None and now - self._checked >= RELOAD_INTERVAL:
            with self._lock:
                self._checked = now
                if self._version() != self._stamp:
                    try:
                        self._keys = self._load()
                    except SigningKeyError as exc:
                        log.warning("oidc keys: %s; previous keys kept, trying again", exc)
        return self._keys

    def reload(self) -> Keys:
        """Re-read now (tests and the CLI). Raises SigningKeyError."""
        with self._lock:
            self._keys = self._load()
        return self._keys
