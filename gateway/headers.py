"""Security headers on every response, app-wide: CSP, no framing, no referrer, HSTS under https.

The headers and their values are fixed: they are built once, when the app is made, and each
response only gets those it does not set itself (a view may set its own ``Cache-Control``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from . import services

#: Sent with every response.
ALWAYS = (
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
#: Pages are never cached (they may show a person's data or a form's token).
NO_STORE = ("Cache-Control", "no-store")


#: The lower-case names of every header set here, to tell at once whether a response set one itself.
NAMES = frozenset(name.lower() for name, _ in ALWAYS + (HSTS, NO_STORE))

Headers = list[tuple[str, str]]


def init_app(app: Flask) -> None:
    """Wrap the app in :class:`SecurityHeaders` (every response, error pages included)."""
    https = services.settings(app).public_url.startswith("https://")
    app.config["GATEWAY_HTTPS"] = https
    app.wsgi_app = SecurityHeaders(app.wsgi_app, https)  # type: ignore[method-assign]


class SecurityHeaders:
    """WSGI middleware: each response gets those of the fixed headers it does not set itself.

    At the WSGI level the headers are a plain list, already final (Flask's ``after_request`` hooks
    and the session's cookie have run): no werkzeug ``Headers`` to check each value of again.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], https: bool) -> None:
        self.app = app
        with_https = ALWAYS + (HSTS,)
        always = with_https if https else ALWAYS
        #: (request over https, HTML page) -> the headers to send, built once
        self.sets = {(True, False): with_https, (True, True): with_https + (NO_STORE,),
                     (False, False): always, (False, True): always + (NO_STORE,)}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        over_https = environ.get("wsgi.url_scheme") == "https"

        def with_security_headers(status: str, headers: Headers, *exc_info: Any) -> Any:
            return start_response(status, self.completed(headers, over_https), *exc_info)

        return self.app(environ, with_security_headers)

    def completed(self, headers: Headers, over_https: bool) -> Headers:
        """``headers`` and those of ours they lack (names compared without case); pages are not cached."""
        present = {name.lower() for name, _ in headers}
        content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
        fixed = self.sets[over_https, content_type.partition(";")[0].strip() == "text/html"]
        if present.isdisjoint(NAMES):  # most responses: nothing of ours set by the view
            return headers + list(fixed)
        return headers + [(name, value) for name, value in fixed if name.lower() not in present]
