"""Forgotten and changed passwords: the reset link, the change on "Mes informations", storing it.

A reset link is stored hashed, works once, and dies when the password changes
(its record carries a fingerprint of the password hash it was sent for). Storing a
new password ends every other session of the account, voids outstanding reset
links and mails the person.
"""
from __future__ import annotations

import hashlib

from ...accounts.codes import InvalidCode
from ...accounts.models import Account
from ...accounts.passwords import password_problems
from ..models import RESET
from .codes import EndedLink, ended_from_trace
from .context import Collaborators, Facts, SignedIn, email_hash
from .errors import PasswordRejected, WrongPassword
from .limits import mail_limits
from .password import signed_in, try_password


RESET_LINK = "reset"  # the link purpose (gateway.accounts.codes)


def _password_fingerprint(account: Account) -> str:
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


def send_reset(c: Collaborators, facts: Facts, account: Account, address: str) -> None:
    """Mail a reset link (the previous one is void). Raises TooManyAttempts."""
    mail_limits(c, facts, address, account.id)
    minutes = c.code_settings.reset_minutes
    token = c.codes.issue_link(RESET_LINK, account.id, minutes * 60,
                               {"email": address, "pw": _password_fingerprint(account), "sent": c.clock()})
    message_id = c.mail("reset", address, facts.lang, link=c.links.reset(token), minutes=minutes,
                        expires_at=c.clock() + minutes * 60)
    c.audit("reset.sent", account=account.id, email_hash=email_hash(address), ip=facts.client,
            message_id=message_id)


def link_still_valid_since(c: Collaborators, account: Account, address: str) -> float | None:
    """When the account's outstanding reset link was mailed to ``address``, while it still works
    (what a refusal to mail another one can still offer); None otherwise."""
    data = c.codes.latest_link(RESET_LINK, account.id)
    if not data or data.get("email") != address or data.get("pw") != _password_fingerprint(account):
        return None
    return float(data["sent"]) if "sent" in data else None


def reset_target(c: Collaborators, token: str) -> Account | None:
    """The account a reset link is for, without spending it (mail scanners open links)."""
    data = c.codes.peek_link(RESET_LINK, token)
    if data is None:
        return None
    account = c.directory.get(data["account"])
    if account is None or account.status == "disabled" or data["pw"] != _password_fingerprint(account):
        return None
    return account


def ended_reset(c: Collaborators, token: str) -> EndedLink | None:
    """None while the reset link works; else what its page says (nothing is spent or sent)."""
    if reset_target(c, token) is not None:
        return None
    return ended_from_trace(c, RESET_LINK, c.codes.link_trace(RESET_LINK, token))


def reset_password(c: Collaborators, facts: Facts, token: str, password: str, remember: bool) -> SignedIn:
    """Spend the link, set the password (every other session ends), and sign in.

    Raises InvalidCode (used, expired, replaced, or the password changed since), PasswordRejected.
    """
    account = reset_target(c, token)
    if account is None:
        raise InvalidCode("unknown, used or expired link")
    problems = password_problems(password, account.addresses)
    if problems:
        raise PasswordRejected(problems)
    data = c.codes.redeem_link(RESET_LINK, token)
    if data["pw"] != _password_fingerprint(account):
        raise InvalidCode("the password changed since the link was sent")
    account = set_password(c, facts, account, password, method_email=data["email"])
    proven = signed_in(c, facts, account, (RESET,), remember, data["email"])
    c.audit("reset.completed", account=account.id, ip=facts.client)
    return proven


def change_password(c: Collaborators, facts: Facts, account: Account, current: str, new: str) -> Account:
    """The current password first (wrong tries count like at sign-in), then the policy, then store it.

    Raises TooManyAttempts, WrongPassword, PasswordRejected.
    """
    if not try_password(c, facts, account, current, step="account.password"):
        raise WrongPassword()
    problems = password_problems(new, account.addresses)
    if problems:
        raise PasswordRejected(problems)
    return set_password(c, facts, account, new)


def set_password(c: Collaborators, facts: Facts, account: Account, password: str,
                 method_email: str | None = None) -> Account:
    """Store a new password: every session but this browser's ends, outstanding reset links die, a mail
    tells the person. ``method_email``: an address the change proved (a reset link), marked verified."""
    account = c.directory.set_password_hash(account.id, c.passwords.hash(password))
    if method_email:
        account = c.directory.verify_email(account.id, method_email)
    c.codes.void_links(RESET_LINK, account.id)
    c.end_sessions(account.id, facts.session_id, "password.changed")
    message_id = c.mail("password_changed", account.primary_email, facts.lang, link=c.links.forgot())
    c.audit("password.changed", account=account.id, ip=facts.client, message_id=message_id)
    return account
