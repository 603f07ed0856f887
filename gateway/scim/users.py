"""The /Users operations (RFC 7644 §3.3–§3.6), each one call for a view, no Flask.

Every write goes through :meth:`Directory.create` or :meth:`Directory.update`
with a pure change function, so concurrent writers never lose an update, and
an ``If-Match`` precondition (RFC 7644 §3.14) is checked against the very
version that gets replaced. Each effective change writes one audit line
naming the calling service and the account id. A service limited by
``scim.reach`` writes only within it (:mod:`.reach`), checked on the very
version being replaced.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from ..accounts.directory import Directory, new_account_id
from ..accounts.emails import normalize_email
from ..accounts.errors import InvalidEmail
from ..accounts.models import Account
from ..identity.flaskglue.logout import end_account_sessions
from ..logs import audit
from .filters import Query, parse_filter
from .patch import apply_operations, parse_operations
from .problems import ScimProblem, not_found
from .reach import Reach, check_write
from .resources import etag, to_account, to_resource
from .schema import LIST_RESPONSE

_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Account fields named in audit lines when they change (never the password hash).
_AUDITED = (
    "emails", "given_name", "family_name", "display_name", "affiliations",
    "establishment", "eppn", "legacy_ids", "legacy_qualifiers", "legacy_eppns", "liste_rouge", "status",
)

#: The entity tags of an If-Match header ("*" for any), or None without one.
Preconditions = frozenset[str] | None


@dataclasses.dataclass(frozen=True)
class Context:
    """Who calls and where resources live: the directory, ``…/scim/v2``, the service name and
    what it may write (None: not limited)."""

    directory: Directory
    base_url: str
    service: str
    reach: Reach | None = None


def get_user(ctx: Context, account_id: str) -> Account:
    """GET /Users/{id} (RFC 7644 §3.4.1). Disabled accounts are returned too."""
    account = ctx.directory.get(account_id) if _ID.fullmatch(account_id) else None
    if account is None:
        raise not_found(account_id)
    return account


def create_user(ctx: Context, body: Any) -> Account:
    """POST /Users (RFC 7644 §3.3): a new account, ``provisioned`` unless ``active`` is false."""
    account = to_account(body, None, new_account_id())
    _within_reach(ctx, None, account)
    created = ctx.directory.create(account)
    audit("account.created", service=ctx.service, account_id=created.id)
    return created


def replace_user(ctx: Context, account_id: str, body: Any, if_match: Preconditions) -> Account:
    """PUT /Users/{id} (RFC 7644 §3.5.1), see :mod:`.resources` for what is replaced."""

    def change(current: Account) -> Account:
        _check_version(current, if_match)
        return _within_reach(ctx, current, to_account(body, current, current.id))

    return _save(ctx, account_id, change)


def patch_user(ctx: Context, account_id: str, body: Any, if_match: Preconditions) -> Account:
    """PATCH /Users/{id} (RFC 7644 §3.5.2): edit the resource, then map it back like a PUT."""
    operations = parse_operations(body)

    def change(current: Account) -> Account:
        _check_version(current, if_match)
        patched = apply_operations(to_resource(current, ctx.base_url), operations)
        return _within_reach(ctx, current, to_account(patched, current, current.id))

    return _save(ctx, account_id, change)


def disable_user(ctx: Context, account_id: str, if_match: Preconditions) -> Account:
    """DELETE /Users/{id} (RFC 7644 §3.6) disables the account; nothing is erased."""

    def change(current: Account) -> Account:
        _check_version(current, if_match)
        return _within_reach(ctx, current, dataclasses.replace(current, status="disabled"))

    return _save(ctx, account_id, change)


def list_users(ctx: Context, filter_text: str | None, start: int, count: int) -> dict[str, Any]:
    """GET /Users (RFC 7644 §3.4.2): a ListResponse page, in creation order when unfiltered.

    ``start`` is 1-based; ``count`` already bounded by :func:`.filters.parse_paging`.
    """
    if filter_text is not None and filter_text.strip():
        found = _search(ctx.directory, parse_filter(filter_text))
        total, page = len(found), found[start - 1:start - 1 + count]
    else:
        total = ctx.directory.count()
        ids = ctx.directory.ids(start - 1, start + count - 2) if count else []
        page = [a for a in map(ctx.directory.get, ids) if a is not None]
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(page),
        "startIndex": start,
        "Resources": [to_resource(a, ctx.base_url) for a in page],
    }


def _search(directory: Directory, query: Query) -> list[Account]:
    """``userName`` matches the primary address only; ``emails`` any address of the account."""
    try:
        address = normalize_email(query.value)
    except InvalidEmail:
        return []
    account = directory.find_by_email(address)
    if account is None or (query.attribute == "userName" and account.primary_email != address):
        return []
    return [account]


def _check_version(current: Account, if_match: Preconditions) -> None:
    """If-Match, compared weakly as RFC 7644 §3.14 does with its weak ETags."""
    if if_match is not None and "*" not in if_match and str(current.version) not in if_match:
        raise ScimProblem(412, f"the User has changed; its version is now {etag(current)}")


def _within_reach(ctx: Context, before: Account | None, after: Account) -> Account:
    """``after``, when the service may write it (:func:`.reach.check_write`). Raises ScimProblem (403)."""
    try:
        check_write(ctx.reach, before, after)
    except ScimProblem as exc:
        audit("scim.out_of_reach", service=ctx.service, account_id=before.id if before else None,
              reason=exc.detail)
        raise
    return after


def _save(ctx: Context, account_id: str, change: Callable[[Account], Account]) -> Account:
    """Apply ``change`` through the directory and audit what it changed."""
    if not _ID.fullmatch(account_id):
        raise not_found(account_id)
    seen: list[Account] = []

    def recorded(current: Account) -> Account:
        seen.append(current)
        return change(current)

    updated = ctx.directory.update(account_id, recorded)
    _audit_change(ctx, seen[-1], updated)
    return updated


def _audit_change(ctx: Context, before: Account, after: Account) -> None:
    if after.version == before.version:
        return
    changed = [name for name in _AUDITED if getattr(before, name) != getattr(after, name)]
    disabled = after.status == "disabled" and before.status != "disabled"
    event = "account.disabled" if disabled else "account.updated"
    audit(event, service=ctx.service, account_id=after.id, changed=changed)
    if disabled:  # its sessions end everywhere: SPs and RPs are told (back-channel logout)
        end_account_sessions(after.id, reason="account.disabled")
