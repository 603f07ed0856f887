"""Step 2, the password: one try under growing delays, and the proven sign-in it yields.

Delays per account and client, or per (known device, account) for a browser whose
device cookie names the account (OWASP device cookies, see :mod:`..throttle`).

The step reads what it needs before the (slow, memory-hard) hash in one round trip
(:func:`attempt`: the pending account and the throttle's counters), and once the hash
matched, checks again in one atomic step that the account is still active with that
hash while clearing its failures and making the caller's writes (the new session, its history
entry: :meth:`~gateway.accounts.directory.Directory.holds_password`): an account disabled or given a
new password during the verify is refused, and nothing of the sign-in is written.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...accounts.directory import Write
from ...accounts.models import Account
from ..models import PASSWORD
from ..throttle import Verdict
from .address import still_pending
from .context import Collaborators, Facts, SignedIn
from .errors import AccountUnavailable, WrongPassword
from .limits import limit, refuse

#: ``then(account, audited)`` of :func:`check_attempt`: the writes to make with its last check.
Then = Callable[[Account, Mapping[str, Any]], Sequence[Write]]
#: How a password sign-in proves itself (the session's methods: SAML AuthnContext, OIDC amr).
METHODS = (PASSWORD,)


@dataclasses.dataclass(frozen=True)
class Attempt:
    """A password try about to be checked: the account, the address typed, this browser's known-device
    id for the account (None without one), the throttle's verdict, and the request's facts it was read
    for (so that the check after the hash does not gather them again)."""

    account: Account
    address: str
    device: str | None
    verdict: Verdict
    facts: Facts


def attempt(c: Collaborators, facts: Facts) -> Attempt | None:
    """The pending sign-in's account and the throttle's verdict for this browser, in one round trip;
    None when nothing is pending or the account no longer is (:func:`.address.pending_account`)."""
    pending = facts.pending
    if pending is None:
        return None
    device = c.devices.device_for(facts.device_cookie, pending.account_id)
    pipe = c.directory.store.redis.pipeline(transaction=False)
    c.directory.queue_get(pipe, pending.account_id)
    judge = c.throttle.queue_check(pipe, pending.account_id, facts.client, device)
    replies = pipe.execute()
    found = still_pending(pending, c.directory.account_of(replies[0]))
    if found is None:
        return None
    return Attempt(found[0], found[1], device, judge(replies), facts)


def check_password(c: Collaborators, facts: Facts, account: Account, address: str, password: str,
                   remember: bool) -> SignedIn:
    """:func:`check_attempt` for ``account`` and the ``address`` typed, its throttle read now."""
    return check_attempt(c, _attempt_now(c, facts, account, address), password, remember)


def _attempt_now(c: Collaborators, facts: Facts, account: Account, address: str) -> Attempt:
    """The attempt on ``account``, this browser's known-device id and the throttle's verdict read now."""
    device = known_device(c, facts, account.id)
    return Attempt(account, address, device, c.throttle.check(account.id, facts.client, device), facts)


def check_attempt(c: Collaborators, tried: Attempt, password: str, remember: bool,
                  then: Then = lambda account, audited: ()) -> SignedIn:
    """Verify the password (rehashing it when the parameters changed), then confirm the account, making
    ``then(account, audited)``'s writes with that last check, in the same atomic step (the glue's session
    under its new id and the history entry of ``login.succeeded``, whose fields ``audited`` are: one
    round trip after the hash).

    Raises TooManyAttempts, WrongPassword, AccountUnavailable (the account was disabled or its
    password changed while the hash was checked: nothing is signed in or written, no failure counted).
    """
    account, facts = tried.account, tried.facts
    if not _verified(c, tried, password):
        raise WrongPassword()
    if c.passwords.needs_rehash(account.password_hash):
        account = c.directory.set_password_hash(account.id, c.passwords.hash(password))
    forget = () if tried.verdict.clean else c.throttle.own_counters(account.id, facts.client, tried.device)
    audited = succeeded(account.id, METHODS, remember, facts)
    writes = [*(("DEL", name) for name in forget), *then(account, audited)]
    if not c.directory.holds_password(account.id, account.password_hash, then=writes):
        raise AccountUnavailable()
    return signed_in(c, facts, account, METHODS, remember, tried.address, confirmed=True)


def try_password(c: Collaborators, facts: Facts, account: Account, password: str, **audited: str) -> bool:
    """One password try under the growing delays: whether it is right (and the account active).

    A browser with a known-device cookie for the account is judged by its own counter.
    Raises TooManyAttempts before anything is checked while delayed. ``audited``: more
    fields for the ``login.failed`` line.
    """
    tried = _attempt_now(c, facts, account, "")
    if not _verified(c, tried, password, **audited):
        return False
    c.throttle.succeeded(account.id, facts.client, tried.device, known_clean=tried.verdict.clean)
    return True


def _verified(c: Collaborators, tried: Attempt, password: str, **audited: str) -> bool:
    """Whether the password is right and the account active; a failure counted and audited. Raises
    TooManyAttempts before anything is checked while delayed."""
    account, verdict, facts = tried.account, tried.verdict, tried.facts
    if verdict.wait:
        refuse(c, facts, verdict.rule, verdict.wait, account.id)
    limit(c, facts, "password_per_client", account_id=account.id)
    if not c.passwords.verify(account.password_hash, password) or account.status != "active":
        c.throttle.failed(account.id, facts.client, tried.device)
        c.audit("login.failed", account=account.id, ip=facts.client, known_device=tried.device is not None,
                **audited)
        return False
    return True


def known_device(c: Collaborators, facts: Facts, account_id: str) -> str | None:
    """This browser's device id if its known-device cookie names the account, else None."""
    return c.devices.device_for(facts.device_cookie, account_id)


def signed_in(c: Collaborators, facts: Facts, account: Account, methods: tuple[str, ...], remember: bool,
              address: str, *, confirmed: bool = False) -> SignedIn:
    """The proven sign-in (audited ``login.succeeded``), with the device cookie that now names the account.

    ``confirmed``: ``account`` was just checked active in Redis, so the session starts without reading
    it again.
    """
    cookie = c.devices.remember(facts.device_cookie, account.id)
    c.audit("login.succeeded", **succeeded(account.id, methods, remember, facts))
    return SignedIn(account.id, methods, remember, address, cookie, account if confirmed else None)


def succeeded(account_id: str, methods: tuple[str, ...], remember: bool, facts: Facts) -> dict[str, Any]:
    """The fields of a sign-in's ``login.succeeded`` audit line."""
    return {"account": account_id, "methods": list(methods), "remember": remember, "ip": facts.client}
