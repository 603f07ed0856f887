"""Render a mail (subject, text, HTML) in the person's language and build the queued message.

Each mail is a pair ``templates/mail/<name>.txt`` / ``<name>.html`` extending
``mail/base.txt`` / ``mail/base.html``. The text template sets the subject at
its top: ``{% set subject = _("...") %}``; the HTML one receives it. Message
ids are written in French, so French shows even without a compiled catalogue.
"""
from __future__ import annotations

import re
from email.utils import formatdate, make_msgid
from typing import Any

from flask import current_app
from flask_babel import force_locale

from .. import services

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def build_message(template: str, to: str, lang: str, **context: Any) -> dict[str, Any]:
    """The JSON-serialisable message the worker sends (see :func:`gateway.mail.delivery.deliver`).

    Date and Message-ID are fixed now, when the mail is written, not at delivery.
    """
    settings = services.settings()
    lang = choose_language(lang, settings.languages)
    subject, text, html = render(template, lang, to=to, **context)
    return {
        "template": template,
        "to": to,
        "sender": settings.mail.sender,
        "subject": subject,
        "text": text,
        "html": html,
        "headers": {
            "Message-ID": make_msgid(domain=settings.mail.message_id_domain),
            "Date": formatdate(usegmt=True),
            "Content-Language": lang,
            "Auto-Submitted": "auto-generated",
        },
    }


def render(template: str, lang: str, **context: Any) -> tuple[str, str, str]:
    """``(subject, text, html)`` of ``mail/<template>`` rendered with ``lang`` forced."""
    if not _NAME.fullmatch(template):
        raise ValueError(f"not a mail template name: {template!r}")
    env = current_app.jinja_env
    values = {**context, "lang": lang, "signin_url": services.settings().public_url}
    with force_locale(lang):
        text = env.get_template(f"mail/{template}.txt").make_module(values)
        subject = " ".join(str(getattr(text, "subject", "")).split())
        if not subject:
            raise ValueError(f"mail/{template}.txt sets no subject")
        html = env.get_template(f"mail/{template}.html").render(values, subject=subject)
    return subject, str(text).strip() + "\n", html


def choose_language(lang: str, languages: tuple[str, ...]) -> str:
    """``"en-GB"``/``"en_GB"`` -> ``"en"`` when offered, else the first configured language."""
    base = (lang or "").replace("_", "-").split("-")[0].lower()
    return base if base in languages else languages[0]


def recipient_domain(address: str) -> str:
    """The part after the last ``@``: what logs may say about a recipient."""
    return address.rpartition("@")[2].lower() or "?"
