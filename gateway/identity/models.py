"""The neutral objects the sign-in pages hand to the protocols."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

#: Authentication methods, as recorded in the session (mapped to SAML AuthnContext and OIDC amr).
PASSWORD, CODE, ACTIVATION, RESET = "pwd", "otp", "activation", "reset"


@dataclasses.dataclass(frozen=True)
class Authentication:
    """Who signed in, when and how; what SAML's AuthnStatement and OIDC's auth_time/amr come from."""

    account_id: str
    auth_time: int
    methods: tuple[str, ...]
    session_id: str
    remember: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any], session_id: str) -> Authentication:
        return cls(
            account_id=record["account"],
            auth_time=int(record["auth_time"]),
            methods=tuple(record.get("methods", ())),
            session_id=session_id,
            remember=bool(record.get("remember")),
        )
