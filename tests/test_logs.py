"""Logs: no secret in any line of a whole sign-in; an audit line for each event; Redact scrubs what slips in.

Records are captured the moment they are emitted, before the production
handlers' Redact filter touches them, so the first test shows the code never
logs a secret at all; the production pipeline (Redact + JsonFormatter) is then
checked on top.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from gateway import logs
from gateway.logs import AUDIT, JsonFormatter, Redact, audit
from tests.conftest import PASSWORD, Browser
from tests.helpers.forms import forms, page_form
from tests.web.conftest import Mailbox

EMAIL = "camille@univ-exemple.fr"
WRONG_PASSWORD = "Tr0mpette-du-matin!"
NEW_PASSWORD = "une toute nouvelle phrase de passe"
ARGON = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
SMTP_SERVER_LOGGER = "mail.log"  # aiosmtpd, behind tests.fixtures_mail.smtp
REQUIRED_EVENTS = {"login.succeeded", "login.failed", "login.unknown_address", "code.sent", "reset.sent",
                   "reset.completed", "logout"}


# -- capture -------------------------------------------------------------------------------------

def everything_in(record: logging.LogRecord) -> str:
    """All a handler could write of the record: message, JSON line, traceback, every attribute."""
    parts = [record.getMessage(), JsonFormatter().format(record)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts.extend(f"{name}={value!r}" for name, value in vars(record).items())
    return "\n".join(parts)


class Capture(logging.Handler):
    """Keeps each record and its full text as emitted (before other handlers' filters run)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SMTP_SERVER_LOGGER):
            return  # the fixture's SMTP server (the receiving mail server): it sees the mail, of course
        self.records.append(record)
        self.texts.append(everything_in(record))


@pytest.fixture
def captured(caplog):
    """Every record of every logger at DEBUG (the gateway's, rq's, werkzeug's...), audit included."""
    capture = Capture()
    loggers = [logging.getLogger(), logging.getLogger("gateway"), logging.getLogger(AUDIT)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.handlers.insert(0, capture)  # first: sees records before the production Redact
        logger.setLevel(logging.DEBUG)
    logging.getLogger(AUDIT).addHandler(caplog.handler)  # the audit logger does not propagate
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="gateway")
    yield capture
    logging.getLogger(AUDIT).removeHandler(caplog.handler)
    for logger, level in zip(loggers, levels):
        logger.removeHandler(capture)
        logger.setLevel(level)


class RecordingClient(FlaskClient):
    """A test client noting every cookie value and CSRF token the gateway hands out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.secrets: set[str] = set()

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        for header in response.headers.getlist("Set-Cookie"):
            value = header.split(";", 1)[0].partition("=")[2]
            if value:
                self.secrets.add(value)
        if response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            self.secrets.update(f.fields["csrf_token"] for f in forms(page) if "csrf_token" in f.fields)
        return response


@pytest.fixture
def app(mail_app):
    return mail_app


@pytest.fixture
def mailbox(mail_app, smtp):
    return Mailbox(mail_app, smtp)


@pytest.fixture
def camille(make_account):
    return make_account(EMAIL, account_id="camille")


def whole_sign_in(app, mailbox, account) -> set[str]:
    """Wrong password, password, code, reset, with a logout after each; returns the secrets seen."""
    client = RecordingClient(app, app.response_class, use_cookies=True)
    browser = Browser(client)
    secrets = {PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, account.password_hash, EMAIL}

    page = browser.submit("/login", {"email": "personne@univ-exemple.fr"}).get_data(as_text=True)
    assert "Adresse email non reconnue" in page
    assert "Mot de passe incorrect." in browser.sign_in(EMAIL, WRONG_PASSWORD).get_data(as_text=True)
    assert browser.submit("/login/password", {"password": PASSWORD}).status_code == 302
    assert browser.submit("/logout", form_page="/logout").status_code == 302

    browser.submit("/login", {"email": EMAIL})
    browser.submit("/login/code/send", form_page="/login/password")
    code = mailbox.code(EMAIL)
    flow = page_form(client.get("/login/code"), field="flow").fields["flow"]
    wrong_code = f"{(int(code) + 1) % 10**6:06d}"
    assert "Code incorrect" in browser.submit("/login/code", {"code": wrong_code}).get_data(as_text=True)
    assert browser.submit("/login/code", {"code": code}).status_code == 302 and browser.signed_in()
    secrets |= {code, wrong_code, flow}
    assert browser.submit("/logout", form_page="/logout").status_code == 302

    browser.submit("/login", {"email": EMAIL})
    browser.submit("/login/reset", form_page="/login/password")
    link = mailbox.link(EMAIL)
    token = link.rstrip("/").rsplit("/", 1)[1]
    done = browser.submit(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and browser.signed_in()
    new_hash = app.extensions["gateway.directory"].get(account.id).password_hash
    secrets |= {token, link, new_hash}
    assert browser.submit("/logout", form_page="/logout").status_code == 302
    return secrets | client.secrets


def leaks(text: str, secrets: set[str]) -> list[str]:
    found = []
    for secret in secrets:
        if secret.isdigit():  # a 6-digit code: not as part of a longer number or id
            if re.search(rf"(?<![0-9A-Za-z]){secret}(?![0-9A-Za-z])", text):
                found.append(secret)
        elif secret in text:
            found.append(secret)
    return found


# -- a whole sign-in -----------------------------------------------------------------------------------

def test_no_secret_in_any_log_record_of_a_whole_sign_in(app, mailbox, camille, captured, caplog):
    secrets = whole_sign_in(app, mailbox, camille)
    assert len(secrets) > 12  # passwords, hashes, code, flow, token, session ids, CSRF tokens...
    assert captured.records, "nothing was logged"
    for text in captured.texts:
        assert not leaks(text, secrets), text
    # caplog's view (after the production handlers ran) and the production JSON lines
    ours = [r for r in caplog.records if not r.name.startswith(SMTP_SERVER_LOGGER)]
    assert any(r.name == AUDIT for r in ours)
    for record in ours:
        assert not leaks(caplog.handler.format(record), secrets), record.getMessage()
    redact, json_lines = Redact(), JsonFormatter()
    for record in captured.records:
        redact.filter(record)
        line = json_lines.format(record)
        assert not leaks(line, secrets), line


def test_an_audit_line_for_each_sign_in_event(app, mailbox, camille, captured):
    whole_sign_in(app, mailbox, camille)
    lines = [json.loads(JsonFormatter().format(r)) for r in captured.records if r.name == AUDIT]
    events = {line["event"] for line in lines}
    assert REQUIRED_EVENTS <= events, REQUIRED_EVENTS - events
    assert "code.failed" in events and "password.changed" in events
    for line in lines:
        assert line["time"] and line["event"] in logs.EVENTS
    by_event = {line["event"]: line for line in lines}
    assert by_event["login.failed"]["account"] == camille.id and by_event["login.failed"]["ip"] == "127.0.0.1"
    assert by_event["logout"]["account"] == camille.id
    assert set(by_event["login.succeeded"]["methods"]) <= {"pwd", "otp", "reset"}
    unknown = by_event["login.unknown_address"]
    assert "personne" not in json.dumps(unknown) and re.fullmatch(r"[0-9a-f]{16}", unknown["email_hash"])
    assert re.fullmatch(r"[0-9a-f]{16}", by_event["code.sent"]["email_hash"])


# -- the production pipeline --------------------------------------------------------------------------

@pytest.fixture
def pipeline():
    """A handler built like the production ones (Redact + JsonFormatter) on the gateway loggers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Redact())
    loggers = [logging.getLogger("gateway"), logging.getLogger(AUDIT)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield stream
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_production_handlers_redact():
    logs.configure()
    for name in ("gateway", AUDIT):
        handlers = logging.getLogger(name).handlers
        assert any(isinstance(f, Redact) for h in handlers for f in h.filters), name
    assert any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger(AUDIT).handlers)
    assert logging.getLogger(AUDIT).propagate is False


