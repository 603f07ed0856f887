"""Client secrets, stored hashed: a salted HMAC-SHA256, compared in constant time (SEC11).

Client secrets are checked at every token request, and they are random, not
chosen by people: ``gateway keys client-secret`` and dynamic registration make
256-bit ones. Guessing such a secret from its hash is as hard as guessing the
secret, whatever the hash costs, so a slow KDF (argon2id, scrypt) buys nothing
and would cost every token request milliseconds of CPU. The stored form is an
HMAC-SHA256 keyed with a random per-secret salt (two clients with the same
secret get different hashes)::

    hmac-sha256$<salt, base64url>$<hash, base64url>

Hashes made before (``scrypt$N$r$p$<salt>$<hash>``, a small scrypt) are still
verified, so existing clients files keep working; a process remembers the
secrets it has verified against such a hash (their SHA-256, never the secret),
so each one costs the scrypt once per worker, not once per request. Re-hash a
client with ``gateway keys client-secret`` to drop the scrypt entirely.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

SCHEME = "hmac-sha256"
_SALT_BYTES = 16
_DIGEST_BYTES = 32
#: The previous scheme, still verified: scrypt with its parameters in the stored form.
SCRYPT = "scrypt"
N, R, P = 2048, 8, 1
_DKLEN = 32
_MAX_N = 1 << 16
#: Verified (stored scrypt hash, SHA-256 of the secret) pairs, per process; bounded.
_SCRYPT_VERIFIED: set[tuple[str, bytes]] = set()
_SCRYPT_VERIFIED_MAX = 1024
_lock = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def hash_secret(secret: str) -> str:
    """The stored form of a client secret (``hmac-sha256$<salt>$<hash>``)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"{SCHEME}${_b64(salt)}${_b64(_mac(salt, secret))}"


def hash_secret_scrypt(secret: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """The previous stored form (scrypt), for tests of backward compatibility."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN)
    return f"{SCRYPT}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def looks_like_hash(stored: str) -> bool:
    """True when ``stored`` has the shape of a hash :func:`verify_secret` reads (either scheme)."""
    try:
        _parse(stored)
    except ValueError:
        return False
    return True


def _parse(stored: str) -> tuple[str, tuple[int, int, int], bytes, bytes]:
    """(scheme, scrypt parameters or zeros, salt, digest). Raises ValueError."""
    parts = stored.split("$")
    if parts[0] == SCHEME and len(parts) == 3:
        salt, digest = _unb64(parts[1]), _unb64(parts[2])
        if len(salt) < _SALT_BYTES or len(digest) != _DIGEST_BYTES:
            raise ValueError("hmac-sha256 salt or hash of the wrong size")
        return SCHEME, (0, 0, 0), salt, digest
    if parts[0] == SCRYPT and len(parts) == 6:
        values = int(parts[1]), int(parts[2]), int(parts[3])
        if not (1 < values[0] <= _MAX_N and values[0] & (values[0] - 1) == 0) or not 0 < values[1] <= 16 \
                or not 0 < values[2] <= 4:
            raise ValueError("scrypt parameters out of range")
        return SCRYPT, values, _unb64(parts[4]), _unb64(parts[5])
    raise ValueError("not a client secret hash")


def verify_secret(stored: str, secret: str) -> bool:
    """Whether ``secret`` matches ``stored`` (either scheme); False for a malformed or empty stored hash."""
    if not stored or not secret:
        return False
    try:
        scheme, (n, r, p), salt, digest = _parse(stored)
    except ValueError:
        return False
    if scheme == SCHEME:
        return hmac.compare_digest(_mac(salt, secret), digest)
    remembered = (stored, hashlib.sha256(secret.encode()).digest())
    if remembered in _SCRYPT_VERIFIED:
        return True
    candidate = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest))
    if not hmac.compare_digest(candidate, digest):
        return False
    with _lock:
        if len(_SCRYPT_VERIFIED) >= _SCRYPT_VERIFIED_MAX:
            _SCRYPT_VERIFIED.clear()
        _SCRYPT_VERIFIED.add(remembered)
    return True


def new_secret() -> str:
    """A fresh client secret (256 random bits)."""
    return secrets.token_urlsafe(32)


def token_digest(value: str) -> str:
    """SHA-256 of a bearer value (code, token), used as its Redis key: the value itself is never stored."""
    return hashlib.sha256(value.encode()).hexdigest()
