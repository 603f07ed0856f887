"""The mail job: deliver one queued message over SMTP (run by the job worker), and record its fate.

The worker runs jobs inside the app context. Each attempt ends in one of the
fates of :mod:`gateway.mail.fate`:

* accepted (250): the job is done; the server's reply is kept;
* refused for good (a 5xx reply to RCPT or DATA, or an internationalised
  address the server cannot take, see below): the job is done too, not tried
  again, and the server's reason is kept for the person and support;
* anything else (4xx, SMTP away, a timeout): logged (recipient domain only,
  never the body) and re-raised, so rq schedules the next attempt (``retrying``,
  with its time) or, after the last one, ``failed``.

A message past its ``expires_at`` (a sign-in code that ended) is dropped
instead of sent late (``expired``).

**Internationalised addresses** (RFC 6531). An address whose local part is not
ASCII (``élodie.bernard@ars.sante.fr``) is sent with ``SMTPUTF8`` when the
server offers it: envelope and headers in UTF-8, the address intact. A server
that does not offer it cannot take such an address at all (RFC 6531 §3.2):
the mail is refused at once, with that reason, rather than tried again for
hours. A domain that is not ASCII alone needs no SMTPUTF8: it is sent as its
IDNA (``xn--``) form.
"""
from __future__ import annotations

import email.policy
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import parseaddr
from types import TracebackType
from typing import Any

import flask_mail
from flask import current_app
from rq import get_current_job

from .. import jobs, services
from ..logs import audit
from . import fate as fates
from .render import recipient_domain


class Undeliverable(Exception):
    """This server can never take this address (an internationalised address without SMTPUTF8)."""


@jobs.job("mail.deliver")
def deliver(message: dict[str, Any]) -> None:
    """Send ``message`` (built by :func:`gateway.mail.render.build_message`) over SMTP, unless expired.

    A refusal for good is recorded and returns. Raises what else SMTP raised, so that the job is tried again.
    """
    fields = {"template": message.get("template", ""), "domain": recipient_domain(message["to"]),
              "message_id": str(message["headers"]["Message-ID"])}
    if time.time() >= float(message.get("expires_at") or "inf"):
        audit("mail.expired", **fields)
        keep(message, fates.EXPIRED)
        return
    try:
        with SmtpConnection(current_app.extensions["mail"], services.settings().mail.timeout) as connection:
            code, reply = connection.transmit(message)
    except Exception as exc:
        code, text = smtp_reply(exc)
        if is_refusal(exc):
            audit("mail.refused", **fields, smtp_code=code or "", error=type(exc).__name__)
            keep(message, fates.REFUSED, smtp_code=code, reason=text)
            return
        next_try = next_attempt()
        audit("mail.failed", **fields, error=type(exc).__name__, will_retry=next_try is not None)
        keep(message, fates.FAILED if next_try is None else fates.RETRYING, smtp_code=code, reason=text,
             next_try=next_try)
        raise
    audit("mail.sent", **fields)
    keep(message, fates.ACCEPTED, smtp_code=code, smtp_reply=reply)


def keep(message: dict[str, Any], state: str, **details: Any) -> None:
    """Record that ``message`` reached ``state`` (see :mod:`gateway.mail.fate`); never raises."""
    now = time.time()
    fates.record(services.store(), fates.MailFate(
        message_id=str(message["headers"]["Message-ID"]), template=str(message.get("template", "")),
        to=fates.masked(message["to"]), state=state, at=now, queued_at=float(message.get("queued_at") or now),
        **details), services.settings().mail.fate_days)


def is_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` refuses the mail for good: a 5xx to RCPT (every recipient) or DATA, or Undeliverable.

    A 5xx to MAIL FROM is the gateway's own sender being refused: tried again (operators see it).
    """
    if isinstance(exc, Undeliverable):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(int(code) >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500


def smtp_reply(exc: BaseException) -> tuple[int | None, str]:
    """The server's reply code and text carried by ``exc`` (addresses masked), or the error's class name."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
        return int(code), fates.clean_text(text)
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code), fates.clean_text(exc.smtp_error)
    if isinstance(exc, Undeliverable):
        return None, fates.clean_text(str(exc))
    return None, type(exc).__name__


def next_attempt() -> float | None:
    """When rq will try the running job again (as rq's ``Job.get_retry_interval``); None after the last try."""
    job = get_current_job()
    if job is None or not job.retries_left:
        return None
    intervals = list(job.retry_intervals or [0])
    return time.time() + intervals[max(len(intervals) - job.retries_left, 0)]


def envelope_address(address: str, smtputf8: bool) -> str:
    """``address`` as it can travel: as is when ASCII or with SMTPUTF8; else with an IDNA domain.

    Raises Undeliverable for a non-ASCII local part without SMTPUTF8 (RFC 6531 §3.2), or a domain
    IDNA refuses.
    """
    if address.isascii() or smtputf8:
        return address
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise Undeliverable("the mail server does not offer SMTPUTF8: it cannot take an address "
                            "with accented letters before the @ (RFC 6531)")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise Undeliverable("the address's domain is not a valid internationalised domain name") from None


def build_mime(message: dict[str, Any], to: str, smtputf8: bool) -> bytes:
    """The RFC 5322 bytes of ``message`` (text and HTML alternatives), its Date and Message-ID as queued.

    With ``smtputf8`` the headers are UTF-8 (RFC 6532); otherwise ASCII with encoded words.
    """
    mime = EmailMessage(policy=email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP)
    mime.set_content(message["text"])
    mime.add_alternative(message["html"], subtype="html")  # before the headers: it clears Content-*
    mime["Subject"] = message["subject"]
    mime["From"] = message["sender"]
    mime["To"] = to
    for name, value in message["headers"].items():
        mime[name] = str(value)
    return mime.as_bytes()


class SmtpConnection(flask_mail.Connection):
    """Flask-Mail's connection with a timeout, verified TLS, SMTPUTF8, the server's reply kept,
    and a ``QUIT`` that cannot undo a sent mail."""

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

    def transmit(self, message: dict[str, Any]) -> tuple[int, str]:
        """MAIL, RCPT and DATA for one queued message (as smtplib's ``sendmail``); returns the DATA reply.

        Raises Undeliverable, smtplib's SMTPSenderRefused, SMTPRecipientsRefused, SMTPDataError, and
        what the connection raises.
        """
        host = self.host
        assert host is not None
        host.ehlo_or_helo_if_needed()
        offered = host.has_extn("smtputf8")
        recipient = envelope_address(message["to"], offered)
        sender = envelope_address(parseaddr(message["sender"])[1], offered)
        utf8 = not (recipient + sender).isascii()
        options = ["SMTPUTF8", *(["BODY=8BITMIME"] if host.has_extn("8bitmime") else [])] if utf8 else []
        code, reply = host.mail(sender, options)
        if code != 250:
            self._abandon(code)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = host.rcpt(recipient)
        if code not in (250, 251):
            self._abandon(code)
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        code, reply = host.data(build_mime(message, recipient, utf8))
        if code != 250:
            self._abandon(code)
            raise smtplib.SMTPDataError(code, reply)
        return code, fates.clean_text(reply)

    def _abandon(self, code: int) -> None:
        """After a refusal: RSET, or close on 421 (the server is closing), as smtplib does."""
        assert self.host is not None
        if code == 421:
            self.host.close()
            return
        try:
            self.host.rset()
        except smtplib.SMTPServerDisconnected:
            pass

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.host is None:
            return
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):
            self.host.close()  # the mail was accepted (or the error is already raised): no retry for a QUIT
