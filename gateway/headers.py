"""Security headers on every response, app-wide: CSP, no framing, no referrer, HSTS under https.

The headers and their values are fixed: they are built once, when the app is made, and each
response only gets those it does not set itself (a view may set its own ``Cache-Control``).
"""
from __future__ import annotations

from flask import Flask, Response, request

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


def init_app(app: Flask) -> None:
    https = services.settings(app).public_url.startswith("https://")
    app.config["GATEWAY_HTTPS"] = https
    with_https = ALWAYS + (HSTS,)
    always = with_https if https else ALWAYS
    #: (request over https, HTML page) -> the headers to send, built once
    sets = {(True, False): with_https, (True, True): with_https + (NO_STORE,),
            (False, False): always, (False, True): always + (NO_STORE,)}

    def security_headers(response: Response) -> Response:
        """CSP, no framing, no referrer (links carry tokens), HSTS under https, no caching of pages."""
        over_https = request.environ.get("wsgi.url_scheme") == "https"
        _add_missing(response, sets[over_https, response.mimetype == "text/html"])
        return response

    app.after_request(security_headers)


def _add_missing(response: Response, headers: tuple[tuple[str, str], ...]) -> None:
    """Add each of ``headers`` that ``response`` does not have yet (names compared without case)."""
    present = {name.lower() for name, _ in response.headers}
    if present.isdisjoint(NAMES):  # most responses: nothing of ours set by the view
        response.headers.extend(headers)
    else:
        response.headers.extend([(name, value) for name, value in headers if name.lower() not in present])
