"""Logging: plain lines for operators, JSON lines for the audit trail.

Security and audit events go to the ``gateway.audit`` logger, one JSON object
per line, with an ``event`` name from :data:`EVENTS`. :class:`Redact` removes
anything that looks like a secret before a record is written, whatever the
logger; a test enforces it.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from flask import Flask, current_app, has_app_context

from . import metrics

AUDIT = "gateway.audit"
_AUDIT_LOGGER = logging.getLogger(AUDIT)
#: ``app.extensions`` key of the functions packages add with :func:`on_audit`.
AUDIT_HOOKS = "gateway.logs.audit_hooks"
#: ``hook(event, fields)``: told of every audit event written while an app is current.
AuditHook = Callable[[str, Mapping[str, Any]], None]

#: Every audit event name the gateway emits.
EVENTS = frozenset({
    "account.created", "account.updated", "account.disabled", "account.password_set",
    "scim.denied", "scim.throttled", "scim.out_of_reach",
    "mail.queued", "mail.sent", "mail.failed", "mail.refused", "mail.expired", "jobs.recovered",
    # sign-in pages
    "login.succeeded", "login.failed", "login.unknown_address", "login.disabled", "logout",
    "limit.refused",
    "activation.sent", "activation.completed", "activation.failed", "code.sent", "code.failed",
    "reset.sent", "reset.completed",
    "password.changed", "session.ended", "email.added", "email.removed", "email.verified", "email.primary",
    # OpenID Connect provider (gateway/oidc)
    "oidc.authorized", "oidc.token_issued", "oidc.code_reused", "oidc.refresh_reused", "oidc.token_revoked",
    "oidc.logout", "oidc.backchannel_queued", "oidc.backchannel_sent", "oidc.backchannel_failed",
    "oidc.client_registered", "oidc.client_updated", "oidc.client_deleted", "oidc.key_rotated",
    # SAML identity provider (gateway/saml)
    "saml.sso.rejected", "saml.sso.issued", "saml.sso.status", "saml.sso.eppn_withheld",
    "saml.persistent_id.created",
    "saml.slo.received", "saml.slo.rejected", "saml.slo.denied", "saml.slo.sent", "saml.slo.answered",
    "saml.slo.failed", "saml.slo.completed",
    "saml.slo.backchannel_queued", "saml.slo.backchannel_sent", "saml.slo.backchannel_failed",
    "saml.slo.backchannel_unreachable",
    # support tools (gateway/support): the API's token checks, and what operators did
    "email.code_sent", "support.denied", "support.throttled", "support.diagnosed", "support.code_given",
    "support.unblocked",
})

_SECRET_FIELDS = {"password", "password_hash", "token", "code", "secret", "cookie", "samlresponse", "authorization"}
_BEARER = re.compile(r"(?i)(bearer\s+)[\w\-.~+/]+=*")
_ARGON = re.compile(r"\$argon2[a-z]*\$[^\s\"']+")


class Redact(logging.Filter):
    """Blank secret-looking fields and values in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in list(vars(record)):
            if _secret(name):
                setattr(record, name, "[redacted]")
        if isinstance(record.msg, str):
            record.msg = _scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_scrub(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):  # log.info("%(token)s", {...})
            record.args = {
                k: "[redacted]" if _secret(k) else _scrub(v) if isinstance(v, str) else v
                for k, v in record.args.items()
            }
        return True


def _secret(name: object) -> bool:
    """Whether a field named ``name`` holds a secret (the one rule :class:`Redact` and :func:`_write` blank by)."""
    return str(name).lower() in _SECRET_FIELDS


