"""Ending SSO sessions, and telling the protocols so they can tell their parties.

SAML and OIDC register a hook with :func:`on_session_end`; whatever ends a
session (logout button, SLO, password reset, a session ended from "Mes
informations", a disabled account) calls :func:`session_ended` for each
session, and every hook runs. Hooks must not raise; an error is logged.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app

Hook = Callable[[str, Mapping[str, Any]], None]
log = logging.getLogger("gateway")


def on_session_end(app: Flask, hook: Hook) -> None:
    app.extensions.setdefault("gateway.logout_hooks", []).append(hook)


def session_ended(sid: str, data: Mapping[str, Any]) -> list[Any]:
    """Run every hook for a session that just ended; returns what the hooks returned."""
    results = []
    for hook in current_app.extensions.get("gateway.logout_hooks", []):
        try:
            results.append(hook(sid, data))
        except Exception:  # noqa: BLE001 - one protocol's failure must not stop the others
            log.exception("logout hook %s failed", getattr(hook, "__name__", hook))
    return results
