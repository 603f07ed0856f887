"""Value objects of the provider: the person, the grant, codes and tokens.

Tokens implement authlib's ``TokenMixin`` (its refresh grant and endpoints
read them); all are plain records; :mod:`gateway.oidc.tokens` stores and loads them. A
:class:`Grant` is one *token family*: everything one authorization code led to
(the code, every access and refresh token). Deleting the grant revokes the whole
family at once (code reuse, refresh-token reuse, logout; checklist OIDC06,
OIDC12, SEC05).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin

from ..accounts.models import Account
from ..identity.models import Authentication


@dataclasses.dataclass(frozen=True)
class EndUser:
    """The signed-in person authlib calls ``user``: the account and how it signed in."""

    account: Account
    authentication: Authentication

    def get_user_id(self) -> str:
        return self.account.id


@dataclasses.dataclass(frozen=True)
class Grant:
    """One token family, born with its authorization code."""

    id: str
    client_id: str
    account_id: str
    #: the SSO session it belongs to (Redis-internal; never put in a token)
    session_id: str
    scope: str
    auth_time: int
    amr: tuple[str, ...]
    #: the ``sid`` claim (OIDC Back-Channel Logout §2.1), derived from the SSO session
    sid: str
    #: claim names asked for with the ``claims`` parameter, by target (userinfo, id_token)
    claims: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        # shallow: every other field is a str or an int (dataclasses.asdict deep-copies, field by field)
        record = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        record["amr"] = list(self.amr)
        record["claims"] = {k: list(v) for k, v in self.claims.items()}
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Grant:
        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in record.items() if k in fields}
        data["amr"] = tuple(record.get("amr", ()))
        data["claims"] = {k: tuple(v) for k, v in (record.get("claims") or {}).items()}
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class AuthorizationCode:
    """An authorization code as the token endpoint sees it (already consumed from Redis)."""

    grant: Grant
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str = ""
    code_challenge: str = ""
    code_challenge_method: str = ""
    #: seconds the grant's SSO session has left, read with the code; None when it has ended
    session_ttl: int | None = None
    #: the person, read with the code; None when the account is gone or not active
    user: EndUser | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Token(TokenMixin):  # type: ignore[misc]
    """An access or refresh token, loaded with what the clock and the grant say of it."""

    kind: str  # "access_token" or "refresh_token"
    grant: Grant | None
    client_id: str
    scope: str
    issued_at: int
    expires_at: int
    expired: bool = False
    #: the token itself, kept in memory only (revocation deletes by it)
    value: str = dataclasses.field(default="", repr=False)

    def check_client(self, client: Any) -> bool:
        return bool(client is not None and client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_at - self.issued_at

    def is_expired(self) -> bool:
        return self.expired

    def is_revoked(self) -> bool:
        """Revoked with its family: the grant is gone."""
        return self.grant is None
