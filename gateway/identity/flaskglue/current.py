"""Who is signed in, for the web pages and the protocols (SAML, OIDC).

The protocols never import the sign-in pages: they call :func:`require_login`
with the URL to resume, and read :func:`current_authentication`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from flask import has_request_context, redirect, request, session, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from ...accounts.models import Account, from_hash
from ..models import Authentication
from ..names import shown_name
from ..redirects import is_local_url
from ..sessions import AUTH

#: session key: the application a pending sign-in leads to (its names by language) and the path resuming it
DESTINATION = "destination"


def current_authentication() -> Authentication | None:
    """The sign-in of this browser's SSO session, or None."""
    record = session.get(AUTH)
    if not record:
        return None
    return Authentication.from_record(record, getattr(session, "sid", ""))


def current_account(account_id: str, read: Callable[[str], Account | None]) -> Account | None:
    """The account ``account_id`` of this request's sign-in: as read with the session for a view marked
    :func:`~gateway.identity.flaskglue.session_interface.session_with_account` (None when it is gone),
    else ``read(account_id)`` now. Whether it is active is the caller's to check."""
    prefetched = getattr(session, "account_fields", None)
    if prefetched is not None and prefetched[0] == account_id:
        return from_hash(prefetched[1]) if prefetched[1] else None
    return read(account_id)


def signed_in_session_id() -> str | None:
    """This browser's SSO session id when it is signed in; None otherwise (anonymous, or no request: CLI)."""
    auth = current_authentication() if has_request_context() else None
    return auth.session_id if auth else None


def require_login(resume_url: str, *, force: bool = False, login_hint: str | None = None,
                  app_names: Iterable[tuple[str, str]] = ()) -> Response:
    """Send the person to the sign-in page, then back to ``resume_url`` (a local path).

    ``force`` asks for the password even with a session (SAML ForceAuthn, OIDC prompt=login).
    ``app_names``: (language, name) pairs of the application the sign-in is for (an SP's
    mdui:DisplayName, an OIDC client_name; language "" when unknown), kept in the session
    with ``resume_url`` for the pages to name it (:func:`destination_name`), as
    :func:`gateway.identity.names.shown_name` cleans them.
    """
    if not is_local_url(resume_url):
        resume_url = "/account"
    names = {lang: shown_name(name) for lang, name in app_names if shown_name(name)}
    if names:
        session[DESTINATION] = {"for": resume_url, "names": names}
    else:
        session.pop(DESTINATION, None)
    args: dict[str, str] = {"next": resume_url}
    if force:
        args["force"] = "1"
    if login_hint:
        args["login_hint"] = login_hint
    return redirect(url_for("login.address", **args))  # type: ignore[arg-type]


def destination_name(lang: str) -> str:
    """The application this browser is signing in to, in ``lang`` (else in another language), or "".

    Only while the sign-in it was named for is pending (the pages until the way back) or on
    the way back itself (its error page), never from a value the request carries.
    """
    record = session.get(DESTINATION) if has_request_context() else None
    if not record or record["for"] not in (session.get("next"), request.full_path.rstrip("?")):
        return ""
    return name_in(record["names"], lang)


def name_in(names: Mapping[str, str], lang: str) -> str:
    """The name in ``lang``, else in another language (the first given), else ""."""
    return names.get(lang) or next(iter(names.values()), "")


def page_language() -> str:
    """The language of the page being rendered: fr or en (Flask-Babel's choice for this request)."""
    return str(get_locale() or "fr")


def client_address() -> str:
    """The client's address as the trusted proxy reports it (gunicorn handles X-Forwarded-For)."""
    return request.remote_addr or "unknown"
