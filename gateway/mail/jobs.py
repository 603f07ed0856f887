"""The mail job: deliver one queued message through Flask-Mail (run by the mail worker).

The worker runs jobs inside the app context. A failure is logged (recipient
domain only, never the body) and re-raised, so rq schedules the next attempt.
"""
from __future__ import annotations

import smtplib
import ssl
from types import TracebackType
from typing import Any

import flask_mail
from flask import current_app
from rq import get_current_job

from .. import services
from ..logs import audit
from .render import recipient_domain


def deliver(message: dict[str, Any]) -> None:
    """Send ``message`` (built by :func:`gateway.mail.render.build_message`) over SMTP."""
    fields = {
        "template": message.get("template", ""),
        "domain": recipient_domain(message["to"]),
        "message_id": message["headers"]["Message-ID"],
    }
    try:
        with SmtpConnection(current_app.extensions["mail"], services.settings().mail.timeout) as connection:
            connection.send(QueuedMessage(message))
    except Exception as exc:
        job = get_current_job()
        audit("mail.failed", **fields, error=type(exc).__name__, will_retry=bool(job and job.retries_left))
        raise
    audit("mail.sent", **fields)


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
