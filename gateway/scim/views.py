"""SCIM 2.0 endpoints under /scim/v2 (RFC 7644 §3, §4): parse, call one function, respond.

Every request needs a provisioning service's bearer token (:mod:`.auth`);
every response is ``application/scim+json``; failures are SCIM error JSON
(RFC 7644 §3.12) built from :class:`.problems.ScimProblem` and the directory's
errors by the handlers below.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, request

from .. import services
from ..accounts.errors import AccountsError
from ..accounts.models import Account
from ..errors import scim_error
from . import discovery, users
from .auth import require_token
from .filters import parse_paging
from .problems import ScimProblem, from_accounts_error, invalid_syntax
from .reach import reach_of
from .resources import location, to_resource
from .schema import MEDIA_TYPE

PREFIX = "/scim/v2"
#: The largest request body accepted; one User is a few KiB at most.
MAX_BODY = 64 * 1024
_JSON_TYPES = (MEDIA_TYPE, "application/json")

bp = Blueprint("scim", __name__, url_prefix=PREFIX)


@bp.before_request
def _authenticate() -> tuple[Response, int] | None:
    request.max_content_length = MAX_BODY
    return require_token()


@bp.after_request
def _media_type(response: Response) -> Response:
    """RFC 7644 §3.1: SCIM messages are application/scim+json."""
    response.mimetype = MEDIA_TYPE
    return response


@bp.errorhandler(ScimProblem)
def _problem(exc: ScimProblem) -> tuple[Response, int]:
    return scim_error(exc.status, exc.detail, exc.scim_type)


@bp.errorhandler(AccountsError)
def _directory_error(exc: AccountsError) -> tuple[Response, int]:
    return _problem(from_accounts_error(exc))


# -- /Users -------------------------------------------------------------------

@bp.post("/Users")
def create_user() -> Response:
    return _user(users.create_user(_context(), _body()), 201)


@bp.get("/Users")
def list_users() -> Response:
    start, count = parse_paging(request.args.get("startIndex"), request.args.get("count"))
    return _json(users.list_users(_context(), request.args.get("filter"), start, count))


@bp.get("/Users/<account_id>")
def get_user(account_id: str) -> Response:
    return _user(users.get_user(_context(), account_id))


@bp.put("/Users/<account_id>")
def replace_user(account_id: str) -> Response:
    return _user(users.replace_user(_context(), account_id, _body(), _if_match()))


@bp.patch("/Users/<account_id>")
def patch_user(account_id: str) -> Response:
    return _user(users.patch_user(_context(), account_id, _body(), _if_match()))


@bp.delete("/Users/<account_id>")
def delete_user(account_id: str) -> Response:
    users.disable_user(_context(), account_id, _if_match())
    return Response(status=204)


# -- discovery (RFC 7644 §4) ------------------------------------------------------

@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    _refuse_filter()
    return _json(discovery.service_provider_config(_base_url()))


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    _refuse_filter()
    return _json(discovery.list_response([discovery.user_resource_type(_base_url())]))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    if name != "User":
        raise ScimProblem(404, f"no resource type {name!r}")
    return _json(discovery.user_resource_type(_base_url()))


@bp.get("/Schemas")
def schemas() -> Response:
    _refuse_filter()
    return _json(discovery.list_response(discovery.schemas(_base_url())))


@bp.get("/Schemas/<urn>")
def schema(urn: str) -> Response:
    found = discovery.schema(_base_url(), urn)
    if found is None:
        raise ScimProblem(404, f"no schema {urn!r}")
    return _json(found)


# -- helpers -----------------------------------------------------------------------

def _base_url() -> str:
    """From the configured public URL, never from the Host header."""
    return services.settings().public_url.rstrip("/") + PREFIX


def _context() -> users.Context:
    reach = reach_of(g.scim_service, services.settings().scim.reach)
    return users.Context(services.directory(), _base_url(), g.scim_service, reach)


def _body() -> Any:
    """The JSON body (RFC 7644 §3.1, §3.8). Raises ScimProblem; werkzeug raises 413 over MAX_BODY."""
    if request.mimetype not in _JSON_TYPES:
        raise ScimProblem(415, f"send the body as {MEDIA_TYPE}")
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid_syntax("the body is not valid JSON") from None


def _if_match() -> users.Preconditions:
    """The If-Match entity tags, weak or strong (RFC 7644 §3.14), or None without the header."""
    tags = request.if_match
    if not tags:
        return None
    if tags.star_tag:
        return frozenset({"*"})
    return frozenset(tags.as_set(include_weak=True))


def _refuse_filter() -> None:
    """RFC 7644 §4: a filter on a discovery endpoint SHOULD get 403."""
    if "filter" in request.args:
        raise ScimProblem(403, "discovery endpoints take no filter")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=MEDIA_TYPE)


def _user(account: Account, status: int = 200) -> Response:
    """One User, with its ETag; a conditional GET may answer 304 (RFC 7644 §3.14)."""
    response = _json(to_resource(account, _base_url()), status)
    response.set_etag(str(account.version), weak=True)
    if status == 201:
        response.headers["Location"] = location(_base_url(), account.id)
    if request.method == "GET":
        response.make_conditional(request)  # 304 when If-None-Match holds the ETag
    return response
