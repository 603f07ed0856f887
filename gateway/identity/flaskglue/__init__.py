"""The Flask glue of the identity core: the only place identity meets Flask.

* :mod:`.session_interface` — ``flask.session`` kept in Redis, the cookie an opaque id
  (installed by ``create_app``); :func:`.session_interface.session_unused`;
* :mod:`.current` — who is signed in (:func:`.current.current_authentication`),
  :func:`.current.require_login` (how SAML and OIDC hand over to the sign-in
  pages), the client's address;
* :mod:`.signin` — what a sign-in view calls: the rules of
  :mod:`gateway.identity.signin` with their collaborators from the app's
  services and the facts from the request, then the SSO session started;
* :mod:`.user` — Flask-Login's user and loader;
* :mod:`.logout` — the Flask half of :mod:`gateway.identity.logout`: this
  browser's session and Flask-Login's user cleared, the app's hooks run, the
  page a front-channel logout moves on with.

The web pages, ``saml``, ``oidc``, ``scim`` and the CLI import these; the rest
of :mod:`gateway.identity` never does.
"""
