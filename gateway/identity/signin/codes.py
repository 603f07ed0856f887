"""Where a sign-in code is checked: mailed 6-digit codes for first sign-in (activation) and sign-in.

A code flow belongs to the browser that asked for it (:class:`.context.Flow`, kept
by the glue in that browser's session). Its mailed link opened there signs in with
one click; opened anywhere else (the person's phone, or a victim an attacker mailed
his own link to), the page first shows whose account it opens and the sign-in needs
that page's confirmation. The code itself is checked once, atomically, by
:meth:`gateway.accounts.codes.Codes.check_code` (a limited number of tries).
"""
from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from typing import Any

from ...accounts.codes import InvalidCode, WrongCode
from ...accounts.emails import mask_email
from ...accounts.models import Account
from ...accounts.passwords import password_problems
from ..models import ACTIVATION, CODE
from .context import Collaborators, Facts, Flow, SignedIn, email_hash
from .errors import AccountUnavailable, LinkFromElsewhere, PasswordRejected
from .limits import limit, mail_limits
from .password import known_device, signed_in

SUPPORT = "support"  # a code flow's data: the operator who gave its code by phone


@dataclasses.dataclass(frozen=True)
class EndedLink:
    """A mailed code or link that no longer works (spent, replaced, expired), as its page explains it.

    ``kind``: "activated" (an activation whose account is active now: on to the password),
    "ended" (a new code or link can be mailed to ``address``), "unknown" (nothing known of it
    any more, or its account can no longer sign in: back to the address step).
    """

    kind: str
    purpose: str
    account: Account | None = None
    address: str = ""

    @property
    def shown_as(self) -> str:
        """The address as the page shows it (masked: whoever opens the link may not own it)."""
        return mask_email(self.address) if self.address else ""


def ended_link(c: Collaborators, purpose: str, flow: str) -> EndedLink | None:
    """None while the code flow is open; else what the page of its link (or its waiting tab) says.

    Reads only (mail scanners open links): nothing is spent or sent.
    """
    if c.codes.code_data(purpose, flow) is not None:
        return None
    return ended_from_trace(c, purpose, c.codes.flow_trace(purpose, flow))


def ended_from_trace(c: Collaborators, purpose: str, trace: Mapping[str, Any] | None) -> EndedLink:
    """The :class:`EndedLink` of a link or flow whose data was ``trace`` (None: nothing known)."""
    account = c.directory.get(str(trace["account"])) if trace else None
    address = str(trace.get("email", "")) if trace else ""
    if account is None or account.status == "disabled" or address not in account.addresses:
        return EndedLink("unknown", purpose)
    kind = "activated" if purpose == "activation" and account.is_active else "ended"
    return EndedLink(kind, purpose, account, address)


def code_sent(facts: Facts, purpose: str) -> bool:
    """Whether this browser asked for a ``purpose`` code for the address chosen at the address step."""
    flow, chosen = facts.flow, facts.pending
    return flow is not None and chosen is not None and flow.purpose == purpose and flow.email == chosen.email


def still_valid_since(c: Collaborators, facts: Facts, purpose: str) -> float | None:
    """When the code this browser asked for (``purpose``, for the address chosen) was mailed, while
    that code still works; None otherwise (what a refusal to mail another one can still offer)."""
    if not code_sent(facts, purpose):
        return None
    data = c.codes.code_data(purpose, facts.flow.id)  # type: ignore[union-attr]
    return float(data["sent"]) if data and "sent" in data else None


def asked_here(facts: Facts, purpose: str, flow: str) -> bool:
    """Whether ``flow`` is the code flow this browser asked for."""
    mine = facts.flow
    if mine is None or not flow or mine.purpose != purpose:
        return False
    return hmac.compare_digest(mine.id.encode(), flow.encode())


def link_elsewhere(c: Collaborators, facts: Facts, purpose: str, flow: str) -> str | None:
    """Whose account the still-open ``flow`` opens (a masked address), when another browser asked for it.

    None in the browser that asked, and for a closed flow (nothing to open).
    """
    if asked_here(facts, purpose, flow):
        return None
    data = c.codes.code_data(purpose, flow)
    return None if data is None else mask_email(str(data["email"]))


def _confirmed_here(c: Collaborators, facts: Facts, purpose: str, flow: str, confirmed: bool) -> None:
    """Raises LinkFromElsewhere for another browser's flow the person has not confirmed."""
    shown_as = None if confirmed else link_elsewhere(c, facts, purpose, flow)
    if shown_as is not None:
        raise LinkFromElsewhere(shown_as)


def give_code(c: Collaborators, account: Account, address: str, minutes: int, operator: str,
              **audited: str) -> tuple[str, str]:
    """A code support reads out by phone for ``address`` of ``account``: (purpose, code).

    The same code flow as a mailed one (activation for an account not yet active, else
    sign-in), voiding the previous one; it works ``minutes``, once, on the code step of a
    browser that typed ``address`` (:func:`support_flow`). Audited with ``operator``
    (``support.code_given``, with the fields ``audited``). Raises AccountUnavailable (a disabled
    account, or not its address).
    """
    if account.status == "disabled" or address not in account.addresses:
        raise AccountUnavailable()
    purpose = ACTIVATION if account.status == "provisioned" else "signin"
    _flow, code = c.codes.start_code(purpose, account.id, minutes * 60, c.code_settings.signin_code_attempts,
                                     {"account": account.id, "email": address, SUPPORT: operator})
    c.audit("support.code_given", account=account.id, email_hash=email_hash(address), purpose=purpose,
            operator=operator, **audited)
    return purpose, code


