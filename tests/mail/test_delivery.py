"""A queued mail arrives complete: both parts, the headers, in the person's language."""
from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime

import pytest
from flask_babel import force_locale, gettext

from gateway.mail import send_mail
from tests.mail.conftest import CODE, LINK

SENDER = "UNESS test <ne-pas-repondre@test.uness.fr>"


@pytest.fixture
def mail_config(mail_config: dict) -> dict:
    mail_config["mail"].update(sender=SENDER, message_id_domain="mail.uness.test")
    return mail_config


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return str(text.get_content()), str(html.get_content())


@pytest.mark.parametrize(("accept", "lang"), [("fr-FR,fr;q=0.9", "fr"), ("en-GB,en;q=0.8", "en")])
def test_mail_arrives_in_the_request_language(mail_client, mail_app, smtp, mail_worker, accept, lang):
    before = time.time()
    response = mail_client.get("/_test/mail?to=alice@univ-exemple.fr", headers={"Accept-Language": accept})
    message_id = response.get_json()["message_id"]
    assert smtp.messages == []  # queued, not sent
    assert mail_worker() is True
    after = time.time()

    [message] = smtp.messages
    assert message["Message-ID"] == message_id
    assert message_id.endswith("@mail.uness.test>")
    assert parseaddr(message["From"])[1] == "ne-pas-repondre@test.uness.fr"
    assert message["To"] == "alice@univ-exemple.fr"
    assert message["Content-Language"] == lang
    assert message["Auto-Submitted"] == "auto-generated"
    # the Date of the request or of the delivery, to the second (not a timing bound: a loaded host is slow)
    assert int(before) - 1 <= parsedate_to_datetime(message["Date"]).timestamp() <= after + 1
    with mail_app.app_context(), force_locale(lang):
        assert message["Subject"] == gettext("Activez votre compte UNESS")
    text, html = parts(message)
    for part in (text, html):
        assert CODE in part
        assert "alice@univ-exemple.fr" in part  # says where it was sent
    assert LINK in text
    assert LINK.replace("&", "&amp;") in html
    assert f'<html lang="{lang}">' in html


@pytest.mark.parametrize(("template", "context"), [
    ("activation", {"code": "100200", "link": "https://x.test/a", "minutes": 60}),
    ("signin_code", {"code": "300400", "link": "https://x.test/c", "minutes": 10}),
    ("reset", {"link": "https://x.test/r", "minutes": 30}),
    ("verify_email", {"code": "500600", "link": "https://x.test/v", "minutes": 30}),
    ("password_changed", {"link": "https://x.test/login/forgot"}),
])
def test_every_mail_renders_in_both_parts(mail_app, smtp, mail_worker, template, context):
    with mail_app.app_context():
        send_mail(template, "bob@example.org", "fr", **context)
    mail_worker()
    [message] = smtp.messages
    text, html = parts(message)
    for value in context.values():
        assert str(value) in text and str(value) in html
    assert "bob@example.org" in text and "bob@example.org" in html
    assert message["Subject"]
    if template != "password_changed":
        assert "ignorez ce message" in text and "ignorez ce message" in html
        origin = "dans « Mes informations »" if template == "verify_email" else "page de connexion UNESS"
        assert origin in text and origin in html


def test_message_id_never_uses_the_host_name(mail_app, smtp, mail_worker):
    import socket

    with mail_app.app_context():
        message_id = send_mail("reset", "carol@example.org", "fr", link="https://x.test/r", minutes=30)
    mail_worker()
    assert socket.gethostname() not in message_id.partition("@")[2]
    assert smtp.messages[0]["Message-ID"] == message_id


def test_unknown_language_falls_back_to_french(mail_app, smtp, mail_worker):
    with mail_app.app_context():
        send_mail("password_changed", "dan@example.org", "de-DE")
    mail_worker()
    assert smtp.messages[0]["Content-Language"] == "fr"
