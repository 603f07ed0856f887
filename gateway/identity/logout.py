"""Ending SSO sessions: the one home of every way a session ends, and the hooks that tell the protocols.

Two ways in:

* :func:`end_this_session`: this browser's session (the logout button, a SAML
  SP's LogoutRequest, an OIDC RP-Initiated Logout). The browser is there, so a
  hook may hand it a front-channel logout to follow (SAML's chain through the SPs).
* :func:`end_account_sessions`: sessions of an account seen from elsewhere, all
  of them but one, or just one (a password change or reset, "Mes informations",
  an account disabled by SCIM or the CLI). No browser can carry a chain: the
  protocols tell their parties over the back channel.

Either way the record is deleted from Redis, every hook registered with
:func:`on_session_end` runs once per ended session with one
:class:`EndedSession` value (the context a hook needs travels in it, never in
``flask.g``), and one audit line is written per batch with its reason. A hook
that raises is logged in one line; the other hooks still run (checklist
LOGOUT04, SEC08).

This module knows nothing of Flask: what it needs (the session store, the hooks,
the audit log, the client's address) comes in as one :class:`Ending` value. Its
Flask half, :mod:`gateway.identity.flaskglue.logout`, reads this browser's
``flask.session``, signs Flask-Login out, builds that value, and is what the
views, SCIM and the CLI call; a front-channel logout started there moves on
through its ``moving_on_page``.

The hooks implement the protocols' side: SAML single logout (Profiles §4.4, front
channel or SOAP) in ``saml.slo.chain``, OpenID Connect Back-Channel Logout 1.0 (§2.5)
in ``oidc.backchannel``; the OIDC end-session endpoint (RP-Initiated Logout 1.0
§2-3) passes its validated ``post_logout_redirect_uri`` as ``return_to``.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .redirects import is_local_url
from .sessions import AUTH, SessionStore

log = logging.getLogger("gateway")


@dataclasses.dataclass(frozen=True)
class Initiator:
    """A party's logout request, answered once the other parties were told (SAML SLO: an SP's LogoutRequest)."""

    protocol: str
    #: The party that asked: a SAML SP's entityID.
    party: str
    request_id: str
    relay_state: str | None = None
    #: The party asked for no answer (SAML's ``<aslo:Asynchronous>`` extension).
    asynchronous: bool = False


@dataclasses.dataclass(frozen=True)
class EndedSession:
    """One SSO session that just ended: what every logout hook receives."""

    sid: str
    #: The session's record as it was (its ``_auth`` part: account, time and methods of sign-in...).
    record: Mapping[str, Any]
    account_id: str
    #: True when the browser of this session is the one being answered, so it can follow a
    #: front-channel logout; False for a session ended from elsewhere (parties told over the back channel).
    browser: bool
    initiator: Initiator | None
    #: Where the browser goes once the parties were told (an absolute URL the protocol that ended the
    #: session validated: an OIDC RP's post_logout_redirect_uri); None for the gateway's "déconnecté" page.
    return_to: str | None
    #: Why it ended, as audited: logout, slo, end_session, password.changed, account.disabled,
    #: session.ended_by_user.
    reason: str


@dataclasses.dataclass(frozen=True)
class Ended:
    """This browser's session, ended: whose it was, and what the browser must follow first."""

    account_id: str | None = None
    #: A protocol's front-channel logout (a local path: SAML single logout's chain), or None.
    continuation: str | None = None


#: A hook may return a front-channel logout for the browser (a local path), else None.
Hook = Callable[[EndedSession], str | None]
#: ``hook(old_id, new_id)``: what a protocol recorded under the old session id moves to the new one.
RenewHook = Callable[[str, str], None]
#: ``audit(event, **fields)``: one security log line (:func:`gateway.logs.audit`).
Audit = Callable[..., None]

LOGOUT_HOOKS = "gateway.logout_hooks"
RENEW_HOOKS = "gateway.renew_hooks"


class App(Protocol):
    """What the hook registries need of an application: its ``extensions`` (a Flask app has them)."""

    extensions: dict[str, Any]


def on_session_end(app: App, hook: Hook) -> None:
    """Register ``hook``: it runs once for every session that ends, whatever ended it."""
    app.extensions.setdefault(LOGOUT_HOOKS, []).append(hook)


