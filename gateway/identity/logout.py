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
LOGOUT04, SEC08). A front-channel logout started here moves on through
:func:`moving_on_page`.

The hooks implement the protocols' side: SAML single logout (Profiles §4.4, front
channel or SOAP) in ``saml.chain``, OpenID Connect Back-Channel Logout 1.0 (§2.5)
in ``oidc.backchannel``; the OIDC end-session endpoint (RP-Initiated Logout 1.0
§2-3) passes its validated ``post_logout_redirect_uri`` as ``return_to``.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import (Flask, current_app, has_request_context, make_response, redirect, render_template, session,
                   url_for)
from flask_login import logout_user
from werkzeug.wrappers import Response

from .. import services
from ..logs import audit
from .current import client_address
from .redirects import is_local_url, refresh_header
from .redirects import location as checked_location  # a name of this module's too
from .sessions import AUTH

log = logging.getLogger("gateway")
#: session key (of the anonymous session after a logout): the applications it told, which confirmed, which not
LOGOUT_OUTCOME = "logout_outcome"


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


def on_session_end(app: Flask, hook: Hook) -> None:
    """Register ``hook``: it runs once for every session that ends, whatever ended it."""
    app.extensions.setdefault("gateway.logout_hooks", []).append(hook)


def end_this_session(*, initiator: Initiator | None = None, return_to: str | None = None,
                     reason: str = "logout") -> Ended:
    """End this browser's session everywhere: its Redis record, ``flask.session``, Flask-Login's user, the
    parties (every hook, with ``browser=True``).

    ``initiator`` is the party's request to answer at the end (SAML SLO), ``return_to`` where the browser
    goes once the parties were told (an absolute URL the caller validated). Needs a request context.
    Nothing is raised: a browser without a signed-in session gets ``Ended()`` and no hook runs.
    """
    record = dict(session)
    sid = getattr(session, "sid", "")
    auth = record.get(AUTH)
    services.sessions().delete(sid, record)
    logout_user()
    session.clear()
    if not auth:
        return Ended()
    account_id = str(auth["account"])
    ended = EndedSession(sid, record, account_id, True, initiator, return_to, reason)
    results = _run_hooks(ended)
    audit("logout", account=account_id, reason=reason, ip=client_address())
    return Ended(account_id, _continuation(results))


def end_account_sessions(account_id: str, *, except_sid: str | None = None, only_sid: str | None = None,
                         reason: str) -> int:
    """End the account's sessions but ``except_sid`` (all of them, or only ``only_sid``); how many ended.

    Sessions of other browsers: hooks get ``browser=False``. A session id that is not the account's is
    left alone. Needs an application context (the CLI builds the app); nothing is raised.
    """
    sessions = services.sessions()
    if only_sid is None:
        ended = sessions.end_all(account_id, except_sid=except_sid)
    else:
        record = sessions.end(account_id, only_sid) if only_sid != except_sid else None
        ended = [(only_sid, record)] if record is not None else []
    for sid, record in ended:
        _run_hooks(EndedSession(sid, record, account_id, False, None, None, reason))
    if ended:
        where = {"ip": client_address()} if has_request_context() else {}
        audit("session.ended", account=account_id, count=len(ended), reason=reason, **where)
    return len(ended)


def _run_hooks(ended: EndedSession) -> list[str | None]:
    """Every hook, once; one that raises is logged in one line (no traceback) and the others still run."""
    results: list[str | None] = []
    for hook in current_app.extensions.get("gateway.logout_hooks", []):
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


def moving_on_page(location: str) -> Response:
    """A page of the gateway that goes on to ``location`` by itself: a new navigation, not a redirect.

    Every page here sends ``Content-Security-Policy: form-action 'self'`` (the SAML
    POST pages: their SP's endpoint), and Chromium applies ``form-action`` to every
    redirect that follows a form submission: after the logout button, a 302 to an
    SP's SingleLogoutService on another origin is refused ("Refused to send form
    data"), and the SP is never told. This page moves on with ``Refresh: 0`` (no
    script), a navigation ``form-action`` does not govern; its link (a link: a form
    would be governed again) is there for the rest. See README, "The continue page".
    ``location`` is validated and re-serialised first (:mod:`.redirects`). Raises UnsafeUrl.
    """
    target = checked_location(location)
    response = make_response(render_template("logout/continue.html", location=target))
    response.headers["Refresh"] = refresh_header(target)
    return response


def logged_out_landing(done: Iterable[str] = (), unconfirmed: Iterable[str] = ()) -> Response:
    """Where every logout ends (button, SLO chain, OIDC end-session without a way back): the sign-in page
    saying "Vous êtes déconnecté", listing the applications that confirmed (``done``) and those that did
    not (``unconfirmed``), names as the person knows them, kept for it in this browser's (new, anonymous)
    session: nothing in the URL, so nobody can make the page list what did not happen."""
    outcome = {"done": sorted(done)[:50], "unconfirmed": sorted(unconfirmed)[:50]}
    if outcome["done"] or outcome["unconfirmed"]:
        session[LOGOUT_OUTCOME] = outcome
    response = redirect(url_for("login.address", logged_out=1))
    response.headers["Cache-Control"] = "no-store"
    return response


def logout_outcome() -> dict[str, list[str]]:
    """The applications the last logout of this browser told: ``done`` and ``unconfirmed`` (read once)."""
    outcome = session.pop(LOGOUT_OUTCOME, None) or {}
    return {"done": list(outcome.get("done", [])), "unconfirmed": list(outcome.get("unconfirmed", []))}


RenewHook = Callable[[str, str], None]


def on_session_renewed(app: Flask, hook: RenewHook) -> None:
    """``hook(old_id, new_id)`` runs when a signed-in person signs in again (new id, same account)."""
    app.extensions.setdefault("gateway.renew_hooks", []).append(hook)


def session_renewed(old_sid: str, new_sid: str) -> None:
    """Carry what protocols recorded under the old session id over to the new one."""
    for hook in current_app.extensions.get("gateway.renew_hooks", []):
        try:
            hook(old_sid, new_sid)
        except Exception:  # noqa: BLE001 - one protocol's failure must not stop the others
            log.exception("session renewal hook %s failed", getattr(hook, "__name__", hook))
