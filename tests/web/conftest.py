"""Fixtures for the sign-in pages: the app with real mail, a mailbox read from the real SMTP server.

Accounts (``make_account``), the ``browser`` and ``PASSWORD`` come from tests/conftest.py."""
from __future__ import annotations

import copy
import logging
import re
from email.message import EmailMessage

import pytest

from tests.conftest import Browser
from tests.fixtures_mail import run_mail_worker


@pytest.fixture
def app(mail_app):
    """Every sign-in test uses the app whose mail goes to the real SMTP capture."""
    return mail_app


class Mailbox:
    def __init__(self, app, smtp) -> None:
        self.app = app
        self.smtp = smtp

    def deliver(self) -> None:
        run_mail_worker(self.app)

    def last(self, to: str) -> EmailMessage:
        self.deliver()
        for message in reversed(self.smtp.messages):
            if message["To"] == to:
                return message
        raise AssertionError(f"no mail to {to}; got {[m['To'] for m in self.smtp.messages]}")

    @staticmethod
    def text(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        return part.get_content()

    def to(self, address: str) -> list[EmailMessage]:
        """Every mail delivered to ``address`` so far."""
        self.deliver()
        return [m for m in self.smtp.messages if m["To"] == address]

    def code(self, to: str) -> str:
        return re.search(r"\b(\d{6})\b", self.text(self.last(to))).group(1)

    def link(self, to: str) -> str:
        url = re.search(r"http://127\.0\.0\.1:8000(/\S+)", self.text(self.last(to))).group(1)
        return url


@pytest.fixture
def audit_events():
    """Every audit record written during the test (the audit logger does not propagate)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("gateway.audit")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def build(make_mail_app, mail_config):
    """An app from the fixtures' config with ``overrides`` merged in, one level deep."""

    def make(overrides: dict):
        config = copy.deepcopy(mail_config)
        for name, value in overrides.items():
            if isinstance(value, dict):
                config[name] = {**config.get(name, {}), **value}
            else:
                config[name] = value
        return make_mail_app(config)

    return make


@pytest.fixture
def mailbox(mail_app, smtp):
    return Mailbox(mail_app, smtp)


def link_parts(link: str) -> tuple[str, str]:
    """(flow, code) of a mailed /code/<flow>?code=… or /activate/<flow>?code=… link."""
    found = re.fullmatch(r"/(?:code|activate)/([\w-]+)\?code=(\d{6})", link)
    assert found, link
    return found.group(1), found.group(2)


def ask_sign_in_link(app, mailbox: Mailbox, address: str) -> tuple[Browser, str]:
    """A browser of its own that typed ``address`` and asked for a sign-in code; the link mailed for it."""
    asked = Browser(app.test_client())
    asked.submit("/login", {"email": address})
    asked.submit("/login/code/send", form_page="/login/password")
    return asked, mailbox.link(address)
