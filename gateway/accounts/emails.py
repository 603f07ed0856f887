"""Email address normalisation: trim, Unicode NFC, lower-case, IDNA (A-label) domain."""
from __future__ import annotations

import re
import unicodedata

import idna

from .errors import InvalidEmail

_LOCAL_FORBIDDEN = re.compile(r'[\s<>()\[\],;:\\"@\x00-\x1f\x7f]')


def normalize_email(raw: str) -> str:
    """Return the canonical form of an address. Raises InvalidEmail.

    ``"  Jean.Dupont@Université.FR "`` -> ``"jean.dupont@xn--universit-g4a.fr"``.
    Quoted local parts and IP-literal domains are refused: no UNESS user has one.
    """
    if not isinstance(raw, str):
        raise InvalidEmail(str(raw), "not a string")
    text = unicodedata.normalize("NFC", raw.strip()).lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail(raw, "expected name@domain")
    if len(local.encode()) > 64 or _LOCAL_FORBIDDEN.search(local):
        raise InvalidEmail(raw, "invalid name before @")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail(raw, "invalid dots before @")
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidEmail(raw, f"invalid domain: {exc}") from None
    if "." not in ascii_domain or ascii_domain.replace(".", "").isdigit():
        raise InvalidEmail(raw, "the domain needs a dot")
    address = f"{local}@{ascii_domain}"
    if len(address.encode()) > 254:
        raise InvalidEmail(raw, "too long")
    return address


def domain_of(address: str) -> str:
    """The domain part of a normalised address."""
    return address.rpartition("@")[2]


def mask_email(address: str) -> str:
    """The address as shown to someone who may not own it: ``camille.martin@chu-x.fr`` -> ``c***n@chu-x.fr``.

    The domain stays whole and the first and last letters of the name: enough for
    the owner to recognise the address, too little to read it off the page.
    """
    local, _, domain = address.rpartition("@")
    shown = local[0] + "***" + (local[-1] if len(local) > 2 else "")
    return f"{shown}@{domain}"
