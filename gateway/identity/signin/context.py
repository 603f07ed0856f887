"""What every sign-in rule receives: its collaborators, and the facts of the request, as values.

:class:`Collaborators` is built once per request by the Flask glue
(:mod:`gateway.identity.flaskglue.signin`) from the app's services, or by a test from
real ones over Redis; :class:`Facts` carries what the rules need to know about the
browser (client address, user agent, known-device cookie, language, the pending
sign-in chosen at the address step, the code flow it asked for, the address it is
adding on "Mes informations", its signed-in session). The rules never read a request or a session themselves.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from ...accounts.codes import Codes
from ...accounts.directory import Directory
from ...accounts.models import Account
from ...accounts.passwords import Passwords
from ...config import CodeSettings
from ..devices import KnownDevices
from ..ratelimits import RateLimits
from ..sessions import SessionStore
from ..throttle import Throttle


@dataclasses.dataclass(frozen=True)
class Pending:
    """The account chosen at the address step, and the address typed."""

    account_id: str
    email: str


@dataclasses.dataclass(frozen=True)
class Flow:
    """A code flow this browser asked for: ``purpose`` (activation, signin), its id, the address mailed,
    and the Message-ID of its mail (empty when none was sent: a code support read out)."""

    purpose: str
    id: str
    email: str
    message_id: str = ""


@dataclasses.dataclass(frozen=True)
class Facts:
    """The request, as the rules see it."""

    client: str
    user_agent: str = ""
    device_cookie: str | None = None
    lang: str = "fr"
    pending: Pending | None = None
    flow: Flow | None = None
    #: This browser's signed-in SSO session id, if any (kept when the password changes).
    session_id: str | None = None
    #: The address this browser is adding on "Mes informations" (purpose verify_email), its code flow.
    confirming: Flow | None = None


class Links(Protocol):
    """Absolute URLs of the mailed links, from the configured public URL (never the Host header)."""

    def code(self, purpose: str, flow: str, code: str) -> str: ...

    def reset(self, token: str) -> str: ...

    def address(self, flow: str, code: str) -> str: ...

    def forgot(self) -> str: ...


#: ``send_mail(template, to, lang, expires_at=None, **context)``: queue one mail.
Mailer = Callable[..., Any]
#: ``audit(event, **fields)``: one security log line (gateway.logs.audit).
Audit = Callable[..., None]


class EndSessions(Protocol):
    """End the account's sessions but ``except_sid`` (all, or only ``only_sid``); how many ended."""

    def __call__(self, account_id: str, except_sid: str | None, reason: str,
                 only_sid: str | None = None) -> int: ...


@dataclasses.dataclass(frozen=True)
class Collaborators:
    """The services the rules use; each a real one (Redis), passed in rather than looked up."""

    directory: Directory
    passwords: Passwords
    codes: Codes
    throttle: Throttle
    ratelimits: RateLimits
    devices: KnownDevices
    code_settings: CodeSettings
    mail: Mailer
    links: Links
    audit: Audit
    end_sessions: EndSessions
    #: Every live session of an account (read only: ending goes through ``end_sessions``).
    sessions: SessionStore
    #: The app's secret key, for the keyed references naming sessions on the account page.
    secret_key: str
    clock: Callable[[], float] = time.time


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """A proven sign-in, for the glue to start the SSO session with (under a new id)."""

    account_id: str
    methods: tuple[str, ...]
    remember: bool
    #: The address used (the "last address" cookie).
    address: str
    #: The known-device cookie's new value, naming the account.
    device_cookie: str
    #: The account, when the proof ended by checking in Redis that it is still active (the password
    #: step); None: the session's start reads it again.
    account: Account | None = None


def email_hash(address: str) -> str:
    """Audit logs name addresses by a short hash, never in clear."""
    return hashlib.sha256(address.encode()).hexdigest()[:16]
