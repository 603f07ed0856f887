"""An account's activity history, fed by the audit trail, and what became of each mail.

:func:`record` hears every audit event (:func:`gateway.logs.on_audit`) and keeps those
:mod:`gateway.identity.history` keeps. An event from a person's browser (it carries the
client address, ``ip``) gets the browser's user agent and whether its known-device
cookie names the account (:mod:`gateway.identity.devices`), with a short reference to
that device, so that "Activité récente" and support can tell devices apart.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
from flask import has_request_context, request

from .. import services
from ..identity import devices, history
from ..mail import fate as fates

log = logging.getLogger("gateway.support")


def record(event: str, fields: Mapping[str, Any]) -> None:
    """Keep ``event`` in its account's history. Never raises for Redis: the event already happened."""
    account_id = history.account_of(fields)
    if event not in history.EVENTS or account_id is None or history.written_by_caller(event, account_id):
        return
    if "ip" in fields and has_request_context():
        fields = {**fields, **browser(account_id)}
    try:
        services.history().record(event, fields)
    except redis.RedisError as exc:
        log.warning("history of account %s: %s not recorded: %s", account_id, event, exc)


def browser(account_id: str) -> dict[str, Any]:
    """This request's browser (:func:`gateway.identity.history.browser_fields`): user agent, whether its
    known-device cookie names the account, and a short reference to that device."""
    device = services.devices().device_for(request.cookies.get(devices.COOKIE), account_id)
    return history.browser_fields(request.headers.get("User-Agent", ""), device)


def mail_fate(message_id: str) -> str | None:
    """The state of the mail ``message_id`` (:data:`gateway.mail.fate.STATES`: queued, accepted, retrying,
    refused, failed, expired), None once forgotten.

    The one place the support tools ask the mail package (:func:`gateway.mail.fate.fate`).
    """
    found = fates.fate(services.store(), message_id)
    return found.state if found is not None else None