def test_redact_scrubs_bearer_tokens(pipeline):
    log = logging.getLogger("gateway.scim")
    log.warning("refused Authorization: Bearer xyz")
    log.warning("refused %s", "Authorization: bearer scim-test-token-cockpit-0123456789")
    log.warning("refused %s", "BEARER abc.DEF-123_~+/==")
    out = pipeline.getvalue()
    assert "xyz" not in out and "scim-test-token-cockpit-0123456789" not in out and "abc.DEF" not in out
    assert out.count("[redacted]") == 3


def test_redact_scrubs_argon2_hashes(pipeline):
    log = logging.getLogger("gateway")
    log.info("hash " + ARGON)
    log.info("stored %s for %s", ARGON, "camille")
    log.info("old=%(old)s", {"old": ARGON})
    out = pipeline.getvalue()
    assert "$argon2" not in out and "RdescudvJCsgt3ub" not in out
    assert "camille" in out


@pytest.mark.parametrize("name", ["password", "token", "code", "Password", "secret", "cookie",
                                  "password_hash", "authorization"])
def test_redact_blanks_extra_fields_named_like_secrets(pipeline, name):
    logging.getLogger("gateway").info("something", extra={name: "s3cr3t-value", "account": "camille"})
    line = json.loads(pipeline.getvalue())
    assert line[name] == "[redacted]" and line["account"] == "camille"
    assert "s3cr3t-value" not in pipeline.getvalue()


