"""Who is signed in, for the web pages and the protocols (SAML, OIDC).

The protocols never import the sign-in pages: they call :func:`require_login`
with the URL to resume, and read :func:`current_authentication`.
"""
from __future__ import annotations

from flask import has_request_context, redirect, request, session, url_for
from werkzeug.wrappers import Response

from ..models import Authentication
from ..redirects import is_local_url
from ..sessions import AUTH


def current_authentication() -> Authentication | None:
    """The sign-in of this browser's SSO session, or None."""
    record = session.get(AUTH)
    if not record:
        return None
    return Authentication.from_record(record, getattr(session, "sid", ""))


def signed_in_session_id() -> str | None:
    """This browser's SSO session id when it is signed in; None otherwise (anonymous, or no request: CLI)."""
    auth = current_authentication() if has_request_context() else None
    return auth.session_id if auth else None


def require_login(resume_url: str, *, force: bool = False, login_hint: str | None = None) -> Response:
    """Send the person to the sign-in page, then back to ``resume_url`` (a local path).

    ``force`` asks for the password even with a session (SAML ForceAuthn, OIDC prompt=login).
    """
    if not is_local_url(resume_url):
        resume_url = "/account"
    args: dict[str, str] = {"next": resume_url}
    if force:
        args["force"] = "1"
    if login_hint:
        args["login_hint"] = login_hint
    return redirect(url_for("login.address", **args))  # type: ignore[arg-type]


def client_address() -> str:
    """The client's address as the trusted proxy reports it (gunicorn handles X-Forwarded-For)."""
    return request.remote_addr or "unknown"
