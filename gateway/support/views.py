"""The support API for cockpit's support screens, under /support/v1: JSON in, JSON out.

Every request needs a bearer token whose service has the ``support`` scope
(``scim.token_scopes``, :mod:`gateway.bearer`: missing or wrong tokens, and
tokens without the scope, are refused and counted per client). Errors are
``{"error": code, "detail": text}`` (:func:`gateway.errors.support_error`).
Texts follow ``?lang=en`` (French otherwise). Each call is audited with the
calling service's name (and the operator's, for the actions).

* ``GET /support/v1/diagnose?address=…`` — :func:`.diagnosis.diagnose`, with its reasons and lines;
* ``POST /support/v1/code`` ``{"address", "operator"}`` — a code to read out (:func:`.actions.give_code`);
* ``POST /support/v1/unblock`` ``{"address", "operator"}`` — lift delays, limits (:func:`.actions.unblock`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from ..bearer import Refused, authenticate
from ..errors import support_error
from ..identity.signin.errors import AccountUnavailable
from ..logs import audit
from . import actions, diagnosis, words

PREFIX = "/support/v1"
SCOPE = "support"
#: The largest request body accepted.
MAX_BODY = 4 * 1024

bp = Blueprint("support", __name__, url_prefix=PREFIX)


@bp.before_request
def _authenticate() -> tuple[Response, int] | None:
    request.max_content_length = MAX_BODY
    try:
        g.support_service = authenticate(SCOPE, "support")
    except Refused as exc:
        response, status = support_error(exc.status, exc.detail)
        if exc.status in (401, 403):  # RFC 6750 §3
            error = "invalid_token" if exc.status == 401 else "insufficient_scope"
            response.headers["WWW-Authenticate"] = f'Bearer realm="support", error="{error}"'
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    return None


@bp.errorhandler(diagnosis.UnknownAddress)
def _unknown(exc: diagnosis.UnknownAddress) -> tuple[Response, int]:
    return support_error(404, "no account has this address", "unknown_address")


@bp.errorhandler(AccountUnavailable)
def _disabled(exc: AccountUnavailable) -> tuple[Response, int]:
    return support_error(409, "the account is disabled: no code can be given", "account_disabled")


class BadRequest(Exception):
    """A request body or query without what the call needs."""


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> tuple[Response, int]:
    return support_error(400, str(exc), "invalid_request")


@bp.get("/diagnose")
def diagnose() -> Response:
    found = diagnosis.diagnose(_text(request.args, "address"))
    audit("support.diagnosed", account=found.account.id, service=g.support_service)
    return jsonify(to_json(found))


@bp.post("/code")
def code() -> Response:
    body = _body()
    given = actions.give_code(_text(body, "address"), _text(body, "operator"), g.support_service)
    return jsonify(address=given.address, purpose=given.purpose, code=given.code, expires_at=given.expires_at)


@bp.post("/unblock")
def unblock() -> Response:
    body = _body()
    address = _text(body, "address")
    lifted = actions.unblock(address, _text(body, "operator"), g.support_service)
    return jsonify(address=address, lifted=lifted)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("a JSON object is required")
    return data


def _text(source: Any, name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} is required")
    return value.strip()


def to_json(d: diagnosis.Diagnosis) -> dict[str, Any]:
    """The diagnosis as JSON: values for screens, and the same lines the command prints (``summary``)."""
    reasons = diagnosis.reasons(d)
    return {
        "account": {"id": d.account.id, "status": d.account.status, "display_name": d.account.display_name},
        "address": d.asked,
        "password_set": d.password_set,
        "reasons": [{"code": r.code, **r.values, "text": words.reason_line(r)} for r in reasons],
        "addresses": [dataclasses.asdict(a) for a in d.addresses],
        "delays": [dataclasses.asdict(x) for x in d.delays],
        "codes": [dataclasses.asdict(c) for c in d.codes],
        "mails": [dataclasses.asdict(m) for m in d.mails],
        "events": [{"at": e.at, "event": e.event, **words.describe(e, d.account)} for e in d.events],
        "sessions": [{"auth_time": s.auth_time, "last_seen": s.last_seen, "ip": s.ip,
                      "device": words.device_name(s.user_agent)} for s in d.sessions],
        "summary": words.diagnosis_lines(d, reasons),
    }
