"""End this browser's SSO session, for any protocol (OIDC RP-Initiated Logout, SAML SLO).

The same steps as the logout button (``web.signin.sign_out``), without the
web package: the record is deleted from Redis, the session emptied, and every
protocol's logout hook runs (:func:`gateway.identity.logout.session_ended`),
so SAML SPs and OIDC RPs of the session are told (checklist LOGOUT04, SEC08).
"""
from __future__ import annotations

import dataclasses

from flask import g, session

from .. import services
from ..logs import audit
from .current import client_address
from .logout import RETURN_TO, continuation, session_ended
from .sessions import AUTH


@dataclasses.dataclass(frozen=True)
class Ended:
    """This browser's session, ended: whose it was, and what the browser must follow first."""

    account_id: str | None = None
    #: A protocol's front-channel logout (a local path: SAML single logout's chain), or None.
    continuation: str | None = None


def end_current_session(return_to: str | None = None) -> Ended:
    """End the session everywhere.

    ``return_to`` (an absolute URL the caller validated: an OIDC RP's post_logout_redirect_uri) is where
    a front-channel logout the hooks start ends, instead of the gateway's "déconnecté" page.
    """
    data = dict(session)
    sid = getattr(session, "sid", "")
    auth = data.get(AUTH)
    services.sessions().delete(sid, data)
    session.clear()
    g.pop("_login_user", None)  # Flask-Login's per-request cache of the user
    if not auth:
        return Ended()
    setattr(g, RETURN_TO, return_to)
    try:
        results = session_ended(sid, data)
    finally:
        g.pop(RETURN_TO, None)
    audit("logout", account=auth["account"], ip=client_address())
    return Ended(str(auth["account"]), continuation(results))


def end_every_session(account_id: str) -> int:
    """End every SSO session of the account (it was disabled); each protocol's hooks run.

    Needs an application context (the SCIM API has one; the CLI builds the app).
    """
    ended = services.sessions().end_all(account_id)
    for sid, data in ended:
        session_ended(sid, data)
    if ended:
        audit("session.ended", account=account_id, count=len(ended), reason="account.disabled")
    return len(ended)
