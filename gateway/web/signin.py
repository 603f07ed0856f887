"""The sign-in steps as functions the views call: identify, password, codes, activation, reset.

Each raises a :class:`SignInError` subclass a view can explain on its form;
rate limits and growing delays are applied here, not in the views.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any, cast

from flask import request, session, url_for
from flask_babel import get_locale
from flask_login import login_user, logout_user

from .. import services
from ..accounts.codes import InvalidCode, WrongCode
from ..accounts.emails import mask_email, normalize_email
from ..accounts.models import Account
from ..accounts.passwords import password_problems
from ..identity.current import client_address
from ..identity.logout import session_ended, session_renewed
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


def _limit(rule: str, *identifiers: str) -> None:
    wait = services.ratelimits().hit(rule, *identifiers)
    if wait:
        raise TooManyAttempts(wait)


# -- step 1: the address ----------------------------------------------------------------

def identify(raw: str) -> Identified:
    """Which way the address leads. Raises TooManyAttempts, accounts.errors.InvalidEmail."""
    _limit("address_per_client", client_address())
    address = normalize_email(raw)
    _limit("address_per_address", address)  # normalised: every spelling of an address counts together
    account = services.directory().find_by_email(address)
    if account is None:
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
    client = client_address()
    wait, clean = services.throttle().check(account.id, client)
    if wait:
        raise TooManyAttempts(wait)
    _limit("password_per_client", client)
    passwords = services.passwords()
    if not passwords.verify(account.password_hash, password) or account.status != "active":
        services.throttle().failed(account.id, client)
        audit("login.failed", account=account.id, ip=client)
        raise WrongPassword()
    services.throttle().succeeded(account.id, client, known_clean=clean)
    if passwords.needs_rehash(account.password_hash):
        services.directory().set_password_hash(account.id, passwords.hash(password))
    sign_in(account, (PASSWORD,), remember, address)


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
    _limit("mail_per_client", client_address())
    _limit("mail_per_address", address)
    codes_settings = services.settings().codes
    minutes = codes_settings.activation_minutes if purpose == "activation" else codes_settings.signin_code_minutes
    flow, code = services.codes().start_code(
        purpose, account.id, minutes * 60, codes_settings.signin_code_attempts,
        {"account": account.id, "email": address},
    )
    session["flow"] = {"purpose": purpose, "id": flow, "email": address}
    endpoint = "login.activation_link" if purpose == "activation" else "login.code_link"
    template = "activation" if purpose == "activation" else "signin_code"
    send_mail(template, address, _lang(), code=code, link=absolute(endpoint, flow=flow, code=code), minutes=minutes)
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
    _limit("code_per_client", client_address())
    _confirmed_here("signin", flow, confirmed)
    account, address = _redeem("signin", flow, code)
    if account.status != "active":
        raise AccountUnavailable()
    account = services.directory().verify_email(account.id, address)
    services.throttle().succeeded(account.id, client_address())
    sign_in(account, (CODE,), remember, address)


def activate(flow: str, code: str, password: str, remember: bool, confirmed: bool = False) -> None:
    """First sign-in: the code proves the address, the password is set, the account active.

    The password is checked before the code is spent; ``confirmed`` as for
    :func:`sign_in_with_code`. Raises LinkFromElsewhere, PasswordRejected,
    WrongCode, InvalidCode, AccountUnavailable.
    """
    _limit("code_per_client", client_address())
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
    _limit("mail_per_client", client_address())
    _limit("mail_per_address", address)
    minutes = services.settings().codes.reset_minutes
    token = services.codes().issue_link("reset", account.id, minutes * 60,
                                        {"email": address, "pw": _password_fingerprint(account)})
    send_mail("reset", address, _lang(), link=absolute("reset.form", token=token), minutes=minutes)
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
    end_other_sessions(account.id)
    send_mail("password_changed", account.primary_email, _lang())
    audit("password.changed", account=account.id, ip=client_address())
    return account


def end_other_sessions(account_id: str) -> int:
    """End every session of the account except this browser's; protocol hooks run for each."""
    current = getattr(session, "sid", None)
    ended = services.sessions().end_all(account_id, except_sid=current if session.get("_auth") else None)
    for sid, data in ended:
        session_ended(sid, data)
    return len(ended)


def sign_out() -> list[Any]:
    """End this browser's SSO session everywhere (protocol hooks run), keep nothing.

    Returns what the logout hooks returned (the SAML hook: the single-logout chain's URL, if any).
    """
    data = dict(session)
    sid = getattr(session, "sid", "")
    auth = data.get("_auth")
    services.sessions().delete(sid, data)
    logout_user()
    session.clear()
    if not auth:
        return []
    results = session_ended(sid, data)
    audit("logout", account=auth["account"], ip=client_address())
    return results