def on_session_renewed(app: App, hook: RenewHook) -> None:
    """``hook(old_id, new_id)`` runs when a signed-in person signs in again (new id, same account)."""
    app.extensions.setdefault(RENEW_HOOKS, []).append(hook)


def session_end_hooks(app: App) -> Sequence[Hook]:
    """The hooks registered with :func:`on_session_end`, in order."""
    return tuple(app.extensions.get(LOGOUT_HOOKS, ()))


def session_renew_hooks(app: App) -> Sequence[RenewHook]:
    """The hooks registered with :func:`on_session_renewed`, in order."""
    return tuple(app.extensions.get(RENEW_HOOKS, ()))


@dataclasses.dataclass(frozen=True)
class Ending:
    """What ending sessions needs, passed in rather than looked up."""

    sessions: SessionStore
    hooks: Sequence[Hook]
    audit: Audit
    #: The client's address for the audit line; None when no request is answered (the CLI).
    client: str | None = None


def end_this_session(ending: Ending, sid: str, record: Mapping[str, Any], *,
                     initiator: Initiator | None = None, return_to: str | None = None,
                     reason: str = "logout") -> Ended:
    """End the session of the browser being answered (id ``sid``, ``record`` as it was): its Redis record,
    then every hook with ``browser=True``.

    ``initiator`` is the party's request to answer at the end (SAML SLO), ``return_to`` where the browser
    goes once the parties were told (an absolute URL the caller validated). Nothing is raised: a session
    that was not signed in gets ``Ended()`` and no hook runs.
    """
    ending.sessions.delete(sid, record)
    auth = record.get(AUTH)
    if not auth:
        return Ended()
    account_id = str(auth["account"])
    ended = EndedSession(sid, record, account_id, True, initiator, return_to, reason)
    results = _run_hooks(ending.hooks, ended)
    ending.audit("logout", account=account_id, reason=reason, ip=ending.client or "unknown")
    return Ended(account_id, _continuation(results))


def end_account_sessions(ending: Ending, account_id: str, *, except_sid: str | None = None,
                         only_sid: str | None = None, reason: str) -> int:
    """End the account's sessions but ``except_sid`` (all of them, or only ``only_sid``); how many ended.

    Sessions of other browsers: hooks get ``browser=False``. A session id that is not the account's is
    left alone. Nothing is raised.
    """
    if only_sid is None:
        ended = ending.sessions.end_all(account_id, except_sid=except_sid)
    else:
        record = ending.sessions.end(account_id, only_sid) if only_sid != except_sid else None
        ended = [(only_sid, record)] if record is not None else []
    for sid, record in ended:
        _run_hooks(ending.hooks, EndedSession(sid, record, account_id, False, None, None, reason))
    if ended:
        where = {"ip": ending.client} if ending.client is not None else {}
        ending.audit("session.ended", account=account_id, count=len(ended), reason=reason, **where)
    return len(ended)


def session_renewed(hooks: Sequence[RenewHook], old_sid: str, new_sid: str) -> None:
    """Carry what protocols recorded under the old session id over to the new one (every hook, once)."""
    for hook in hooks:
        try:
            hook(old_sid, new_sid)
        except Exception:  # noqa: BLE001 - one protocol's failure must not stop the others
            log.exception("session renewal hook %s failed", getattr(hook, "__name__", hook))


def _run_hooks(hooks: Sequence[Hook], ended: EndedSession) -> list[str | None]:
    """Every hook, once; one that raises is logged in one line (no traceback) and the others still run."""
    results: list[str | None] = []
    for hook in hooks:
        try:
            results.append(hook(ended))
        except Exception as exc:  # noqa: BLE001 - one protocol's failure must not stop the others
            detail = " ".join(str(exc).split())[:200]
            log.error("logout hook %s failed (%s): %s: %s", getattr(hook, "__name__", hook), ended.reason,
                      type(exc).__name__, detail)
    return results


def _continuation(results: list[str | None]) -> str | None:
    """The first hook result that is a local path (e.g. SAML single logout's chain), if any."""
    for result in results:
        if isinstance(result, str) and is_local_url(result):
            return result
    return None