def support_flow(c: Collaborators, facts: Facts) -> Flow | None:
    """The open code flow support started for the address this browser typed at the address step, if any.

    Only for that very address: a code given for one address does nothing for another.
    """
    chosen = facts.pending
    if chosen is None:
        return None
    for purpose in (ACTIVATION, "signin"):
        flow = c.codes.latest_flow(purpose, chosen.account_id)
        data = c.codes.code_data(purpose, flow) if flow else None
        if flow and data is not None and data.get(SUPPORT) and data.get("email") == chosen.email:
            return Flow(purpose, flow, chosen.email)
    return None


def send_code(c: Collaborators, facts: Facts, purpose: str, account: Account, address: str) -> Flow:
    """Mail a new 6-digit code (and a link that fills it in); the account's previous one is void,
    whichever browser asked for it. The flow returned is this browser's to keep.

    ``purpose`` is activation or signin. Raises TooManyAttempts.
    """
    mail_limits(c, facts, address, account.id)
    settings = c.code_settings
    minutes = settings.activation_minutes if purpose == "activation" else settings.signin_code_minutes
    flow, code = c.codes.start_code(purpose, account.id, minutes * 60, settings.signin_code_attempts,
                                    {"account": account.id, "email": address, "sent": c.clock()})
    template = "activation" if purpose == "activation" else "signin_code"
    message_id = c.mail(template, address, facts.lang, code=code, link=c.links.code(purpose, flow, code),
                        minutes=minutes, expires_at=c.clock() + minutes * 60)  # not sent after it ends
    c.audit(f"{'activation' if purpose == 'activation' else 'code'}.sent", account=account.id,
            email_hash=email_hash(address), ip=facts.client, message_id=message_id)
    return Flow(purpose, flow, address, message_id or "")


def redeem(c: Collaborators, facts: Facts, purpose: str, flow: str, code: str) -> tuple[Account, str]:
    """Spend the code (checked once). Raises WrongCode, InvalidCode (audited: code.failed,
    activation.failed), AccountUnavailable."""
    try:
        data = c.codes.check_code(purpose, flow, code)
    except InvalidCode as exc:
        tried = exc.data.get("account") if isinstance(exc, WrongCode) else None
        c.audit("activation.failed" if purpose == "activation" else "code.failed",
                **({"account": tried} if tried else {}), ip=facts.client)
        raise
    account = c.directory.get(data["account"])
    if account is None or account.status == "disabled" or data["email"] not in account.addresses:
        raise AccountUnavailable()
    return account, data["email"]


def sign_in_with_code(c: Collaborators, facts: Facts, flow: str, code: str, remember: bool,
                      confirmed: bool = False) -> SignedIn:
    """The mailed code proves the address: mark it verified and sign in.

    ``confirmed``: the person saw whose account a flow of another browser opens.
    Raises TooManyAttempts, LinkFromElsewhere, WrongCode, InvalidCode, AccountUnavailable.
    """
    limit(c, facts, "code_per_client")
    _confirmed_here(c, facts, "signin", flow, confirmed)
    account, address = redeem(c, facts, "signin", flow, code)
    if account.status != "active":
        raise AccountUnavailable()
    account = c.directory.verify_email(account.id, address)
    c.throttle.succeeded(account.id, facts.client, known_device(c, facts, account.id))
    return signed_in(c, facts, account, (CODE,), remember, address)


def activate(c: Collaborators, facts: Facts, flow: str, code: str, password: str, remember: bool,
             confirmed: bool = False) -> SignedIn:
    """First sign-in: the code proves the address, the password is set, the account active.

    The password is checked before the code is spent; ``confirmed`` as for
    :func:`sign_in_with_code`. Raises TooManyAttempts, LinkFromElsewhere, PasswordRejected,
    WrongCode, InvalidCode, AccountUnavailable.
    """
    limit(c, facts, "code_per_client")
    data = c.codes.code_data("activation", flow)
    if data is None:
        c.audit("activation.failed", ip=facts.client)
        raise InvalidCode("unknown or expired activation")
    _confirmed_here(c, facts, "activation", flow, confirmed)
    account = c.directory.get(data["account"])
    if account is None:
        raise AccountUnavailable()
    problems = password_problems(password, account.addresses)
    if problems:
        raise PasswordRejected(problems)
    account, address = redeem(c, facts, "activation", flow, code)
    c.directory.set_password_hash(account.id, c.passwords.hash(password))
    account = c.directory.verify_email(account.id, address)
    c.audit("activation.completed", account=account.id, ip=facts.client)
    return signed_in(c, facts, account, (ACTIVATION,), remember, address)
