"""Errors of the OpenID Connect provider.

Protocol errors on the wire are authlib's ``OAuth2Error`` subclasses (each
names its RFC 6749 §5.2 / OIDC Core §3.1.2.6 code); the tree below covers what
the gateway adds::

    OidcError
     +-- SigningKeyError      no usable signing key (configuration or key set)
     +-- ClientConfigError    the clients file cannot be used (lists every problem)
     +-- PendingRequestGone   a resumed authorization request expired or was used
"""
from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error


class OidcError(Exception):
    """Base of the oidc package's own errors."""


class SigningKeyError(OidcError):
    """No key can sign for the algorithm asked, or a key file is unusable."""


class ClientConfigError(OidcError):
    """The clients file is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class PendingRequestGone(OidcError):
    """The authorization request to resume is unknown, expired or already answered."""


class RequestNotSupportedError(OAuth2Error):
    """OIDC Core §6.1: request objects are not supported (checklist OIDC11)."""

    error = "request_not_supported"


class RequestUriNotSupportedError(OAuth2Error):
    """OIDC Core §6.2: ``request_uri`` is not supported (checklist OIDC11)."""

    error = "request_uri_not_supported"
