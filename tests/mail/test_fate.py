"""Each mail's fate, as the worker meets it on a real SMTP server: accepted, refused, retrying, failed,
and internationalised addresses with and without SMTPUTF8 (RFC 6531)."""
from __future__ import annotations

import copy
import logging
import time

import pytest
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from gateway import jobs
from gateway.config import ConfigError
from gateway.logs import AUDIT
from gateway.mail import fate as fates
from gateway.mail import send_mail
from tests.conftest import free_port, make_app
from tests.fixtures_mail import SmtpCapture, run_mail_worker
from tests.mail.test_logs import all_logs, dump  # noqa: F401  (all_logs: a fixture)

ELODIE = "élodie.bernard@ars.sante.fr"


def queue(app, to: str, template: str = "signin_code") -> str:
    with app.app_context():
        return send_mail(template, to, "fr", code="271828", link="https://x.test/c", minutes=10)


def fate_of(app, message_id: str) -> fates.MailFate:
    found = fates.fate(app.extensions["gateway.store"], message_id)
    assert found is not None
    return found


def events(records, name: str) -> list[logging.LogRecord]:
    return [r for r in records if r.name == AUDIT and r.getMessage() == name]


def test_an_accepted_mail_keeps_the_servers_reply_and_no_address_in_clear(mail_app, smtp, redis_client):
    message_id = queue(mail_app, "camille.martin@chu-x.fr")
    queued = fate_of(mail_app, message_id)
    assert (queued.state, queued.to, queued.template) == ("queued", "c***n@chu-x.fr", "signin_code")
    run_mail_worker(mail_app)
    accepted = fate_of(mail_app, message_id)
    assert (accepted.state, accepted.smtp_code, accepted.smtp_reply) == ("accepted", 250, "Message accepted")
    assert accepted.final and accepted.queued_at == queued.queued_at
    for name in redis_client.scan_iter("gw:mail:*"):
        assert "camille" not in name
        assert "camille" not in str(redis_client.get(name) if redis_client.type(name) == "string"
                                    else redis_client.lrange(name, 0, -1))


def test_a_5xx_refusal_is_kept_with_its_reason_and_never_tried_again(mail_app, smtp, all_logs):
    smtp.refuse["noone@chu-x.fr"] = "550 5.1.1 <noone@chu-x.fr>: Recipient address rejected: User unknown"
    message_id = queue(mail_app, "noone@chu-x.fr")
    run_mail_worker(mail_app)
    refused = fate_of(mail_app, message_id)
    assert refused.state == "refused" and refused.smtp_code == 550
    assert "User unknown" in refused.reason and "n***e@chu-x.fr" in refused.reason
    assert "noone@" not in refused.reason
    queue_ = jobs.service(mail_app).queue(jobs.MAIL)
    assert ScheduledJobRegistry(queue=queue_).count == 0 and FailedJobRegistry(queue=queue_).count == 0
    assert run_mail_worker(mail_app) is False  # nothing left to try
    [event] = events(all_logs.records, "mail.refused")
    assert event.smtp_code == 550 and event.domain == "chu-x.fr"
    assert smtp.messages == []


def test_smtp_away_says_when_the_next_try_is_then_accepted(mail_app, smtp):
    smtp.stop()
    message_id = queue(mail_app, "frank@example.org")
    run_mail_worker(mail_app)
    retrying = fate_of(mail_app, message_id)
    assert retrying.state == "retrying" and not retrying.final
    assert retrying.reason == "ConnectionRefusedError"
    assert retrying.next_try is not None and retrying.next_try >= retrying.at  # the schedule's 1 s later
    smtp.start()
    deadline = time.monotonic() + 10  # a polling bound, not a timing assertion
    while fate_of(mail_app, message_id).state != "accepted" and time.monotonic() < deadline:
        run_mail_worker(mail_app)
        time.sleep(0.2)
    assert fate_of(mail_app, message_id).state == "accepted"


