"""Security headers on every response, app-wide: CSP, no framing, no referrer, HSTS under https."""
from __future__ import annotations

from flask import Flask, Response, current_app, request

from . import services


def init_app(app: Flask) -> None:
    app.config["GATEWAY_HTTPS"] = services.settings(app).public_url.startswith("https://")
    app.after_request(_security_headers)


def _security_headers(response: Response) -> Response:
    """CSP, no framing, no referrer (links carry tokens), HSTS under https, no caching of pages."""
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    )
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.environ.get("wsgi.url_scheme") == "https" or current_app.config.get("GATEWAY_HTTPS"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response
