"""OpenID Connect provider (authlib): discovery, authorize, token, userinfo, logout."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Placeholder until the provider lands."""
