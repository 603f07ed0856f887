"""The mail job: deliver one queued message through Flask-Mail (run by the job worker).

The worker runs jobs inside the app context. A failure is logged (recipient
domain only, never the body) and re-raised, so rq schedules the next attempt;
the job is done only once SMTP has accepted the message. A message past its
``expires_at`` (a sign-in code that ended) is dropped instead of sent late.

Each mail's fate (``sent``, ``expired``, or ``failed`` once no attempt is left)
is kept for a day under ``gw:mail:fate:<Message-ID>`` (:func:`fate`), so that
the person can be told what became of it.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import time
from types import TracebackType
from typing import Any

import flask_mail
import redis
from flask import current_app
from rq import get_current_job

from .. import services
from ..logs import audit
from ..store import Store
from .render import recipient_domain

log = logging.getLogger("gateway.mail")
#: How long a mail's fate is kept (seconds).
FATE_TTL = 24 * 3600


def deliver(message: dict[str, Any]) -> None:
    """Send ``message`` (built by :func:`gateway.mail.render.build_message`) over SMTP, unless expired.

    Raises what SMTP raised, so that the job is tried again.
    """
    message_id = str(message["headers"]["Message-ID"])
    fields = {"template": message.get("template", ""), "domain": recipient_domain(message["to"]),
              "message_id": message_id}
    if time.time() >= float(message.get("expires_at") or "inf"):
        audit("mail.expired", **fields)
        record_fate(services.store(), message_id, "expired")
        return
    try:
        with SmtpConnection(current_app.extensions["mail"], services.settings().mail.timeout) as connection:
            connection.send(QueuedMessage(message))
    except Exception as exc:
        job = get_current_job()
        will_retry = bool(job and job.retries_left)
        audit("mail.failed", **fields, error=type(exc).__name__, will_retry=will_retry)
        if not will_retry:
            record_fate(services.store(), message_id, "failed")
        raise
    audit("mail.sent", **fields)
    record_fate(services.store(), message_id, "sent")


def _fate_key(message_id: str) -> tuple[str, ...]:
    return ("mail", "fate", message_id.strip("<>"))


def record_fate(store: Store, message_id: str, what: str) -> None:
    """Keep what became of a mail (``sent``, ``expired``, ``failed``) for :data:`FATE_TTL` seconds.

    Never raises: a sent mail must not be sent again because its fate could not be written.
    """
    try:
        store.put(_fate_key(message_id), {"fate": what, "at": int(time.time())}, ttl=FATE_TTL)
    except redis.RedisError as exc:
        log.warning("mail %s: fate %s not recorded: %s", message_id, what, exc)


def fate(store: Store, message_id: str) -> str | None:
    """What became of the mail ``message_id`` (see :func:`record_fate`); None while it waits or if unknown."""
    value = store.get(_fate_key(message_id))
    return None if value is None else str(value["fate"])


class QueuedMessage(flask_mail.Message):
    """A Flask-Mail message (text + HTML) keeping the Date and Message-ID fixed when it was queued."""

    def __init__(self, message: dict[str, Any]) -> None:
        headers = dict(message["headers"])
        self.date_header = str(headers.pop("Date"))
        message_id = str(headers.pop("Message-ID"))
        super().__init__(
            subject=message["subject"], recipients=[message["to"]], sender=message["sender"],
            body=message["text"], html=message["html"], extra_headers=headers,
        )
        self.msgId = message_id

    def _message(self) -> Any:
        msg = super()._message()
        msg.replace_header("Date", self.date_header)
        return msg


class SmtpConnection(flask_mail.Connection):
    """Flask-Mail's connection with a timeout, verified TLS, and a ``QUIT`` that cannot undo a sent mail."""

    def __init__(self, mail: Any, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        state = self.mail
        context = ssl.create_default_context()
        host: smtplib.SMTP
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=self.timeout, context=context)
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=self.timeout)
        try:
            if state.use_tls:
                host.starttls(context=context)
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.host is None:
            return
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):
            self.host.close()  # the mail was accepted (or the error is already raised): no retry for a QUIT
