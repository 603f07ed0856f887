"""What support does for a person: a one-time code read out by phone, lifting delays and limits.

Both are audited with who did it: the operator's name (``operator``), and the
service whose token called the support API (``service``) when it came over HTTP.
"""
from __future__ import annotations

import dataclasses
import time

from .. import services
from ..identity.flaskglue import signin as flask_signin
from ..identity.signin import codes
from ..identity.signin.context import email_hash
from ..logs import audit
from .diagnosis import find_account


@dataclasses.dataclass(frozen=True)
class GivenCode:
    """A code to read out: for ``address``, ``purpose`` activation (a new account) or signin,
    until ``expires_at``."""

    address: str
    purpose: str
    code: str
    expires_at: int


def give_code(raw: str, operator: str, service: str = "") -> GivenCode:
    """A one-time code for the holder of ``raw``, working on the code step of the sign-in page once that
    address is typed (:func:`gateway.identity.signin.codes.give_code`); the code mailed before is void.

    Raises diagnosis.UnknownAddress, identity.signin.errors.AccountUnavailable (a disabled account).
    """
    account, address = find_account(raw)
    minutes = services.settings().support.code_minutes
    purpose, code = codes.give_code(flask_signin.collaborators(), account, address, minutes, operator,
                                    **_by(service))
    return GivenCode(address, purpose, code, int(time.time()) + minutes * 60)


def unblock(raw: str, operator: str, service: str = "") -> int:
    """Lift the growing delays on the account's password tries and the rate limits counted on its
    addresses, whatever the client; how many counters went. Audited ``support.unblocked``.

    Raises diagnosis.UnknownAddress.
    """
    account, address = find_account(raw)
    limits = services.ratelimits()
    lifted = services.throttle().forgive(account.id) + sum(limits.clear(a) for a in account.addresses)
    audit("support.unblocked", account=account.id, email_hash=email_hash(address), operator=operator,
          counters=lifted, **_by(service))
    return lifted


def _by(service: str) -> dict[str, str]:
    """The audit field naming where the action came from: the calling service (support API), or the CLI."""
    return {"service": service} if service else {"source": "cli"}
