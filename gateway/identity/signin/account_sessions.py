"""A signed-in person's other sessions ("Mes informations"): end one, or every other one.

The page names a session by a keyed reference, never by its id (the id is the
cookie). This browser's own session is never ended here.
"""
from __future__ import annotations

import hashlib
import hmac

from .context import Collaborators, Facts

ENDED_BY_USER = "session.ended_by_user"  # the audited reason when the person ends sessions


def session_ref(c: Collaborators, sid: str) -> str:
    """What the page names a session by: a keyed hash of its id."""
    return hmac.new(c.secret_key.encode(), b"session-ref\x00" + sid.encode(), hashlib.sha256).hexdigest()[:32]


def end_session(c: Collaborators, facts: Facts, account_id: str, ref: str) -> bool:
    """End the account's other session named ``ref``; False (nothing done) for anything else."""
    for info in c.sessions.list_for(account_id):
        if info.session_id != facts.session_id and hmac.compare_digest(session_ref(c, info.session_id), ref):
            return c.end_sessions(account_id, facts.session_id, ENDED_BY_USER, only_sid=info.session_id) == 1
    return False


def end_other_sessions(c: Collaborators, facts: Facts, account_id: str) -> int:
    """End every session of the account but this browser's; how many ended."""
    return c.end_sessions(account_id, facts.session_id, ENDED_BY_USER)
