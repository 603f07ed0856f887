"""What became of the mail a page just sent, as that page says it (``templates/_mail_status.html``).

The code, activation and reset pages include the partial, which calls
:func:`mail_status` (a template global) with the address the page names and
the kind of mail it waits for; the fate itself is :mod:`gateway.mail.fate`'s.
"""
from __future__ import annotations

import dataclasses
import time
from email.utils import parseaddr

import redis
from flask import Flask

from .. import services
from ..i18n import time_of_day
from ..mail import fate as fates

#: The mail templates each page waits for.
KINDS = {"code": ("signin_code",), "activation": ("activation",), "reset": ("reset",)}


@dataclasses.dataclass(frozen=True)
class MailStatus:
    """A mail's fate, ready for the page: times as "10 h 42" (Europe/Paris), the address masked."""

    state: str
    to: str
    at: str
    next_try: str | None
    #: Why it was refused or failed: the server's reply code and words, or ours.
    reason: str
    #: Accepted a while ago and its code still unused: explain challenge-response filters (Mailinblack).
    filter_hint: bool
    #: The address the gateway sends from (what an establishment is asked to allow).
    sender: str


def mail_status(address: str | None, kind: str, now: float | None = None) -> MailStatus | None:
    """The status of the newest ``kind`` mail (a key of :data:`KINDS`) to ``address``; None if there is
    none, or Redis cannot say (the page then shows only what it always did).

    Raises KeyError for another kind.
    """
    templates = KINDS[kind]
    if not address:
        return None
    try:
        found = fates.latest(services.store(), address, templates)
    except redis.RedisError:
        return None
    return None if found is None else present(found, time.time() if now is None else now)


def present(fate: fates.MailFate, now: float) -> MailStatus:
    """``fate`` as the page shows it at ``now``."""
    hint_after = services.settings().mail.filter_hint_minutes * 60
    return MailStatus(
        state=fate.state, to=fate.to, at=time_of_day(fate.at),
        next_try=time_of_day(fate.next_try) if fate.next_try is not None else None,
        reason=" ".join(filter(None, (str(fate.smtp_code or ""), fate.reason))),
        filter_hint=fate.state == fates.ACCEPTED and now - fate.at >= hint_after,
        sender=parseaddr(services.settings().mail.sender)[1],
    )


def init_app(app: Flask) -> None:
    """Make :func:`mail_status` a template global."""
    app.jinja_env.globals["mail_status"] = mail_status