def test_greylisting_4xx_is_tried_again_with_the_servers_words(mail_app, smtp):
    smtp.refuse["grey@chu-x.fr"] = "451 4.7.1 <grey@chu-x.fr>: Greylisted, try again later"
    message_id = queue(mail_app, "grey@chu-x.fr")
    run_mail_worker(mail_app)
    retrying = fate_of(mail_app, message_id)
    assert (retrying.state, retrying.smtp_code) == ("retrying", 451)
    assert retrying.reason == "4.7.1 <g***y@chu-x.fr>: Greylisted, try again later"
    del smtp.refuse["grey@chu-x.fr"]
    deadline = time.monotonic() + 10  # a polling bound: the retry is due one second later
    while fate_of(mail_app, message_id).state != "accepted" and time.monotonic() < deadline:
        run_mail_worker(mail_app)
        time.sleep(0.2)
    assert fate_of(mail_app, message_id).state == "accepted" and len(smtp.messages) == 1


def test_a_mail_still_not_sent_after_its_last_try_has_failed(make_mail_app, mail_config, smtp):
    app = make_mail_app({**mail_config, "mail": {**mail_config["mail"], "retry_intervals": []}})
    smtp.stop()
    message_id = queue(app, "gina@example.org")
    run_mail_worker(app)
    failed = fate_of(app, message_id)
    assert failed.state == "failed" and failed.next_try is None and failed.final


def test_the_last_mails_to_an_address_newest_first_and_bounded(make_mail_app, mail_config, redis_client):
    app = make_mail_app({**mail_config, "mail": {**mail_config["mail"], "fate_days": 2}})
    ids = [queue(app, "Hugo@Example.org", "reset" if n % 2 else "signin_code")
           for n in range(fates.PER_ADDRESS + 5)]
    queue(app, "other@example.org")
    store = app.extensions["gateway.store"]
    found = fates.recent(store, "hugo@example.org")
    assert [f.message_id for f in found] == ids[::-1][:fates.PER_ADDRESS]
    assert [f.message_id for f in fates.recent(store, "hugo@example.org", limit=3)] == ids[::-1][:3]
    assert fates.recent(store, "hugo@example.org", limit=0) == []
    assert fates.latest(store, "hugo@example.org", ("reset",)).message_id == ids[-2]
    assert fates.latest(store, "hugo@example.org", ("signin_code",)).message_id == ids[-1]
    assert fates.latest(store, "nobody@example.org", ("reset",)) is None
    for name in redis_client.scan_iter("gw:mail:*"):
        assert 0 < redis_client.ttl(name) <= 2 * 86400


@pytest.mark.parametrize("days", [0, 31])
def test_fate_days_is_bounded(mail_config, days):
    with pytest.raises(ConfigError, match="mail.fate_days"):
        make_app({**mail_config, "mail": {**mail_config["mail"], "fate_days": days}})


def test_an_accented_address_arrives_intact_over_smtputf8(mail_app, smtp):
    message_id = queue(mail_app, ELODIE, "activation")
    run_mail_worker(mail_app)
    [message] = smtp.messages
    assert smtp.recipients == [[ELODIE]]
    assert message["To"] == ELODIE and message["Message-ID"] == message_id
    assert ELODIE in message.get_body(preferencelist=("plain",)).get_content()
    assert fate_of(mail_app, message_id).state == "accepted"


@pytest.fixture
def ascii_smtp():
    """A real SMTP server that does not offer SMTPUTF8."""
    server = SmtpCapture(free_port(), smtputf8=False)
    server.start()
    yield server
    server.stop()


def test_an_accented_address_without_smtputf8_is_refused_at_once_without_traceback(
        make_mail_app, mail_config, ascii_smtp, all_logs, capfd):
    config = copy.deepcopy(mail_config)
    config["mail"].update(ascii_smtp.overrides)
    app = make_mail_app(config)
    message_id = queue(app, ELODIE, "activation")
    ascii_id = queue(app, "camille@chu-x.fr", "activation")
    run_mail_worker(app)
    refused = fate_of(app, message_id)
    assert refused.state == "refused" and "SMTPUTF8" in refused.reason
    assert fate_of(app, ascii_id).state == "accepted"  # the same server takes an ASCII address
    assert [m["To"] for m in ascii_smtp.messages] == ["camille@chu-x.fr"]
    assert run_mail_worker(app) is False  # not tried again
    [event] = events(all_logs.records, "mail.refused")
    assert event.error == "Undeliverable"
    out, err = capfd.readouterr()
    text = dump(all_logs.records) + out + err
    assert "Traceback" not in text and "UnicodeEncodeError" not in text
    assert not [r for r in all_logs.records if r.exc_info]
