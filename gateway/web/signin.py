"""The sign-in steps as functions the views call: identify, password, codes, activation, reset.

Each raises a :class:`SignInError` subclass a view can explain on its form;
rate limits and growing delays are applied here, not in the views.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from typing import Any, cast

from flask import after_this_request, request, session, url_for
from flask_babel import get_locale
from flask_login import login_user
from werkzeug.wrappers import Response

from .. import services
from ..accounts.codes import InvalidCode, WrongCode
from ..accounts.emails import mask_email, normalize_email
from ..accounts.models import Account
from ..accounts.passwords import password_problems
from ..identity import devices
from ..identity.current import client_address, signed_in_session_id
from ..identity.logout import end_account_sessions, session_renewed
from ..identity.models import ACTIVATION, CODE, PASSWORD, RESET
from ..logs import audit
from ..mail import send_mail
from .users import User

PENDING = "login"  # session key: the account chosen at the address step


class SignInError(Exception):
    """A step refused; the view shows a message."""


class TooManyAttempts(SignInError):
    def __init__(self, wait: int) -> None:
        super().__init__(f"retry in {wait} s")
        self.minutes = max(1, (wait + 59) // 60)


class WrongPassword(SignInError):
    pass


class PasswordRejected(SignInError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(", ".join(problems))
        self.problems = problems


class AccountUnavailable(SignInError):
    """The account was disabled (or vanished) since the address step."""


class LinkFromElsewhere(SignInError):
    """A mailed code used in another browser than the one that asked for it, not yet confirmed.

    Against login CSRF by link (someone mails a victim the link of a code for his
    own account): that browser must first show whose account it opens,
    ``shown_as`` (a masked address), and the person confirm with a button.
    """

    def __init__(self, shown_as: str) -> None:
        super().__init__(f"code asked elsewhere, for {shown_as}")
        self.shown_as = shown_as


@dataclasses.dataclass(frozen=True)
class Identified:
    """What the address step found: ``kind`` is unknown, disabled, activate, verify or password."""

    kind: str
    address: str
    account: Account | None = None


def email_hash(address: str) -> str:
    """Audit logs name addresses by a short hash, never in clear."""
    return hashlib.sha256(address.encode()).hexdigest()[:16]


# -- limits: one home for every refusal ---------------------------------------------------

def refuse(rule: str, wait: int, account_id: str | None = None, address: str | None = None) -> None:
    """Audit a refusal by a limit or a delay (naming the account when known), then raise TooManyAttempts."""
    if account_id is None and address is not None:
        account_id = services.directory().owner_of(address)
    fields: dict[str, Any] = {"rule": rule, "ip": client_address(), "wait": wait}
    if account_id is not None:
        fields["account"] = account_id
    if address is not None:
        fields["email_hash"] = email_hash(address)
    audit("limit.refused", **fields)
    raise TooManyAttempts(wait)


def limit(rule: str, *identifiers: str, account_id: str | None = None, address: str | None = None) -> None:
    """Count one use of ``rule`` for ``identifiers`` and this client. Raises TooManyAttempts (audited)."""
    wait = services.ratelimits().hit(rule, *identifiers, client=client_address())
    if wait:
        refuse(rule, wait, account_id, address)


def mail_limits(address: str, account_id: str) -> None:
    """Before mailing ``address``: per (address, client), per client, then the ceiling per address.

    One client's requests are refused at its own per-(address, client) quota before they
    reach the shared ceiling, so nobody can spend a person's mails. Raises TooManyAttempts.
    """
    limit("mail_per_address_client", address, account_id=account_id, address=address)
    limit("mail_per_client", account_id=account_id, address=address)
    wait = services.ratelimits().hit("mail_per_address", address)
    if wait:
        refuse("mail_per_address", wait, account_id, address)


# -- step 1: the address ----------------------------------------------------------------

def identify(raw: str) -> Identified:
    """Which way the address leads. Raises TooManyAttempts, accounts.errors.InvalidEmail.

    Counted per client (every answer, high enough for a hospital's NAT), per (typed address,
    client), and per client for unknown addresses only (what farming addresses produces).
    """
    limit("address_per_client")
    address = normalize_email(raw)
    limit("address_per_address_client", address, address=address)  # every spelling counts together
    limits = services.ratelimits()
    wait = limits.wait("unknown_per_client", client=client_address())
    if wait:
        refuse("unknown_per_client", wait, address=address)
    account = services.directory().find_by_email(address)
    if account is None:
        limits.hit("unknown_per_client", client=client_address())
        audit("login.unknown_address", email_hash=email_hash(address), ip=client_address())
        return Identified("unknown", address)
    if account.status == "disabled":
        audit("login.disabled", account=account.id, ip=client_address())
        return Identified("disabled", address, account)
    session[PENDING] = {"account": account.id, "email": address}
    if account.status == "provisioned":
        return Identified("activate", address, account)
    email = account.email(address)
    return Identified("password" if email and email.verified else "verify", address, account)


def pending() -> tuple[Account, str] | None:
    """The active or provisioned account chosen at the address step, with the address typed."""
    chosen = session.get(PENDING)
    if not chosen:
        return None
    account = services.directory().get(chosen["account"])
    if account is None or account.status == "disabled" or chosen["email"] not in account.addresses:
        session.pop(PENDING, None)
        return None
    return account, chosen["email"]


def forget_pending() -> None:
    for name in (PENDING, "flow"):
        session.pop(name, None)


# -- step 2: the password ----------------------------------------------------------------

def check_password(account: Account, address: str, password: str, remember: bool) -> None:
    """Verify and sign in. Raises TooManyAttempts (growing delays), WrongPassword."""
    if not try_password(account, password):
        raise WrongPassword()
    passwords = services.passwords()
    if passwords.needs_rehash(account.password_hash):
        services.directory().set_password_hash(account.id, passwords.hash(password))
    sign_in(account, (PASSWORD,), remember, address)


def try_password(account: Account, password: str, **audited: str) -> bool:
    """One password try under the growing delays: whether it is right (and the account active).

    A browser with a known-device cookie for the account is judged by its own counter
    (see identity.throttle). Raises TooManyAttempts before anything is checked while
    delayed. ``audited``: more fields for the ``login.failed`` line.
    """
    client, device = client_address(), known_device(account.id)
    throttle = services.throttle()
    verdict = throttle.check(account.id, client, device)
    if verdict.wait:
        refuse(verdict.rule, verdict.wait, account.id)
    limit("password_per_client", account_id=account.id)
    if not services.passwords().verify(account.password_hash, password) or account.status != "active":
        throttle.failed(account.id, client, device)
        audit("login.failed", account=account.id, ip=client, known_device=device is not None, **audited)
        return False
    throttle.succeeded(account.id, client, device, known_clean=verdict.clean)
    return True


def known_device(account_id: str) -> str | None:
    """This browser's device id if its known-device cookie names the account, else None."""
    return services.devices().device_for(request.cookies.get(devices.COOKIE), account_id)


