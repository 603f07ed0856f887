"""A worker killed with SIGKILL loses nothing: the next one takes over within seconds (issue 13 §2).

Real redis-server, real SMTP sink, real ``gateway mail-worker`` subprocesses. The
bounds are generous polling limits, not timing assertions.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable

import pytest
from rq.registry import FailedJobRegistry, StartedJobRegistry

from gateway import jobs
from gateway.mail import send_mail
from tests.mail.test_cli import running, worker_env  # noqa: F401  (running: a fixture)

#: Long enough to outlast the test: SMTP comes back within it.
RETRIES = [1, 2, 3, 5, 5, 5, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]


@pytest.fixture
def mail_app(make_mail_app, mail_config):
    """Mails are queued with the long schedule (the queuing app's settings give a job its retries)."""
    return make_mail_app({**mail_config, "mail": {**mail_config["mail"], "retry_intervals": RETRIES}})


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.2)


def env_for(redis_server, smtp) -> dict[str, str]:
    # a short retry schedule: what is tested is that a dead worker's jobs are found and retried at all
    # (they used to wait out rq's 10-minute maintenance), not the production schedule, which a loaded
    # host could push past the test's bounds
    return {**worker_env(redis_server.url, smtp.port), "GATEWAY_MAIL_TIMEOUT": "2",
            "GATEWAY_MAIL_RETRY_INTERVALS": "2,2,2,2,2,2,2,2,2,2"}


def queue_mails(app, count: int) -> list[str]:
    with app.app_context():
        return [send_mail("signin_code", f"person{n}@example.org", "fr", code=f"{n:06d}",
                          link="https://x.test/c", minutes=10, expires_at=time.time() + 600)
                for n in range(count)]


def kill(worker) -> None:
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait(10)


def test_thirty_mails_survive_a_killed_worker_while_smtp_is_down(running, redis_server, mail_app, smtp):
    smtp.stop()
    first = running("mail-worker", env=env_for(redis_server, smtp))
    first.wait_for("Listening on")
    ids = queue_mails(mail_app, 30)
    wait_until(lambda: first.output.count('"event": "mail.failed"') >= 30, 60, "a first attempt at each mail")
    kill(first)
    connection = jobs.service(mail_app).connection
    assert connection.exists("rq:scheduler-lock:mail")  # the dead worker's: it used to hold retries 10 min

    second = running("mail-worker", env=env_for(redis_server, smtp))
    second.wait_for("Listening on")
    smtp.start()
    wait_until(lambda: len(smtp.messages) >= 30, 90, "30 mails")
    time.sleep(3)  # anything sent twice would arrive now
    delivered = Counter(message["Message-ID"] for message in smtp.messages)
    assert delivered == Counter(ids)  # every one, exactly once
    queue = jobs.service(mail_app).queue(jobs.MAIL)
    assert FailedJobRegistry(queue=queue).count == 0 and queue.count == 0
    assert "Traceback" not in first.output + second.output  # SMTP away: one line per failure, no traceback


def stalled_smtp(port: int) -> socket.socket:
    """A listener that never answers: a connection waits for a greeting that does not come."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(50)
    return server


def test_the_job_a_worker_was_running_when_killed_is_run_again_at_once(running, redis_server, mail_app, smtp,
                                                                        caplog):
    smtp.stop()
    stall = stalled_smtp(smtp.port)
    first = running("mail-worker", env=env_for(redis_server, smtp))
    first.wait_for("Listening on")
    [message_id] = queue_mails(mail_app, 1)
    queue = jobs.service(mail_app).queue(jobs.MAIL)
    started = StartedJobRegistry(queue=queue)
    wait_until(lambda: started.get_job_count(cleanup=False) == 1, 30, "the worker to start the job")
    kill(first)  # mid-attempt: nothing was accepted, so nothing may arrive twice
    stall.close()
    smtp.start()

    second = running("mail-worker", env=env_for(redis_server, smtp))
    wait_until(lambda: len(smtp.messages) >= 1, 60, "the mail")
    time.sleep(2)
    assert [m["Message-ID"] for m in smtp.messages] == [message_id]
    assert started.get_job_count(cleanup=False) == 0
    assert FailedJobRegistry(queue=queue).count == 0
    assert '"event": "jobs.recovered"' in second.output
