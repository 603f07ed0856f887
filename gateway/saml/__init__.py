"""SAML 2.0 identity provider (pysaml2): metadata, SSO, SLO."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Placeholder until the IdP lands."""
