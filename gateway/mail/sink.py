"""A development SMTP sink: accepts every mail and prints it readably instead of delivering it.

Point the gateway at it (``mail.server = "127.0.0.1"``, ``mail.port = 8025``,
``mail.security = "none"``) to see the codes and links of the mails it sends.
Never for production: it prints secrets, by design.
"""
from __future__ import annotations

import email.policy
import logging
import socket
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

RULE = "-" * 72


def parse(data: bytes) -> EmailMessage:
    """Raw RFC 5322 bytes -> an :class:`EmailMessage` (modern policy, decoded headers)."""
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def format_message(message: EmailMessage) -> str:
    """To, Subject, Date and the decoded text part, framed by rules."""
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else "(no text part)"
    lines = [RULE]
    for name in ("From", "To", "Subject", "Date"):
        lines.append(f"{name}: {message.get(name, '')}")
    lines += ["", str(text).rstrip(), RULE]
    return "\n".join(lines)


class Handler:
    """aiosmtpd handler: parse each mail and hand it to ``receive``."""

    def __init__(self, receive: Callable[[EmailMessage], None]) -> None:
        self.receive = receive

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.receive(parse(envelope.original_content or envelope.content))
        return "250 Message accepted"


class SmtpServer:
    """An aiosmtpd server in a thread, which can be stopped and started again on the same port.

    It offers SMTPUTF8 (RFC 6531), as production servers do, unless ``smtputf8`` is false;
    ``handler`` replaces the one that hands each mail to ``receive``.
    """

    def __init__(
        self, receive: Callable[[EmailMessage], None], host: str = "127.0.0.1", port: int = 8025, *,
        smtputf8: bool = True, handler: Handler | None = None,
    ) -> None:
        self.handler = handler or Handler(receive)
        self.host = host
        self.port = port
        self.smtputf8 = smtputf8
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen; raises ``OSError`` at once if the address is taken."""
        if self._controller is not None:
            return
        _check_free(self.host, self.port)
        # aiosmtpd logs every command (recipients) and DATA line (codes, links) on "mail.log": keep them out
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        controller = Controller(self.handler, hostname=self.host, port=self.port,
                                server_hostname="mail-sink.invalid", enable_SMTPUTF8=self.smtputf8)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening (connections are refused until :meth:`start`)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _check_free(host: str, port: int) -> None:
    """aiosmtpd only reports a taken port after its start timeout; find out now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family):
        pass
