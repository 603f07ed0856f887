"""Fixtures for the sign-in pages: accounts, a mailbox read from the real SMTP server, form helpers."""
from __future__ import annotations

import copy
import logging
import re
from email.message import EmailMessage

import pytest

from gateway.accounts.models import Account, Email
from tests.fixtures_mail import run_mail_worker

PASSWORD = "correct horse battery staple"


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


@pytest.fixture
def make_user(directory, app):
    passwords = app.extensions["gateway.passwords"]

    def make(*addresses: str, status: str = "active", password: str | None = PASSWORD, verified: bool = True,
             account_id: str | None = None, **fields) -> Account:
        account = Account(
            id=account_id or addresses[0].split("@")[0].replace(".", "-"),
            emails=tuple(Email(a, verified) for a in addresses),
            status=status,
            password_hash=passwords.hash(password) if password and status != "provisioned" else "",
            **fields,
        )
        return directory.create(account)

    return make


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class Browser:
    """Drives the pages like a person: GET the form, POST it with its CSRF token."""

    def __init__(self, client) -> None:
        self.client = client

    def submit(self, path: str, data: dict | None = None, form_page: str | None = None, **kw):
        token = csrf(self.client, form_page or path)
        return self.client.post(path, data={"csrf_token": token, **(data or {})}, **kw)

    def login(self, email: str, password: str = PASSWORD, remember: bool = False):
        self.submit("/login", {"email": email})
        data = {"password": password}
        if remember:
            data["remember"] = "y"
        return self.submit("/login/password", data)

    def signed_in(self) -> bool:
        return self.client.get("/account").status_code == 200


@pytest.fixture
def browser(client):
    return Browser(client)
