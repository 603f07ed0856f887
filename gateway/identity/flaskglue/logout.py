"""The Flask half of ending sessions (the rules: :mod:`gateway.identity.logout`).

What the views (logout button, SAML SLO, OIDC end-session), SCIM and the CLI
call: this browser's ``flask.session`` and Flask-Login's user are cleared here,
the session store, the app's hooks, the audit log and the client's address are
gathered into one :class:`~gateway.identity.logout.Ending`, and the core ends
the sessions and runs the hooks. :func:`moving_on_page` is the page a
front-channel logout moves on with.
"""
from __future__ import annotations

import hmac
from collections.abc import Iterable

from flask import current_app, has_request_context, make_response, redirect, render_template, session, url_for
from flask_login import logout_user
from werkzeug.wrappers import Response

from ... import services
from ...logs import audit
from .. import logout
from ..logout import Ended, Initiator
from ..names import shown_name
from ..redirects import location as checked_location
from ..redirects import refresh_header
from .current import client_address

#: session key (of the anonymous session after a logout): the applications it told, which confirmed, which not
LOGOUT_OUTCOME = "logout_outcome"
#: session key (idem): the logout chain this browser follows (its continuation path, which names its token)
LOGOUT_CHAIN = "logout_chain"


def ending() -> logout.Ending:
    """This app's collaborators for ending sessions; the client's address when a request is answered."""
    client = client_address() if has_request_context() else None
    return logout.Ending(services.sessions(), logout.session_end_hooks(current_app), audit, client)


def end_this_session(*, initiator: Initiator | None = None, return_to: str | None = None,
                     reason: str = "logout") -> Ended:
    """End this browser's session everywhere (:func:`gateway.identity.logout.end_this_session`), and clear
    ``flask.session`` and Flask-Login's user. Needs a request context; nothing is raised."""
    record = dict(session)
    sid = getattr(session, "sid", "")
    logout_user()
    session.clear()
    ended = logout.end_this_session(ending(), sid, record, initiator=initiator, return_to=return_to,
                                    reason=reason)
    if ended.continuation:  # only this browser follows the chain (follows_this_logout): kept in a new
        session.regenerate()  # type: ignore[attr-defined]  # anonymous session (the old record is gone)
        session[LOGOUT_CHAIN] = ended.continuation
    return ended


def follows_this_logout(continuation: str) -> bool:
    """Whether ``continuation`` (a logout chain's path, naming its token) is the chain this browser's own
    logout started. A chain's link handed to another browser must not carry on there: it would send the
    first person's LogoutRequests from it and end on its sign-in page listing their applications."""
    mine = session.get(LOGOUT_CHAIN)
    return isinstance(mine, str) and hmac.compare_digest(mine.encode(), continuation.encode())


def end_account_sessions(account_id: str, *, except_sid: str | None = None, only_sid: str | None = None,
                         reason: str) -> int:
    """End the account's sessions but ``except_sid`` (all, or only ``only_sid``); how many ended
    (:func:`gateway.identity.logout.end_account_sessions`). Needs an application context (the CLI builds
    the app); nothing is raised."""
    return logout.end_account_sessions(ending(), account_id, except_sid=except_sid, only_sid=only_sid,
                                       reason=reason)


def session_renewed(old_sid: str, new_sid: str) -> None:
    """Carry what protocols recorded under the old session id over to the new one (this app's hooks)."""
    logout.session_renewed(logout.session_renew_hooks(current_app), old_sid, new_sid)


def moving_on_page(location: str) -> Response:
    """A page of the gateway that goes on to ``location`` by itself: a new navigation, not a redirect.

    Every page here sends ``Content-Security-Policy: form-action 'self'`` (the SAML
    POST pages: their SP's endpoint), and Chromium applies ``form-action`` to every
    redirect that follows a form submission: after the logout button, a 302 to an
    SP's SingleLogoutService on another origin is refused ("Refused to send form
    data"), and the SP is never told. This page moves on with ``Refresh: 0`` (no
    script), a navigation ``form-action`` does not govern; its link (a link: a form
    would be governed again) is there for the rest. See README, "The continue page".
    ``location`` is validated and re-serialised first (:mod:`..redirects`). Raises UnsafeUrl.
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
    outcome = {"done": sorted(map(shown_name, done))[:50],
               "unconfirmed": sorted(map(shown_name, unconfirmed))[:50]}
    if outcome["done"] or outcome["unconfirmed"]:
        session[LOGOUT_OUTCOME] = outcome
    response = redirect(url_for("login.address", logged_out=1))
    response.headers["Cache-Control"] = "no-store"
    return response


def logout_outcome() -> dict[str, list[str]]:
    """The applications the last logout of this browser told: ``done`` and ``unconfirmed`` (read once)."""
    outcome = session.pop(LOGOUT_OUTCOME, None) or {}
    return {"done": list(outcome.get("done", [])), "unconfirmed": list(outcome.get("unconfirmed", []))}
