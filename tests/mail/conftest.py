"""A test-only page that sends a mail the way the sign-in views do (language from the request)."""
from __future__ import annotations

import pytest
from flask import Flask, request
from flask_babel import get_locale

from gateway.mail import send_mail

CODE = "428193"
LINK = "http://127.0.0.1:8000/connexion/activer?flux=f1&code=428193"


@pytest.fixture
def mail_client(mail_app: Flask):
    """``GET /_test/mail?to=…`` queues an activation mail and returns its Message-ID."""

    def view() -> dict:
        lang = str(get_locale() or "fr")
        message_id = send_mail("activation", request.args["to"], lang, code=CODE, link=LINK, minutes=60)
        return {"message_id": message_id}

    mail_app.add_url_rule("/_test/mail", "test_mail", view)
    return mail_app.test_client()
