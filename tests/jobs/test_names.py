"""Jobs are stored by stable names (gateway.jobs.names): a job queued by an earlier release under its
function's module path still runs after the function moved, and a job naming any other function is
never run (the worker does not import what a job in Redis names)."""
from __future__ import annotations

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from gateway import jobs
from gateway.mail import send_mail
from tests.fixtures_mail import queue_again_as, run_mail_worker


def queue_a_mail(app) -> str:
    with app.app_context():
        return send_mail("signin_code", "gina@example.org", "fr", code="482913", link="https://x.test/c",
                         minutes=10)


def test_a_mail_is_stored_under_its_stable_name(mail_app, smtp):
    queue_a_mail(mail_app)
    [job] = jobs.service(mail_app).queue(jobs.MAIL).jobs
    assert job.func_name == "mail.deliver"


@pytest.mark.parametrize("stored", ["gateway.mail.jobs.deliver", "gateway.mail.delivery.deliver"])
def test_a_mail_queued_under_a_former_module_path_is_delivered(mail_app, smtp, stored):
    message_id = queue_a_mail(mail_app)
    assert queue_again_as(mail_app, jobs.MAIL, stored) == 1
    assert run_mail_worker(mail_app) is True
    [message] = smtp.messages
    assert message["Message-ID"] == message_id


@pytest.mark.parametrize("stored", ["os.remove", "shutil.rmtree", "gateway.mail.send_mail", "mail.nothing"])
def test_a_job_naming_an_unregistered_function_is_never_run(mail_app, smtp, tmp_path, stored):
    """An attacker who can write to Redis queues a job naming a function of their choice: the worker
    refuses it (the job fails, the file is still there)."""
    victim = tmp_path / "keep-me"
    victim.write_text("still here")
    queue = jobs.service(mail_app).queue(jobs.MAIL)
    Queue(jobs.MAIL, connection=queue.connection, serializer=JSONSerializer).enqueue(stored, str(victim))
    run_mail_worker(mail_app)
    assert victim.read_text() == "still here"
    [failed] = FailedJobRegistry(queue=queue).get_job_ids()
    assert failed and smtp.messages == []


def test_a_function_that_is_not_a_job_cannot_be_queued(mail_app):
    with mail_app.app_context(), pytest.raises(ValueError, match="not a registered job"):
        jobs.enqueue(jobs.MAIL, send_mail, "x", retry_intervals=[], timeout=10, description="x")
    assert jobs.service(mail_app).queue(jobs.MAIL).count == 0
