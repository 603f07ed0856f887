"""The HTTP-POST binding's page (Bind §3.5): the SSO Response to the ACS (RSP01), or a logout message
(a LogoutRequest to a participant, the LogoutResponse to the initiator: SLO04, SLO07).

It submits itself (``saml/static/post.js``, allowed by the page's own CSP, set by
the view), or with the button when JavaScript is off. A string template filled in
with :func:`markupsafe.escape` rather than a Jinja template: the page is the IdP's
hottest, and Jinja's render (a new context copying the environment's globals)
cost more than the rest of building it. Every value is HTML-escaped, except a
:class:`~markupsafe.Markup` one (the SSO's base64 Response: nothing in its alphabet
to escape, and escaping ~16 KB is not free); the browser sends them back unchanged
(RelayState byte for byte, REQ12). The page is French only, as the sign-in's
auto-POST always was: it is shown for an instant.
"""
from __future__ import annotations

from markupsafe import escape

_PAGE = """<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>{doing} en cours · UNESS</title>
  <link rel="stylesheet" href="{stylesheet}">
  <script src="{script}" defer></script>
</head>
<body>
  <main>
    <form method="post" action="{action}" id="saml-post">
      <input type="hidden" name="{field}" value="{value}">{relay_state}
      <p>{doing} en cours…</p>
      <noscript>
        <p>JavaScript est désactivé : cliquez sur le bouton pour continuer{towards}.</p>
        <button type="submit" class="button-primary">Continuer</button>
      </noscript>
    </form>
  </main>
</body>
</html>"""
_RELAY_STATE = '\n      <input type="hidden" name="RelayState" value="{}">'


def post_page(stylesheet: str, script: str, action: str, field: str, value: str, relay_state: str | None,
              logout: bool) -> str:
    """The page posting ``field=value`` (and RelayState, when not None) to ``action``.

    ``stylesheet`` and ``script``: the URLs of ``gateway.css`` and ``saml/static/post.js``.
    """
    return _PAGE.format(
        doing="Déconnexion" if logout else "Connexion", stylesheet=escape(stylesheet), script=escape(script),
        action=escape(action), field=escape(field), value=escape(value),
        relay_state="" if relay_state is None else _RELAY_STATE.format(escape(relay_state)),
        towards=" la déconnexion" if logout else " vers le service")
