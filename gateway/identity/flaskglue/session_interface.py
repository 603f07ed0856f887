"""Flask glue: the session cookie carries only an opaque id; the data lives in Redis.

Installed as ``app.session_interface``; Flask-Login, Flask-WTF's CSRF token and
the sign-in pages all use ``flask.session`` as usual. ``regenerate()`` gives the
session a new id (called at every sign-in, against fixation).

The main cookie is ``SameSite=Lax``, so browsers leave it out of cross-site
POSTs, which is how SAML SPs send AuthnRequests (HTTP-POST) and logout messages
to ``/saml/sso`` and ``/saml/slo`` (checklist SEC07). A second cookie carries the
same id with ``SameSite=None; Secure; Path=/saml`` (only over https: browsers
refuse ``SameSite=None`` without ``Secure``). It is set and cleared with the main
one, and read only under ``/saml/`` when the main cookie is absent.

Redis away (:data:`gateway.store.UNAVAILABLE`) never escapes from here: Flask
calls the interface outside the view, where an exception becomes a 500 and a
traceback. Opening keeps the error on the session, and a ``before_request`` hook
raises it again inside the request, where the app's handler answers it (503,
in the protocol's shape). Such a session is never saved and its cookie is
left as it is, so the person is still signed in once Redis is back. A save that
fails turns the response into that same 503 answer: nobody is told "done" (or
sent on as signed in) when the session was not written.

Views that never read the session (:func:`session_unused`: ``/healthz``, static
files, the OIDC endpoints relying parties call — token, userinfo, JWKS,
discovery...) get an empty session without the cookie being read: no Redis
read, no idle-time refresh by a call that is not the person's, nothing saved,
no cookie set or deleted, and Redis away does not refuse them. Views that read
the signed-in account on every request (:func:`session_with_account`: OIDC
authorize, ``/account``) get it read with the session, in one round trip
(:func:`gateway.identity.flaskglue.current.current_account`). Views that read
the session with more in one round trip (:func:`session_opened_in_view`: SAML
SSO, whose reads depend on the AuthnRequest) open it themselves, once they have
parsed the request (:func:`open_in_view`); until then it is empty, and a session
never opened is never saved.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
from flask import Flask, Request, Response, current_app, request, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from ... import services
from ...store import UNAVAILABLE
from ..sessions import AUTH, SessionStore, looks_like_session_id, new_session_id

View = TypeVar("View", bound=Callable[..., Any])
Extra = TypeVar("Extra")
#: What a view marked :func:`session_opened_in_view` reads with the session, given the cookie's session id
#: (None: no usable cookie): the record as stored (None when there is none) and the rest.
Reader = Callable[[str | None], tuple[str | None, Extra]]


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """A dict that knows its id and whether it must be written."""

    def __init__(self, data: dict[str, Any], sid: str, new: bool) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data, on_update)
        self.sid = sid
        self.new = new
        self.modified = False
        self.old_sid: str | None = None
        #: Why the record could not be read (Redis away); such a session is never saved.
        self.unavailable: redis.RedisError | None = None
        #: Opened for a view marked :func:`session_unused`: the cookie was not read, nothing is saved.
        self.unused = False
        #: For a view marked :func:`session_with_account`: (account id, its hash, empty when the
        #: account is gone) as read with the session; None when not read.
        self.account_fields: tuple[str, dict[str, str]] | None = None
        #: For a view marked :func:`session_opened_in_view`, until it opens it (:func:`open_in_view`).
        self.awaiting_view = False
        #: The request wrote the record itself (:meth:`written`): its cookie is still to be set.
        self.cookie_due = False

    def regenerate(self) -> None:
        """A new id for the same data; the old record is deleted when the response is saved."""
        if not self.new and self.old_sid is None:
            self.old_sid = self.sid
        self.sid = new_session_id()
        self.new = True
        self.modified = True

    def written(self) -> None:
        """The request wrote the record as it is now, under its id, the replaced one deleted
        (:meth:`SessionStore.writes`, sent with a sign-in's last check in one script): saved again
        only if it changes after this; its cookie is set with the response."""
        self.new, self.old_sid, self.modified, self.cookie_due = False, None, False, True

    def restore_point(self) -> Callable[[], None]:
        """What puts the session back as it is now (data, id, what its save would do): a sign-in
        refused after the session was prepared for it."""
        data, state = dict(self), (self.sid, self.new, self.old_sid, self.modified, self.cookie_due)

        def restore() -> None:
            self.clear()
            self.update(data)
            self.sid, self.new, self.old_sid, self.modified, self.cookie_due = state
        return restore

    @property
    def permanent(self) -> bool:  # type: ignore[override]
        auth = self.get(AUTH)
        return bool(auth and auth.get("remember"))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        pass  # lifetime follows the remember flag of the sign-in, nothing else


class RedisSessionInterface(SessionInterface):
    #: Where the cross-site copy of the cookie is sent (SAML endpoints only).
    SAML_PATH = "/saml"

    def __init__(self, sessions: SessionStore, cookie_name: str, secure: bool) -> None:
        self.sessions = sessions
        self.cookie_name = cookie_name
        self.secure = secure
        self.saml_cookie_name = cookie_name + "_saml"
        self._unused_paths: frozenset[str] | None = None
        self._account_paths: frozenset[str] = frozenset()
        self._view_paths: frozenset[str] = frozenset()

    def _session_id(self, request: Request) -> str:
        sid = request.cookies.get(self.cookie_name, "")
        if not sid and request.path.startswith(self.SAML_PATH + "/"):
            sid = request.cookies.get(self.saml_cookie_name, "")
        return sid

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        """The session of the cookie, else a new one. Never raises: Redis away is kept in
        :attr:`ServerSession.unavailable` and raised by :func:`_refuse_without_session`."""
        if self._unused(app, request.path):
            unused = ServerSession({}, "", new=False)
            unused.unused = True
            return unused
        sid = self._session_id(request)
        if request.path in self._view_paths:
            awaiting = ServerSession({}, sid, new=False) if looks_like_session_id(sid) else (
                ServerSession({}, new_session_id(), new=True))
            awaiting.awaiting_view = True
            return awaiting
        if sid and looks_like_session_id(sid):
            fields = None
            try:
                if request.path in self._account_paths:
                    data, fields = self.sessions.load_with_account(sid)
                else:
                    data = self.sessions.load(sid)
            except UNAVAILABLE as exc:
                away = ServerSession({}, sid, new=False)
                away.unavailable = exc
                return away
            if data is not None:
                opened = ServerSession(data, sid, new=False)
                if fields is not None:
                    opened.account_fields = (data[AUTH]["account"], fields)
                if self.sessions.touch(opened):
                    opened.modified = True
                return opened
        return ServerSession({}, new_session_id(), new=True)

    def open_awaiting(self, awaiting: ServerSession, read: Reader[Extra] | None) -> Extra | None:
        """:func:`open_in_view`: fill ``awaiting`` as :meth:`open_session` would have, from ``read``'s
        record (:meth:`SessionStore.load` when ``read`` is None); what else ``read`` read."""
        if not awaiting.awaiting_view:
            raise RuntimeError("open_in_view: the session is open already (is the view marked?)")
        sid = None if awaiting.new else awaiting.sid
        extra = None
        if read is not None:  # when it raises, the session stays unopened: never saved, nor deleted
            raw, extra = read(sid)
            data = self.sessions.judged(sid, raw) if sid else None
        else:
            data = self.sessions.load(sid) if sid else None
        awaiting.awaiting_view = False
        if data is None:  # as open_session: a new session under a new id
            if sid:
                awaiting.sid, awaiting.new = new_session_id(), True
            return extra
        awaiting.update(data)
        awaiting.modified = self.sessions.touch(awaiting)
        return extra

    def _unused(self, app: Flask, path: str) -> bool:
        """Whether ``path`` is served by a view marked :func:`session_unused` (or is a static file).

        The session opens before Flask matches the URL, so the paths are read from the URL map,
        once, at the first request (every blueprint is registered by then). A path that some
        unmarked view also serves (another method) is not one of them.
        """
        if self._unused_paths is None:
            marked: set[str] = set()
            unmarked: set[str] = set()
            with_account: set[str] = set()
            in_view: set[str] = set()
            for rule in app.url_map.iter_rules():
                if not rule.arguments and rule.endpoint != "static":
                    view = app.view_functions.get(rule.endpoint)
                    (marked if getattr(view, "session_unused", False) else unmarked).add(rule.rule)
                    if getattr(view, "session_with_account", False):
                        with_account.add(rule.rule)
                    if getattr(view, "session_opened_in_view", False):
                        in_view.add(rule.rule)
            self._account_paths = frozenset(with_account)
            self._view_paths = frozenset(in_view)
            self._unused_paths = frozenset(marked - unmarked)
        return path in self._unused_paths or (
            app.static_url_path is not None and path.startswith(app.static_url_path + "/"))

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Write the session and set its cookie. Never raises: when Redis is away, ``response``
        becomes the app's answer to that error (a 503), with no cookie set or deleted."""
        session = cast(ServerSession, session)
        if session.unavailable is not None or session.unused or session.awaiting_view:
            return
        try:
            self._save(session, response)
        except UNAVAILABLE as exc:
            _become(response, app.make_response(app.handle_user_exception(exc)))

    def _save(self, session: ServerSession, response: Response) -> None:
        if not session:
            if session.old_sid:
                self.sessions.delete(session.old_sid)
            if not session.new:
                self.sessions.delete(session.sid)
            if {self.cookie_name, self.saml_cookie_name} & set(request.cookies):
                response.delete_cookie(self.cookie_name, path="/")
                self._delete_saml_cookie(response)
            return
        # regenerate() marks the session modified: the old record goes with this write (and a new
        # signed-in session is indexed under its account), in one round trip
        if session.modified and not self.sessions.save(session.sid, dict(session), new=session.new,
                                                       replacing=session.old_sid):
            response.delete_cookie(self.cookie_name, path="/")
            self._delete_saml_cookie(response)
            return
        if session.new or session.modified or session.cookie_due:
            max_age = self.sessions.ttl_for(session) if session.permanent else None
            response.set_cookie(
                self.cookie_name, session.sid, max_age=max_age, path="/", httponly=True,
                secure=self.secure, samesite="Lax",
            )
            if self.secure:
                response.set_cookie(
                    self.saml_cookie_name, session.sid, max_age=max_age, path=self.SAML_PATH, httponly=True,
                    secure=True, samesite="None",
                )
        response.vary.add("Cookie")

    def _delete_saml_cookie(self, response: Response) -> None:
        """With the main cookie (the browser does not send this one outside /saml: delete it anyway)."""
        if self.secure or self.saml_cookie_name in request.cookies:
            response.delete_cookie(self.saml_cookie_name, path=self.SAML_PATH, secure=True, samesite="None")


def _become(response: Response, answer: Response) -> None:
    """Turn ``response`` (already through ``after_request``: its security headers stay) into ``answer``."""
    for name in ("Location", "Set-Cookie", "Content-Type", "Content-Length", "Refresh"):
        del response.headers[name]
    response.status = answer.status
    response.content_type = answer.content_type
    response.set_data(answer.get_data())
    response.headers["Cache-Control"] = "no-store"


def session_unused(view: View) -> View:
    """Mark a view that never reads nor writes the session (``/healthz``, the OIDC endpoints relying
    parties call): its requests do not load it, refresh it or save it."""
    view.session_unused = True  # type: ignore[attr-defined]
    return view


def session_with_account(view: View) -> View:
    """Mark a view that reads the signed-in account on each request: the session interface reads it
    with the session, in one round trip (:func:`gateway.identity.flaskglue.current.current_account`)."""
    view.session_with_account = True  # type: ignore[attr-defined]
    return view


def session_opened_in_view(view: View) -> View:
    """Mark a view that opens the session itself (:func:`open_in_view`), reading it with what the view
    needs in one round trip; every way through the view opens it before reading it."""
    view.session_opened_in_view = True  # type: ignore[attr-defined]
    return view


def open_in_view(read: Reader[Extra] | None = None) -> Extra | None:
    """Open this request's session now (a view marked :func:`session_opened_in_view`), as the session
    interface opens the others (lifetime judged, last-seen refreshed), from the record ``read`` returns
    with what else it read, which this returns (None when ``read`` is None: the record alone).

    Raises what ``read`` raises (Redis away: inside the view, the app's handler answers it, and the
    session, never opened, is not saved), and RuntimeError when the session is already open.
    """
    interface = cast(RedisSessionInterface, current_app.session_interface)
    return interface.open_awaiting(cast(ServerSession, session), read)


def _refuse_without_session() -> None:
    """``before_request``: raise the error that kept the session from opening (Redis away), so
    that the app's handler answers it."""
    exc = cast(ServerSession, session).unavailable
    if exc is not None:
        raise exc


def init_app(app: Flask, sessions: SessionStore) -> None:
    settings = services.settings(app)
    app.session_interface = RedisSessionInterface(
        sessions, settings.sessions.cookie_name, secure=not settings.insecure_http
    )
    app.before_request(_refuse_without_session)