def _remember_device(account_id: str) -> None:
    """Set the known-device cookie naming the account on this response (OWASP device cookies)."""
    value = services.devices().remember(request.cookies.get(devices.COOKIE), account_id)
    secure = not services.settings().insecure_http

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(devices.COOKIE, value, max_age=devices.MAX_AGE, httponly=True, secure=secure,
                            samesite="Lax")
        return response


def sign_in(account: Account, methods: tuple[str, ...], remember: bool, address: str) -> None:
    """Start the SSO session under a new id (no fixation); ``address`` is the one used."""
    keep = {k: session[k] for k in ("next",) if k in session}
    previous = (session.get("_auth") or {}).get("account")
    old_sid = getattr(session, "sid", "")
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    session.update(keep)
    if previous == account.id:  # signing in again (ForceAuthn, prompt=login): the applications follow
        services.parties().move(old_sid, session.sid)  # type: ignore[attr-defined]
        session_renewed(old_sid, session.sid)  # type: ignore[attr-defined]
    services.sessions().authenticate(
        cast(dict[str, Any], session), account.id, methods, remember=remember, ip=client_address(),
        user_agent=request.headers.get("User-Agent", ""),
    )
    login_user(User(account))
    session["last_email"] = address  # the view sets the "last address" cookie
    _remember_device(account.id)
    audit("login.succeeded", account=account.id, methods=list(methods), remember=remember, ip=client_address())


