"""Ending SSO sessions, and telling the protocols so they can tell their parties.

SAML and OIDC register a hook with :func:`on_session_end`; whatever ends a
session (logout button, SLO, password reset, a session ended from "Mes
informations", a disabled account) calls :func:`session_ended` for each
session, and every hook runs. Hooks must not raise; an error is logged.
A hook may return a front-channel logout for the browser to follow
(:func:`continuation`), which ends at :func:`return_to` when the protocol that
ended the session asked for it (OIDC RP-Initiated Logout). Such a logout is
started, and moved on after a form, by :func:`moving_on_page`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app, g, make_response, render_template
from werkzeug.wrappers import Response

from .redirects import is_local_url, refresh_header
from .redirects import location as checked_location  # a name of this module's too

#: A hook may return something for the caller (e.g. SAML single logout: the chain's local URL to follow).
Hook = Callable[[str, Mapping[str, Any]], Any]
log = logging.getLogger("gateway")


def on_session_end(app: Flask, hook: Hook) -> None:
    app.extensions.setdefault("gateway.logout_hooks", []).append(hook)


def session_ended(sid: str, data: Mapping[str, Any]) -> list[Any]:
    """Run every hook for a session that just ended; returns what the hooks returned."""
    results = []
    for hook in current_app.extensions.get("gateway.logout_hooks", []):
        try:
            results.append(hook(sid, data))
        except Exception:  # noqa: BLE001 - one protocol's failure must not stop the others
            log.exception("logout hook %s failed", getattr(hook, "__name__", hook))
    return results


def continuation(results: list[Any]) -> str | None:
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


#: The ``flask.g`` attribute holding :func:`return_to` while a session ends.
RETURN_TO = "logout_return_to"


def return_to() -> str | None:
    """Where the browser goes once the parties of the session it is ending were told, when the protocol
    that ends it said so (:func:`gateway.identity.end.end_current_session`); None for the gateway's page."""
    value = g.get(RETURN_TO)
    return str(value) if value else None


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
