"""SCIM endpoints (placeholder until the SCIM module lands)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