# -- codes: activation, sign-in code, address verification -----------------------------------
#
# A code flow lives in the session of the browser that asked for it (``session["flow"]``).
# Its mailed link opened there signs in with one click; opened anywhere else (the
# person's phone, or a victim an attacker mailed his own link to), the page first
# shows whose account it opens and the sign-in needs that page's confirmation.

def _lang() -> str:
    return str(get_locale() or "fr")


def absolute(endpoint: str, **values: Any) -> str:
    """An absolute URL from the configured public URL, never from the Host header."""
    return services.settings().public_url.rstrip("/") + url_for(endpoint, **values)


def code_sent(purpose: str) -> bool:
    """Whether this browser asked for a ``purpose`` code for the address chosen at the address step."""
    flow, chosen = session.get("flow") or {}, session.get(PENDING) or {}
    return flow.get("purpose") == purpose and bool(chosen) and flow.get("email") == chosen.get("email")


def asked_here(purpose: str, flow: str) -> bool:
    """Whether ``flow`` is the code flow this browser asked for."""
    mine = session.get("flow") or {}
    same = hmac.compare_digest(str(mine.get("id", "")).encode(), flow.encode())
    return bool(flow) and mine.get("purpose") == purpose and same


def link_elsewhere(purpose: str, flow: str) -> str | None:
    """Whose account the still-open ``flow`` opens (a masked address), when another browser asked for it.

    None in the browser that asked, and for a closed flow (nothing to open).
    """
    if asked_here(purpose, flow):
        return None
    data = services.codes().code_data(purpose, flow)
    return None if data is None else mask_email(str(data["email"]))


def _confirmed_here(purpose: str, flow: str, confirmed: bool) -> None:
    """Raises LinkFromElsewhere for another browser's flow the person has not confirmed."""
    shown_as = None if confirmed else link_elsewhere(purpose, flow)
    if shown_as is not None:
        raise LinkFromElsewhere(shown_as)


def send_code(purpose: str, account: Account, address: str) -> None:
    """Mail a new 6-digit code (and a link that fills it in); the account's previous one is void,
    whichever browser asked for it.

    ``purpose`` is activation or signin. Raises TooManyAttempts.
    """
    mail_limits(address, account.id)
    codes_settings = services.settings().codes
    minutes = codes_settings.activation_minutes if purpose == "activation" else codes_settings.signin_code_minutes
    flow, code = services.codes().start_code(
        purpose, account.id, minutes * 60, codes_settings.signin_code_attempts,
        {"account": account.id, "email": address},
    )
    session["flow"] = {"purpose": purpose, "id": flow, "email": address}
    endpoint = "login.activation_link" if purpose == "activation" else "login.code_link"
    template = "activation" if purpose == "activation" else "signin_code"
    send_mail(template, address, _lang(), code=code, link=absolute(endpoint, flow=flow, code=code),
              minutes=minutes, expires_at=time.time() + minutes * 60)  # not sent late: dropped once the code has ended
    audit(f"{'activation' if purpose == 'activation' else 'code'}.sent", account=account.id,
          email_hash=email_hash(address), ip=client_address())


def _redeem(purpose: str, flow: str, code: str) -> tuple[Account, str]:
    """Spend the code. Raises WrongCode, InvalidCode (audited: code.failed, activation.failed), AccountUnavailable."""
    try:
        data = services.codes().check_code(purpose, flow, code)
    except InvalidCode as exc:
        tried = exc.data.get("account") if isinstance(exc, WrongCode) else None
        audit("activation.failed" if purpose == "activation" else "code.failed",
              **({"account": tried} if tried else {}), ip=client_address())
        raise
    account = services.directory().get(data["account"])
    if account is None or account.status == "disabled" or data["email"] not in account.addresses:
        raise AccountUnavailable()
    return account, data["email"]


