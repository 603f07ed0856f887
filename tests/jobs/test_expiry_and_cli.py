"""A code mail past its end is dropped, not sent late; ``gateway jobs`` shows and retries failed jobs."""
from __future__ import annotations

import copy
import subprocess
import sys
import time

from gateway import ROOT
from gateway.logs import AUDIT
from gateway.mail import send_mail
from gateway.mail.fate import fate
from tests.conftest import free_port
from tests.fixtures_mail import run_mail_worker
from tests.mail.test_cli import worker_env

JOBS = "import gateway.cli.jobs; from gateway.cli import cli; cli(prog_name='gateway')"


def test_a_code_mail_that_would_arrive_after_the_code_ended_is_dropped(mail_app, smtp, caplog):
    smtp.stop()
    with mail_app.app_context():
        message_id = send_mail("signin_code", "nina@example.org", "fr", code="314159",
                               link="https://x.test/c", minutes=10, expires_at=time.time() + 1.5)
    run_mail_worker(mail_app)  # SMTP down: the attempt fails, a retry is scheduled
    time.sleep(2)  # the code ends while SMTP is down
    smtp.start()
    deadline = time.monotonic() + 10
    with mail_app.app_context():
        while fate(mail_app.extensions["gateway.store"], message_id).state != "expired" \
                and time.monotonic() < deadline:
            run_mail_worker(mail_app)
            time.sleep(0.2)
        assert fate(mail_app.extensions["gateway.store"], message_id).state == "expired"
    assert smtp.messages == []
    [expired] = [r for r in caplog.records if r.name == AUDIT and r.getMessage() == "mail.expired"]
    assert (expired.domain, expired.message_id) == ("example.org", message_id)
    assert "nina" not in caplog.text and "314159" not in caplog.text


def test_a_delivered_mail_records_its_fate(mail_app, smtp):
    with mail_app.app_context():
        message_id = send_mail("password_changed", "omar@example.org", "fr")
    run_mail_worker(mail_app)
    assert fate(mail_app.extensions["gateway.store"], message_id).state == "accepted"


def jobs_command(redis_url: str, smtp_port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", JOBS, "jobs", *args], cwd=ROOT, timeout=60,
                          env=worker_env(redis_url, smtp_port), capture_output=True, text=True)


def test_gateway_jobs_shows_failed_jobs_and_retries_them(make_mail_app, mail_config, smtp, redis_server):
    config = copy.deepcopy(mail_config)
    config["mail"]["retry_intervals"] = [0]
    app = make_mail_app(config)
    smtp.stop()
    with app.app_context():
        message_id = send_mail("reset", "paul@example.org", "fr", link="https://x.test/r", minutes=30)
        send_mail("password_changed", "rose@example.org", "fr")
    run_mail_worker(app)  # two attempts each, both refused: failed

    shown = jobs_command(redis_server.url, smtp.port)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line.split()[1:] for line in shown.stdout.splitlines()[1:3]}
    assert rows["mail"][:4] == ["0", "0", "0", "2"] and rows["backchannel"][:4] == ["0", "0", "0", "0"]
    failed = [line for line in shown.stdout.splitlines() if "mail reset to *@example.org" in line]
    assert len(failed) == 1 and "ConnectionRefusedError" in failed[0]
    assert "paul" not in shown.stdout and "rose" not in shown.stdout

    unknown = jobs_command(redis_server.url, smtp.port, "retry", "no-such-job")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == ["gateway: no failed job no-such-job (see `gateway jobs`)"]

    smtp.start()
    retried = jobs_command(redis_server.url, smtp.port, "retry", "--all")
    assert retried.returncode == 0 and retried.stdout.strip() == "2 job(s) put back on their queue"
    run_mail_worker(app)
    assert sorted(m["To"] for m in smtp.messages) == ["paul@example.org", "rose@example.org"]
    assert message_id in [m["Message-ID"] for m in smtp.messages]
    after = jobs_command(redis_server.url, smtp.port)
    assert after.stdout.splitlines()[1].split()[1:5] == ["0", "0", "0", "0"]


def test_gateway_jobs_without_redis_is_one_line(smtp):
    url = f"redis://127.0.0.1:{free_port()}/0"
    for args in ((), ("retry", "--all")):
        result = jobs_command(url, smtp.port, *args)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [f"gateway: cannot reach Redis ({url}); is it running?"]


def test_gateway_jobs_retry_needs_an_id_or_all(smtp, redis_server):
    result = jobs_command(redis_server.url, smtp.port, "retry")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["gateway: give one JOB_ID or --all"]
