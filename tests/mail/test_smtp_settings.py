"""SMTP settings: security modes, no silent downgrade from STARTTLS, a hung server times out."""
from __future__ import annotations

import copy
import socket
import time

import pytest
from rq.registry import FailedJobRegistry

from gateway import jobs
from gateway.config import ConfigError, MailSettings
from gateway.mail import flask_mail_config, send_mail
from tests.fixtures_mail import run_mail_worker


@pytest.mark.parametrize(("security", "use_tls", "use_ssl"), [
    ("none", False, False), ("starttls", True, False), ("tls", False, True),
])
def test_security_maps_to_flask_mail(security, use_tls, use_ssl):
    config = flask_mail_config(MailSettings(security=security, username="u", password="p"))
    assert (config["MAIL_USE_TLS"], config["MAIL_USE_SSL"]) == (use_tls, use_ssl)
    assert config["MAIL_DEBUG"] == 0  # smtplib's debug output would print bodies


def test_negative_retry_interval_is_a_config_error(make_mail_app, mail_config):
    config = copy.deepcopy(mail_config)
    config["mail"]["retry_intervals"] = [10, -1]
    with pytest.raises(ConfigError, match="mail.retry_intervals"):
        make_mail_app(config)


def send_and_fail(make_mail_app, mail_config, **settings) -> tuple[list, float]:
    """Send one mail with ``settings`` and no retry; the failed job ids and the worker's time."""
    config = copy.deepcopy(mail_config)
    config["mail"].update(settings, retry_intervals=[])
    app = make_mail_app(config)
    with app.app_context():
        send_mail("password_changed", "max@example.org", "fr")
    started = time.monotonic()
    run_mail_worker(app)
    return FailedJobRegistry(queue=jobs.service(app).queue(jobs.MAIL)).get_job_ids(), time.monotonic() - started


def test_starttls_never_falls_back_to_plain_text(make_mail_app, mail_config, smtp):
    failed, _ = send_and_fail(make_mail_app, mail_config, security="starttls")  # the server offers no STARTTLS
    assert len(failed) == 1
    assert smtp.messages == []


def test_a_server_that_never_answers_times_out(make_mail_app, mail_config):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never says a word
        failed, elapsed = send_and_fail(make_mail_app, mail_config, port=silent.getsockname()[1], timeout=0.3)
    assert len(failed) == 1
    assert elapsed < 3