def sign_in_with_code(flow: str, code: str, remember: bool, confirmed: bool = False) -> None:
    """The mailed code proves the address: verify it and sign in.

    ``confirmed``: the person saw whose account a flow of another browser opens.
    Raises LinkFromElsewhere, WrongCode, InvalidCode, AccountUnavailable.
    """
    limit("code_per_client")
    _confirmed_here("signin", flow, confirmed)
    account, address = _redeem("signin", flow, code)
    if account.status != "active":
        raise AccountUnavailable()
    account = services.directory().verify_email(account.id, address)
    services.throttle().succeeded(account.id, client_address(), known_device(account.id))
    sign_in(account, (CODE,), remember, address)


def activate(flow: str, code: str, password: str, remember: bool, confirmed: bool = False) -> None:
    """First sign-in: the code proves the address, the password is set, the account active.

    The password is checked before the code is spent; ``confirmed`` as for
    :func:`sign_in_with_code`. Raises LinkFromElsewhere, PasswordRejected,
    WrongCode, InvalidCode, AccountUnavailable.
    """
    limit("code_per_client")
    data = services.codes().code_data("activation", flow)
    if data is None:
        audit("activation.failed", ip=client_address())
        raise InvalidCode("unknown or expired activation")
    _confirmed_here("activation", flow, confirmed)
    account = services.directory().get(data["account"])
    if account is None:
        raise AccountUnavailable()
    problems = password_problems(password, account.addresses)
    if problems:
        raise PasswordRejected(problems)
    account, address = _redeem("activation", flow, code)
    directory = services.directory()
    directory.set_password_hash(account.id, services.passwords().hash(password))
    account = directory.verify_email(account.id, address)
    audit("activation.completed", account=account.id, ip=client_address())
    sign_in(account, (ACTIVATION,), remember, address)


# -- reset link ----------------------------------------------------------------------------

def _password_fingerprint(account: Account) -> str:
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


def send_reset(account: Account, address: str) -> None:
    """Mail a reset link (the previous one is void). Raises TooManyAttempts."""
    mail_limits(address, account.id)
    minutes = services.settings().codes.reset_minutes
    token = services.codes().issue_link("reset", account.id, minutes * 60,
                                        {"email": address, "pw": _password_fingerprint(account)})
    send_mail("reset", address, _lang(), link=absolute("reset.form", token=token), minutes=minutes,
              expires_at=time.time() + minutes * 60)
    audit("reset.sent", account=account.id, email_hash=email_hash(address), ip=client_address())


def reset_target(token: str) -> Account | None:
    """The account a reset link is for, without spending it (mail scanners open links)."""
    data = services.codes().peek_link("reset", token)
    if data is None:
        return None
    account = services.directory().get(data["account"])
    if account is None or account.status == "disabled" or data["pw"] != _password_fingerprint(account):
        return None
    return account


def reset_password(token: str, password: str, remember: bool) -> Account:
    """Spend the link, set the password, end every other session, sign in.

    Raises InvalidCode (used, expired, replaced, or the password changed since), PasswordRejected.
    """
    account = reset_target(token)
    if account is None:
        raise InvalidCode("unknown, used or expired link")
    problems = password_problems(password, account.addresses)
    if problems:
        raise PasswordRejected(problems)
    data = services.codes().redeem_link("reset", token)
    if data["pw"] != _password_fingerprint(account):
        raise InvalidCode("the password changed since the link was sent")
    account = set_password(account, password, method_email=data["email"])
    sign_in(account, (RESET,), remember, data["email"])
    audit("reset.completed", account=account.id, ip=client_address())
    return account


def set_password(account: Account, password: str, method_email: str | None = None) -> Account:
    """Store a new password: every other session ends, outstanding reset links die, a mail tells the person."""
    directory = services.directory()
    account = directory.set_password_hash(account.id, services.passwords().hash(password))
    if method_email:
        account = directory.verify_email(account.id, method_email)
    services.codes().void_links("reset", account.id)
    end_account_sessions(account.id, except_sid=signed_in_session_id(), reason="password.changed")
    send_mail("password_changed", account.primary_email, _lang())
    audit("password.changed", account=account.id, ip=client_address())
    return account
