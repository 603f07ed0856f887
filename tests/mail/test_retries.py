"""A request never waits on SMTP, and no mail is lost while SMTP is down."""
from __future__ import annotations

import copy
import time

from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from gateway import jobs
from gateway.mail import send_mail
from tests.fixtures_mail import run_mail_worker


def wait_for_delivery(smtp, run, timeout: float = 4.0) -> None:
    """Run the worker until a mail arrives (retries become due after their interval)."""
    deadline = time.monotonic() + timeout
    while not smtp.messages and time.monotonic() < deadline:
        run()
        if not smtp.messages:
            time.sleep(0.1)


def test_request_returns_while_smtp_is_down_and_the_mail_waits(mail_client, mail_app, smtp, mail_worker):
    smtp.stop()
    started = time.monotonic()
    response = mail_client.get("/_test/mail?to=erin@example.org")
    assert response.status_code == 200
    assert time.monotonic() - started < 1.0
    queue = jobs.service(mail_app).queue(jobs.MAIL)
    assert queue.count == 1  # nothing sent, nothing lost

    smtp.start()
    assert mail_worker() is True
    [message] = smtp.messages
    assert message["Message-ID"] == response.get_json()["message_id"]


def test_smtp_down_then_back_the_retry_delivers(mail_app, smtp, mail_worker, caplog):
    smtp.stop()
    with mail_app.app_context():
        message_id = send_mail("signin_code", "frank@example.org", "fr", code="777111",
                               link="https://x.test/c", minutes=10)
    assert mail_worker() is True  # the attempt failed...
    queue = jobs.service(mail_app).queue(jobs.MAIL)
    assert ScheduledJobRegistry(queue=queue).count == 1  # ...and the retry is scheduled
    assert smtp.messages == []

    smtp.start()
    wait_for_delivery(smtp, mail_worker)
    [message] = smtp.messages
    assert message["Message-ID"] == message_id
    assert FailedJobRegistry(queue=queue).count == 0
    assert queue.count == 0


def test_exhausted_retries_stay_in_the_failed_registry_until_requeued(make_mail_app, mail_config, smtp):
    config = copy.deepcopy(mail_config)
    config["mail"]["retry_intervals"] = [0, 0]  # two immediate retries: three attempts in one run
    app = make_mail_app(config)
    smtp.stop()
    with app.app_context():
        message_id = send_mail("reset", "gina@example.org", "en", link="https://x.test/r", minutes=30)
    run_mail_worker(app)
    queue = jobs.service(app).queue(jobs.MAIL)
    failed = FailedJobRegistry(queue=queue)
    assert failed.get_job_ids() != [] and queue.count == 0

    smtp.start()
    for job_id in failed.get_job_ids():  # what `rq requeue --queue mail --all` does
        failed.requeue(job_id)
    run_mail_worker(app)
    [message] = smtp.messages
    assert message["Message-ID"] == message_id


def test_a_delivered_job_leaves_nothing_in_redis(mail_app, smtp, mail_worker, redis_client):
    with mail_app.app_context():
        send_mail("activation", "hugo@example.org", "fr", code="246810", link="https://x.test/a", minutes=60)
    mail_worker()
    assert len(smtp.messages) == 1
    for key in redis_client.scan_iter("rq:job:*"):
        assert "246810" not in str(redis_client.hgetall(key))
