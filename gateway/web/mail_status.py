"""What became of the mail a page just sent, as that page says it (``templates/_mail_status.html``).

The code, activation, reset and address-confirmation pages include the partial,
which calls :func:`mail_status` (a template global) with the address the page
names and the kind of mail it waits for; the fate itself is
:mod:`gateway.mail.fate`'s. A code page shows the mail this browser's own code
flow sent (its Message-ID kept with the flow), never another browser's mail to
the same address; the reset page, the newest reset mail to the address this
browser asked a link for.
"""
from __future__ import annotations

import dataclasses
import time
from email.utils import parseaddr

import redis
from flask import Flask

from .. import services
from ..identity.flaskglue import signin
from ..i18n import time_of_day
from ..mail import fate as fates

#: The mail templates each page waits for.
KINDS = {"code": ("signin_code",), "activation": ("activation",), "reset": ("reset",),
         "address": ("verify_email",)}
#: The kinds whose mail is this browser's own code flow's, by the flow's purpose.
OWN_FLOW = {"code": "signin", "activation": "activation", "address": signin.CONFIRMING}


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
    """The status of the ``kind`` mail (a key of :data:`KINDS`) to ``address`` this page waits for: the
    one this browser's code flow sent (:data:`OWN_FLOW`), else the newest to ``address``; None if there
    is none, or Redis cannot say (the page then shows only what it always did).

    Raises KeyError for another kind.
    """
    templates = KINDS[kind]
    if not address:
        return None
    try:
        if kind in OWN_FLOW:
            found = _own_mail(address, kind)
        else:
            found = fates.latest(services.store(), address, templates)
    except redis.RedisError:
        return None
    if found is None or found.template not in templates:
        return None
    return present(found, time.time() if now is None else now)


def _own_mail(address: str, kind: str) -> fates.MailFate | None:
    """The fate of the mail this browser's ``kind`` code flow sent to ``address``. Raises RedisError."""
    message_id = signin.mail_sent_here(OWN_FLOW[kind], address)
    return None if message_id is None else fates.fate(services.store(), message_id)


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
