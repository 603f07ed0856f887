"""AuthnRequests waiting for the person to sign in, in Redis (never in the cookie).

``/saml/sso`` saves the validated request under a random key and sends the
person to the sign-in pages with ``/saml/sso/resume?key=…`` as the way back;
the key is used once (GETDEL) when the Response is sent, and expires with
``saml.pending_minutes`` otherwise.
"""
from __future__ import annotations

import secrets

from ...store import Store
from .authn_request import SsoRequest

_NAMESPACE = ("saml", "pending")


def save(store: Store, request: SsoRequest, ttl: int) -> str:
    token = secrets.token_urlsafe(32)
    store.put((*_NAMESPACE, token), request.to_record(), ttl=ttl)
    return token


def load(store: Store, token: str) -> SsoRequest | None:
    record = store.get((*_NAMESPACE, token)) if _plausible(token) else None
    return SsoRequest.from_record(record) if record else None


def consume(store: Store, token: str) -> SsoRequest | None:
    """The saved request, deleted atomically: a second resume finds nothing."""
    record = store.take((*_NAMESPACE, token)) if _plausible(token) else None
    return SsoRequest.from_record(record) if record else None


def _plausible(token: str) -> bool:
    return 20 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)