def _scrub(text: str) -> str:
    return _ARGON.sub("[redacted]", _BEARER.sub(r"\1[redacted]", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, event, and the record's extra fields."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        standard = self._STANDARD
        extra = {k: v for k, v in vars(record).items() if k not in standard}
        return _line(record.created, record.getMessage(), extra)


_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _line(created: float, event: str, fields: Mapping[str, Any]) -> str:
    """The audit line: the one home of its shape (:class:`JsonFormatter` and :func:`audit`'s direct path)."""
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds"),
        "event": event,
    }
    entry.update(fields)
    return _encode(entry)


def audit(event: str, **fields: Any) -> None:
    """Write one audit line and count it (:func:`gateway.metrics.count`).

    Raises ValueError when ``event`` is not listed in :data:`EVENTS`, KeyError when a field
    is named like a LogRecord attribute (``name``, ``msg``...: logging's own refusal). Then the
    current app's :func:`on_audit` hooks hear of it (an account's activity history, for one).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    if _AUDIT_LOGGER.isEnabledFor(logging.INFO):
        handler = _sole_handler(_AUDIT_LOGGER)
        if handler is not None:
            _write(handler, event, fields)
        else:
            # handed to the handlers directly: Logger.info would also walk the stack for the caller's
            # file and line, which the JSON line does not show
            _AUDIT_LOGGER.handle(_record(event, fields))
    metrics.count(event, fields)
    if has_app_context():
        for hook in current_app.extensions.get(AUDIT_HOOKS, ()):
            hook(event, fields)


def _record(event: str, fields: Mapping[str, Any]) -> logging.LogRecord:
    return _AUDIT_LOGGER.makeRecord(AUDIT, logging.INFO, "gateway.logs", 0, event, None, None, extra=fields)


def _sole_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The handler :func:`configure` gave ``logger``, when a record would reach it alone, through its
    :class:`Redact` and :class:`JsonFormatter` only; None when anything else listens (a test's handler,
    an operator's logging configuration): then the record goes through logging as usual."""
    handlers = logger.handlers
    if len(handlers) != 1 or logger.filters or logger.propagate:
        return None
    handler = handlers[0]
    if (type(handler) is not logging.StreamHandler or not getattr(handler, "_gateway", False)
            or type(handler.formatter) is not JsonFormatter or handler.level > logging.INFO
            or any(type(f) is not Redact for f in handler.filters)):
        return None
    return handler


def _write(handler: logging.StreamHandler[Any], event: str, fields: Mapping[str, Any]) -> None:
    """What ``handler.handle(record)`` would write, without the record: the same line, byte for byte
    (a test compares both), for a third of the CPU (no LogRecord, no walk over its attributes).

    Raises KeyError for a field logging would refuse. :class:`Redact` blanks fields by name; the event
    names (:data:`EVENTS`) hold nothing its patterns would scrub.
    """
    for name in fields:
        if name in JsonFormatter._STANDARD:
            raise KeyError(f"Attempt to overwrite {name!r} in LogRecord")
    kept = {k: "[redacted]" if _secret(k) else v for k, v in fields.items()}
    line = _line(time.time(), event, kept) + handler.terminator
    handler.acquire()
    try:
        handler.stream.write(line)
        handler.flush()
    except RecursionError:  # as logging.StreamHandler.emit does
        raise
    except Exception:
        handler.handleError(_record(event, fields))
    finally:
        handler.release()


def on_audit(app: Flask, hook: AuditHook) -> None:
    """Tell ``hook`` of every audit event ``app`` writes: where the events are emitted stays the one home
    of what happened, and a package keeping a record of its own (an account's history) listens here."""
    app.extensions.setdefault(AUDIT_HOOKS, []).append(hook)


def configure() -> None:
    """Idempotent process-wide setup (the app factory and the CLI call it).

    Our handlers are marked, so a logger whose handlers something removed is set up again.
    """
    redact = Redact()
    root = logging.getLogger("gateway")
    if not _has_ours(root):
        plain = logging.StreamHandler(sys.stderr)
        plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        _add(root, plain, redact)
    root.setLevel(logging.INFO)
    audit_logger = logging.getLogger(AUDIT)
    if not _has_ours(audit_logger):
        audit_handler = logging.StreamHandler(sys.stderr)
        audit_handler.setFormatter(JsonFormatter())
        _add(audit_logger, audit_handler, redact)
    audit_logger.propagate = False


def _has_ours(logger: logging.Logger) -> bool:
    return any(getattr(h, "_gateway", False) for h in logger.handlers)


def _add(logger: logging.Logger, handler: logging.Handler, redact: Redact) -> None:
    handler.addFilter(redact)
    handler._gateway = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


def init_app(app: Flask) -> None:
    configure()
