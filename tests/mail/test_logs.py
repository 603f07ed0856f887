"""Mail bodies carry codes and links: they never reach a log, sent or failed."""
from __future__ import annotations

import json
import logging
import time

import pytest

from gateway.logs import AUDIT
from gateway.mail import send_mail

CODE = "913375"
LINK = "https://x.test/connexion/code?flux=secret-flow-id&code=913375"
LOGGERS = ("", "gateway", AUDIT, "rq", "rq.worker", "rq.job", "rq.queue", "rq.scheduler", "rq.registry")


@pytest.fixture
def all_logs(caplog):
    """Capture every record of the gateway and rq loggers, including those that do not propagate."""
    caplog.set_level(logging.DEBUG, logger="gateway")
    caplog.set_level(logging.DEBUG, logger="rq")
    for name in LOGGERS[1:]:
        logging.getLogger(name).addHandler(caplog.handler)
    yield caplog
    for name in LOGGERS[1:]:
        logging.getLogger(name).removeHandler(caplog.handler)


def dump(records: list[logging.LogRecord]) -> str:
    """Every message and every extra field, as text."""
    return "\n".join(r.getMessage() + json.dumps(vars(r), default=str) for r in records)


def test_no_body_in_any_log_line(mail_app, smtp, mail_worker, all_logs, capfd):
    smtp.stop()
    with mail_app.app_context():
        send_mail("signin_code", "ines@example.org", "fr", code=CODE, link=LINK, minutes=10)
    mail_worker()  # fails: SMTP is down
    smtp.start()
    deadline = time.monotonic() + 4
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.1)
        mail_worker()
    assert len(smtp.messages) == 1

    events = [r.getMessage() for r in all_logs.records if r.name == AUDIT]
    assert {"mail.queued", "mail.failed", "mail.sent"} <= set(events)
    failed = next(r for r in all_logs.records if r.name == AUDIT and r.getMessage() == "mail.failed")
    assert failed.domain == "example.org" and failed.will_retry is True
    out, err = capfd.readouterr()
    text = dump(all_logs.records) + out + err
    assert "913375" not in text
    assert "secret-flow-id" not in text
    assert "ines@example.org" not in text  # the domain only
    assert "saisissez ce code" not in text
