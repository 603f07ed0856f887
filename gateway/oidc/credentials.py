"""Client secrets, stored hashed: a fast salted scrypt, compared in constant time (SEC11).

Client secrets are checked at every token request, so argon2id at sign-in
strength is too slow; they are also random (``gateway keys client-secret`` makes
256-bit ones), so a small scrypt (2 MiB, about 5 ms) with a per-secret salt is
plenty. The stored form names its parameters, so they can change later::

    scrypt$2048$8$1$<salt, base64url>$<hash, base64url>
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2048, 8, 1
_DKLEN = 32
_MAX_N = 1 << 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """The stored form of a client secret."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def looks_like_hash(stored: str) -> bool:
    """True when ``stored`` has the shape :func:`hash_secret` produces."""
    try:
        _parse(stored)
    except ValueError:
        return False
    return True


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != SCHEME:
        raise ValueError("not a scrypt hash")
    values = int(n), int(r), int(p)
    if not (1 < values[0] <= _MAX_N and values[0] & (values[0] - 1) == 0) or not 0 < values[1] <= 16 \
            or not 0 < values[2] <= 4:
        raise ValueError("scrypt parameters out of range")
    return (*values, _unb64(salt), _unb64(digest))


def verify_secret(stored: str, secret: str) -> bool:
    """Whether ``secret`` matches ``stored``; False for a malformed or empty stored hash."""
    if not stored or not secret:
        return False
    try:
        n, r, p, salt, digest = _parse(stored)
    except ValueError:
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)


def new_secret() -> str:
    """A fresh client secret (256 random bits)."""
    return secrets.token_urlsafe(32)


def token_digest(value: str) -> str:
    """SHA-256 of a bearer value (code, token), used as its Redis key: the value itself is never stored."""
    return hashlib.sha256(value.encode()).hexdigest()