def test_redact_on_audit_lines(pipeline):
    audit("login.failed", account="camille", ip="192.0.2.1", password="hunter2-hunter2", code="123456",
          token="abcdefghijkl")
    line = json.loads(pipeline.getvalue())
    assert line["event"] == "login.failed" and line["account"] == "camille" and line["ip"] == "192.0.2.1"
    assert line["password"] == line["code"] == line["token"] == "[redacted]"
    out = pipeline.getvalue()
    assert "hunter2" not in out and "123456" not in out and "abcdefghijkl" not in out


def test_redact_mapping_arguments(pipeline):
    logging.getLogger("gateway").info("reset %(token)s for %(who)s, %(auth)s",
                                      {"token": "abcdef0123", "who": "camille", "auth": "Bearer qwerty"})
    out = pipeline.getvalue()
    assert "abcdef0123" not in out and "qwerty" not in out and "camille" in out


def test_unknown_audit_event_is_refused():
    with pytest.raises(ValueError):
        audit("login.password_was", password="x")


# -- the audit line's direct path -----------------------------------------------------------------------

@contextlib.contextmanager
def audit_handler_alone() -> Iterator[io.StringIO]:
    """The production audit handler (logs.configure) alone on its logger, as under gunicorn, writing to a
    string. Inside a test's body: pytest attaches its own handlers to every logger for each phase."""
    logs.configure()
    logger = logging.getLogger(AUDIT)
    [handler] = [h for h in logger.handlers if getattr(h, "_gateway", False)]
    others = [h for h in logger.handlers if h is not handler]
    for other in others:
        logger.removeHandler(other)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)
        for other in others:
            logger.addHandler(other)


@pytest.fixture
def records_made():
    """How many LogRecords logging makes during the test (logging's record factory, counted)."""
    made = [0]
    factory = logging.getLogRecordFactory()

    def counting(*args, **kwargs):
        made[0] += 1
        return factory(*args, **kwargs)

    logging.setLogRecordFactory(counting)
    yield made
    logging.setLogRecordFactory(factory)


FIELDS = {"account": "camille", "sp": 'https://sp.exemple.fr/"shibboleth"\n', "name_id_format": "é€😀",
          "methods": ["pwd", "otp"], "pair": ("a", 1), "count": 3, "ratio": 0.25, "known": True, "none": None,
          "nested": {"b": [1, {"c": None}]}, "at": datetime.datetime(2026, 12, 7, 9, 5),
          "token": "abcdefghijkl", "Password": "hunter2-hunter2"}
TIME = re.compile(r'\{"time": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", ')


@pytest.mark.parametrize("event", sorted(logs.EVENTS))
def test_the_audit_line_written_directly_is_the_one_logging_writes(records_made, event):
    """Alone on its logger, the production handler gets the line without a LogRecord; with another
    handler listening, through logging as before: the same bytes (but for the time), secrets redacted."""
    with audit_handler_alone() as stream:
        audit(event, **FIELDS)
        direct = stream.getvalue()
        assert records_made[0] == 0  # the direct path
        listener = logging.NullHandler()
        logging.getLogger(AUDIT).addHandler(listener)
        try:
            audit(event, **FIELDS)
        finally:
            logging.getLogger(AUDIT).removeHandler(listener)
        assert records_made[0] == 1  # through logging
        through_logging = stream.getvalue()[len(direct):]
    assert TIME.match(direct) and TIME.match(through_logging)
    assert TIME.sub("", direct) == TIME.sub("", through_logging)
    assert direct.endswith("\n") and direct.count("\n") == 1
    line = json.loads(direct)
    assert line["event"] == event and line["token"] == line["Password"] == "[redacted]"
    assert "hunter2" not in direct and "abcdefghijkl" not in direct


def test_an_audit_field_named_like_a_log_record_attribute_is_refused_on_both_paths(records_made):
    with audit_handler_alone() as stream:
        with pytest.raises(KeyError):
            audit("logout", account="camille", name="camille")
        assert records_made[0] == 0
        listener = logging.NullHandler()
        logging.getLogger(AUDIT).addHandler(listener)
        try:
            with pytest.raises(KeyError):
                audit("logout", account="camille", msg="x")
        finally:
            logging.getLogger(AUDIT).removeHandler(listener)
        assert stream.getvalue() == ""
