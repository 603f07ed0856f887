"""The HTTP-POST binding's page (Bind §3.5): the SSO Response to the ACS (RSP01), or a logout message
(a LogoutRequest to a participant, the LogoutResponse to the initiator: SLO04, SLO07).

It submits itself (``saml/static/post.js``, allowed by the page's own CSP, set by
the view), or with the button when JavaScript is off. A string template filled in
with :func:`markupsafe.escape` rather than a Jinja template: the page is the IdP's
hottest, and Jinja's render (a new context copying the environment's globals)
cost more than the rest of building it; what does not change from one answer to
the next (the words, the asset URLs, the ACS) is escaped once (:func:`_frame`).
Built as UTF-8 bytes around the message's base64 (~16 KB), which is neither
decoded, escaped (nothing in its alphabet to escape) nor encoded again. Every
other value is HTML-escaped; the browser sends them back unchanged (RelayState
byte for byte, REQ12). Its words come translated (:class:`Words`, the views'
gettext), in the page's language like every page.
"""
from __future__ import annotations

import base64
import functools
from typing import NamedTuple

from markupsafe import escape


class Words(NamedTuple):
    """What the page says, already translated: its language, title, line, JavaScript-off line, button."""

    lang: str
    title: str
    doing: str
    noscript: str
    button: str

_HEAD = """<!doctype html>
<html lang="{lang}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>{title} · UNESS</title>
  <link rel="stylesheet" href="{stylesheet}">
  <script src="{script}" defer></script>
</head>
<body>
  <main>
    <form method="post" action="{action}" id="saml-post">
      <input type="hidden" name="{field}" value=\""""
_REST = """
      <p>{doing}</p>
      <noscript>
        <p>{noscript}</p>
        <button type="submit" class="button-primary">{button}</button>
      </noscript>
    </form>
  </main>
</body>
</html>"""
_RELAY_STATE = '\n      <input type="hidden" name="RelayState" value="{}">'


def post_page(stylesheet: str, script: str, action: str, field: str, message: bytes | str,
              relay_state: str | None, words: Words) -> bytes:
    """The page (UTF-8) posting ``field`` (and RelayState, when not None) to ``action``.

    ``message``: the SAML document (bytes: base64-encoded here, Bind §3.5.4), or its form value
    already encoded (str: escaped). ``stylesheet`` and ``script``: the URLs of ``gateway.css`` and
    ``saml/static/post.js``; ``words``: what it says.
    """
    head, rest = _frame(stylesheet, script, action, field, words)
    relay = "" if relay_state is None else _RELAY_STATE.format(escape(relay_state))
    value = base64.b64encode(message) if isinstance(message, bytes) else str(escape(message)).encode()
    return b"".join((head, value, b'">', relay.encode(), rest))


@functools.lru_cache(maxsize=256)  # ACS and logout endpoints come from metadata: a bounded set
def _frame(stylesheet: str, script: str, action: str, field: str, words: Words) -> tuple[bytes, bytes]:
    """The page before the message's value, and after its RelayState: escaped once per action and
    language (the message and RelayState are the request's own)."""
    head = _HEAD.format(lang=escape(words.lang), title=escape(words.title), stylesheet=escape(stylesheet),
                        script=escape(script), action=escape(action), field=escape(field))
    rest = _REST.format(doing=escape(words.doing), noscript=escape(words.noscript),
                        button=escape(words.button))
    return head.encode(), rest.encode()
