"""Mail that always arrives: rendered during the request, delivered by a worker.

:func:`send_mail` renders the message in the person's language, puts it on the
rq queue ``mail`` in Redis and returns its Message-ID at once: a request never
waits on SMTP. The mail worker (``gateway mail-worker``) delivers it through
Flask-Mail (:mod:`gateway.mail.jobs`); while SMTP fails it tries again after
each of ``mail.retry_intervals``, and a job that exhausted them stays in rq's
failed job registry until an operator requeues it
(``rq requeue --queue mail --all --serializer json --url <redis url>``).

Bodies carry codes and links: they are never logged, a delivered job is
deleted from Redis at once, and jobs are stored as JSON (never pickle).
"""
from __future__ import annotations

import dataclasses
from typing import Any, cast

import redis
from flask import Flask, current_app
from flask_mail import Mail
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from ..config import ConfigError, MailSettings, Settings
from ..logs import audit
from ..store import connect
from .jobs import deliver
from .render import build_message, recipient_domain

__all__ = ["QUEUE", "MailService", "init_app", "send_mail", "service"]

#: The rq queue the worker listens on.
QUEUE = "mail"
EXTENSION = "gateway.mail"
#: A job that exhausted its retries stays this long in the failed job registry (seconds).
FAILED_TTL = 30 * 24 * 3600


@dataclasses.dataclass
class MailService:
    """What the mail code keeps in ``app.extensions["gateway.mail"]``."""

    settings: MailSettings
    #: A bytes-reply Redis client (rq needs ``decode_responses=False``), lazily connected.
    connection: redis.Redis
    queue: Queue

    def retry(self) -> Retry | None:
        """One more attempt after each of ``retry_intervals`` seconds (none if the list is empty)."""
        intervals = list(self.settings.retry_intervals)
        return Retry(max=len(intervals), interval=intervals) if intervals else None

    def close(self) -> None:
        """Close the pooled Redis connections (tests and the CLI)."""
        self.connection.close()
        self.connection.connection_pool.disconnect()


def init_app(app: Flask) -> None:
    """Configure Flask-Mail from ``settings.mail`` and the ``mail`` queue; nothing is contacted yet."""
    settings = cast(Settings, app.extensions["gateway.settings"])
    problems = [f"mail.retry_intervals: {v} is negative" for v in settings.mail.retry_intervals if v < 0]
    if problems:
        raise ConfigError(problems)
    app.config.update(flask_mail_config(settings.mail))
    Mail(app)
    connection = connect(settings.redis, decode=False)
    queue = Queue(QUEUE, connection=connection, serializer=JSONSerializer)
    app.extensions[EXTENSION] = MailService(settings.mail, connection, queue)


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


def service(app: Flask | None = None) -> MailService:
    """The app's :class:`MailService` (the current app's by default)."""
    target = app if app is not None else current_app
    return cast(MailService, target.extensions[EXTENSION])


def send_mail(template: str, to: str, lang: str, **context: Any) -> str:
    """Render ``templates/mail/<template>.{txt,html}`` in ``lang`` and queue it for ``to``.

    Returns the Message-ID at once; the worker delivers. Raises
    ``redis.RedisError`` when the queue cannot be reached (nothing was queued).
    """
    mail = service()
    message = build_message(template, to, lang, **context)
    domain = recipient_domain(to)
    message_id = str(message["headers"]["Message-ID"])
    mail.queue.enqueue(
        deliver, message,
        retry=mail.retry(),
        description=f"mail {template} to *@{domain}",  # rq logs it: never the body or the address
        result_ttl=0,  # a delivered job (body included) leaves Redis at once
        failure_ttl=FAILED_TTL,
        job_timeout=int(mail.settings.timeout * 6) + 30,
    )
    audit("mail.queued", template=template, domain=domain, message_id=message_id)
    return message_id
