"""Mail that always arrives: rendered during the request, delivered by a worker.

:func:`send_mail` renders the message in the person's language, puts it on the
job queue ``mail`` (:mod:`gateway.jobs`) and returns its Message-ID at once: a
request never waits on SMTP. The job worker (``gateway mail-worker``) delivers it
through Flask-Mail (:mod:`gateway.mail.delivery`); while SMTP fails it tries again
after each of ``mail.retry_intervals``, and a job that exhausted them stays in
the failed registry for 30 days, until ``gateway jobs retry`` puts it back. A
worker that dies loses nothing: the next one takes over within seconds.

A mail can carry an end (``expires_at``: a sign-in code's own end): past it,
it is not sent late but dropped.

Each mail's fate (queued, accepted, retrying, refused, failed, expired) is
recorded from the moment it is queued, and found by Message-ID or by address
(:mod:`gateway.mail.fate`: :func:`~gateway.mail.fate.recent`,
:func:`~gateway.mail.fate.latest`), so that pages and support can tell the person.

Bodies carry codes and links: they are never logged, a delivered job is
deleted from Redis at once, and jobs are stored as JSON (never pickle).
"""
from __future__ import annotations

import time
from typing import Any

from flask import Flask
from flask_mail import Mail

from .. import jobs, services
from ..config import ConfigError, MailSettings
from ..logs import audit
from . import fate as fates
from .delivery import deliver
from .render import build_message, recipient_domain

__all__ = ["init_app", "send_mail"]

#: A job that exhausted its retries stays this long in the failed job registry (seconds).
FAILED_TTL = 30 * 24 * 3600


def init_app(app: Flask) -> None:
    """Configure Flask-Mail from ``settings.mail``; nothing is contacted yet. Raises ConfigError."""
    settings = services.settings(app)
    problems = [f"mail.retry_intervals: {v} is negative" for v in settings.mail.retry_intervals if v < 0]
    if problems:
        raise ConfigError(problems)
    app.config.update(flask_mail_config(settings.mail))
    Mail(app)


def flask_mail_config(mail: MailSettings) -> dict[str, Any]:
    """The ``MAIL_*`` keys of Flask-Mail. Debug output is off: it would print bodies."""
    return {
        "MAIL_SERVER": mail.server,
        "MAIL_PORT": mail.port,
        "MAIL_USE_TLS": mail.security == "starttls",
        "MAIL_USE_SSL": mail.security == "tls",
        "MAIL_USERNAME": mail.username or None,
        "MAIL_PASSWORD": mail.password or None,
        "MAIL_DEFAULT_SENDER": mail.sender,
        "MAIL_DEBUG": 0,
        "MAIL_SUPPRESS_SEND": False,
    }


def send_mail(template: str, to: str, lang: str, *, expires_at: float | None = None, **context: Any) -> str:
    """Render ``templates/mail/<template>.{txt,html}`` in ``lang`` and queue it for ``to``.

    ``expires_at`` (Unix time): not worth sending after it (a code's end). Returns
    the Message-ID at once; the worker delivers. Its fate (:mod:`gateway.mail.fate`) says
    ``queued`` from now on. Raises ``redis.RedisError`` when Redis cannot be reached
    (nothing was queued).
    """
    settings = services.settings().mail
    message = build_message(template, to, lang, **context)
    message["queued_at"] = now = time.time()
    if expires_at is not None:
        message["expires_at"] = expires_at
    domain = recipient_domain(to)
    message_id = str(message["headers"]["Message-ID"])
    # recorded before the job exists, so that a fast worker's "accepted" is never overwritten by "queued"
    queued = fates.MailFate(message_id, template, fates.masked(to), fates.QUEUED, now, now)
    fates.track(services.store(), to, queued, settings.fate_days)
    jobs.enqueue(
        jobs.MAIL, deliver, message,
        retry_intervals=settings.retry_intervals,
        description=f"mail {template} to *@{domain}",  # rq logs it: never the body or the address
        failure_ttl=FAILED_TTL,
        timeout=int(settings.timeout * 6) + 30,
    )
    audit("mail.queued", template=template, domain=domain, message_id=message_id)
    return message_id
