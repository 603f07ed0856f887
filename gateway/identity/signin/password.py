"""Step 2, the password: one try under growing delays, and the proven sign-in it yields.

Delays per account and client, or per (known device, account) for a browser whose
device cookie names the account (OWASP device cookies, see :mod:`..throttle`).
"""
from __future__ import annotations

from ...accounts.models import Account
from ..models import PASSWORD
from .context import Collaborators, Facts, SignedIn
from .errors import WrongPassword
from .limits import limit, refuse


def check_password(c: Collaborators, facts: Facts, account: Account, address: str, password: str,
                   remember: bool) -> SignedIn:
    """Verify the password (rehashing it when the parameters changed). Raises TooManyAttempts, WrongPassword."""
    if not try_password(c, facts, account, password):
        raise WrongPassword()
    if c.passwords.needs_rehash(account.password_hash):
        c.directory.set_password_hash(account.id, c.passwords.hash(password))
    return signed_in(c, facts, account, (PASSWORD,), remember, address)


def try_password(c: Collaborators, facts: Facts, account: Account, password: str, **audited: str) -> bool:
    """One password try under the growing delays: whether it is right (and the account active).

    A browser with a known-device cookie for the account is judged by its own counter.
    Raises TooManyAttempts before anything is checked while delayed. ``audited``: more
    fields for the ``login.failed`` line.
    """
    device = known_device(c, facts, account.id)
    verdict = c.throttle.check(account.id, facts.client, device)
    if verdict.wait:
        refuse(c, facts, verdict.rule, verdict.wait, account.id)
    limit(c, facts, "password_per_client", account_id=account.id)
    if not c.passwords.verify(account.password_hash, password) or account.status != "active":
        c.throttle.failed(account.id, facts.client, device)
        c.audit("login.failed", account=account.id, ip=facts.client, known_device=device is not None, **audited)
        return False
    c.throttle.succeeded(account.id, facts.client, device, known_clean=verdict.clean)
    return True


def known_device(c: Collaborators, facts: Facts, account_id: str) -> str | None:
    """This browser's device id if its known-device cookie names the account, else None."""
    return c.devices.device_for(facts.device_cookie, account_id)


def signed_in(c: Collaborators, facts: Facts, account: Account, methods: tuple[str, ...], remember: bool,
              address: str) -> SignedIn:
    """The proven sign-in (audited ``login.succeeded``), with the device cookie that now names the account."""
    cookie = c.devices.remember(facts.device_cookie, account.id)
    c.audit("login.succeeded", account=account.id, methods=list(methods), remember=remember, ip=facts.client)
    return SignedIn(account.id, methods, remember, address, cookie)
