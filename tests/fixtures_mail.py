"""Mail fixtures (a real SMTP server capturing mail, the mail worker).

* ``smtp``: an aiosmtpd server on a free loopback port (offering SMTPUTF8);
  ``smtp.messages`` holds what it received as :class:`email.message.EmailMessage`,
  ``smtp.recipients`` the envelope recipients (RCPT TO) of each; ``smtp.stop()`` /
  ``smtp.start()`` simulate SMTP down and back on the same port;
  ``smtp.refuse[address] = "550 5.1.1 …"`` makes it answer RCPT TO that way.
  ``SmtpCapture(port, smtputf8=False)`` is a server that does not offer SMTPUTF8.
* ``mail_config``: ``base_config`` with mail pointed at ``smtp`` (retries after 1 s).
* ``mail_app``: an app built from ``mail_config`` with mail configured;
  ``make_mail_app(config)`` builds more (all closed at teardown).
* ``mail_worker``: ``run()`` delivers what is queued and due, in-process
  (burst mode, scheduler on), and returns whether a job ran.
* ``queue_again_as(app, queue, stored)``: the jobs waiting on ``queue``, queued
  again as an earlier release stored them (their function as the text ``stored``).
"""
from __future__ import annotations

import copy
import signal
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from rq.serializers import JSONSerializer

from gateway import jobs
from gateway.jobs.worker import run_worker
from gateway.mail.sink import Handler, SmtpServer
from tests.conftest import free_port, make_app


class CaptureHandler(Handler):
    """The sink's handler, which also answers RCPT TO as told and keeps the envelope recipients."""

    def __init__(self, capture: SmtpCapture) -> None:
        super().__init__(capture.messages.append)
        self.capture = capture

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.capture.refuse:
            return self.capture.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.capture.recipients.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)


class SmtpCapture:
    """A real SMTP server keeping every message it accepts."""

    host = "127.0.0.1"

    def __init__(self, port: int, *, smtputf8: bool = True) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        #: address -> the reply to its RCPT TO ("550 5.1.1 No such user")
        self.refuse: dict[str, str] = {}
        self._server = SmtpServer(self.messages.append, self.host, port, smtputf8=smtputf8,
                                  handler=CaptureHandler(self))

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    @property
    def overrides(self) -> dict[str, Any]:
        """The ``mail`` settings that point the gateway here."""
        return {"server": self.host, "port": self.port, "security": "none", "timeout": 2.0,
                "retry_intervals": [1, 1, 1]}


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture(free_port())
    capture.start()
    yield capture
    capture.stop()


@pytest.fixture
def mail_config(base_config: dict, smtp: SmtpCapture) -> dict:
    config = copy.deepcopy(base_config)
    config["mail"] = {**config.get("mail", {}), **smtp.overrides}
    return config


@pytest.fixture
def make_mail_app(redis_client) -> Iterator[Callable[[dict], Flask]]:
    """Build apps with mail configured; their job queue Redis connections are closed at teardown."""
    apps: list[Flask] = []

    def build(config: dict) -> Flask:
        app = make_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        jobs.service(app).close()


@pytest.fixture
def mail_app(make_mail_app: Callable[[dict], Flask], mail_config: dict) -> Flask:
    return make_mail_app(mail_config)


def run_mail_worker(app: Flask) -> bool:
    """Deliver what is queued and due, in this process; the signal handlers rq installs are undone."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_worker(app, burst=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def queue_again_as(app: Flask, queue: str, stored: str) -> int:
    """Take every job waiting on ``queue`` and queue its arguments again through plain rq under the function
    text ``stored`` (e.g. ``gateway.saml.backchannel.deliver``), as a release before stable job names did
    (rq stored the function's module path). Returns how many jobs."""
    waiting = jobs.service(app).queue(queue)
    plain = Queue(queue, connection=waiting.connection, serializer=JSONSerializer)
    taken = waiting.jobs
    for job in taken:
        plain.enqueue(stored, *job.args, result_ttl=0, description=job.description)
        job.delete()
    return len(taken)


@pytest.fixture
def mail_worker(mail_app: Flask) -> Callable[[], bool]:
    return lambda: run_mail_worker(mail_app)
