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
"""
from __future__ import annotations

from typing import Any, cast

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from .. import services
from .sessions import AUTH, SessionStore, looks_like_session_id, new_session_id


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

    def regenerate(self) -> None:
        """A new id for the same data; the old record is deleted when the response is saved."""
        if not self.new and self.old_sid is None:
            self.old_sid = self.sid
        self.sid = new_session_id()
        self.new = True
        self.modified = True

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

    def _session_id(self, request: Request) -> str:
        sid = request.cookies.get(self.cookie_name, "")
        if not sid and request.path.startswith(self.SAML_PATH + "/"):
            sid = request.cookies.get(self.saml_cookie_name, "")
        return sid

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = self._session_id(request)
        if sid and looks_like_session_id(sid):
            data = self.sessions.load(sid)
            if data is not None:
                session = ServerSession(data, sid, new=False)
                if self.sessions.touch(session):
                    session.modified = True
                return session
        return ServerSession({}, new_session_id(), new=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        session = cast(ServerSession, session)
        if session.old_sid:
            self.sessions.delete(session.old_sid)
        if not session:
            if not session.new:
                self.sessions.delete(session.sid)
            if {self.cookie_name, self.saml_cookie_name} & set(_request_cookies()):
                response.delete_cookie(self.cookie_name, path="/")
                self._delete_saml_cookie(response)
            return
        if session.modified and not self.sessions.save(session.sid, dict(session), new=session.new):
            response.delete_cookie(self.cookie_name, path="/")
            self._delete_saml_cookie(response)
            return
        if session.new or session.modified:
            auth = session.get(AUTH)
            if auth and session.new:
                self.sessions.index(auth["account"], session.sid)
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
        if self.secure or self.saml_cookie_name in _request_cookies():
            response.delete_cookie(self.saml_cookie_name, path=self.SAML_PATH, secure=True, samesite="None")


def _request_cookies() -> Any:
    from flask import request

    return request.cookies


def init_app(app: Flask, sessions: SessionStore) -> None:
    settings = services.settings(app)
    app.session_interface = RedisSessionInterface(
        sessions, settings.sessions.cookie_name, secure=not settings.insecure_http
    )
