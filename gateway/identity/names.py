"""Applications' names as the pages show them ("Vous vous connectez à « … »", the logout lists).

A name comes from SP metadata (``mdui:DisplayName``) or an OIDC client's ``client_name``,
which a dynamically registered client chooses itself. It reaches the page as text
(Jinja escapes it), but text can still mislead: bidirectional overrides (U+202E) and
other invisible format characters reorder or hide what the person reads, and a very
long name can push the gateway's own words off the page. :func:`shown_name` keeps
the visible characters only, on one line, and :data:`MAX_NAME` of them;
:func:`name_problem` is the check a registration applies (RFC 7591 §2 ``client_name``).
"""
from __future__ import annotations

import unicodedata

#: The most characters of a name a page shows (and a registered client_name may have).
MAX_NAME = 100
#: Unicode categories never shown: controls, format characters (bidi overrides, zero-width), line and
#: paragraph separators, private use, unassigned.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn"})


def shown_name(text: str) -> str:
    """``text`` without invisible or reordering characters, its spaces collapsed, cut to :data:`MAX_NAME`
    characters (with "…")."""
    visible = "".join(" " if unicodedata.category(c) in _HIDDEN else c for c in str(text))
    name = " ".join(visible.split())
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - 1].rstrip() + "…"


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a client's name (not text, too long, invisible characters), or None."""
    if not isinstance(name, str):
        return "must be a string"
    if len(name) > MAX_NAME or any(unicodedata.category(c) in _HIDDEN for c in name):
        return f"at most {MAX_NAME} characters, without control or invisible formatting characters"
    return None
