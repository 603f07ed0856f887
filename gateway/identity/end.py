"""End this browser's SSO session, for any protocol (OIDC RP-Initiated Logout, SAML SLO).

The same steps as the logout button (``web.signin.sign_out``), without the
web package: the record is deleted from Redis, the session emptied, and every
protocol's logout hook runs (:func:`gateway.identity.logout.session_ended`),
so SAML SPs and OIDC RPs of the session are told (checklist LOGOUT04, SEC08).
"""
from __future__ import annotations

from flask import g, session

from .. import services
from ..logs import audit
from .current import client_address
from .logout import session_ended
from .sessions import AUTH


def end_current_session() -> str | None:
    """End the session everywhere; returns the account id that was signed in, or None."""
    data = dict(session)
    sid = getattr(session, "sid", "")
    auth = data.get(AUTH)
    services.sessions().delete(sid, data)
    session.clear()
    g.pop("_login_user", None)  # Flask-Login's per-request cache of the user
    if not auth:
        return None
    session_ended(sid, data)
    audit("logout", account=auth["account"], ip=client_address())
    return str(auth["account"])


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
