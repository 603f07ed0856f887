"""The identity core: SSO sessions, how a person signs in, how sessions end. Protocols depend on it.

Nothing here imports Flask but :mod:`.flaskglue` (an import-linter contract in
``setup.cfg`` holds it; ``tests/test_layers.py`` runs it). The module map:

* :mod:`.signin` — the sign-in rules (address, password, codes, reset, "Mes
  informations"), each taking its collaborators and returning values or raising
  one error tree;
* :mod:`.sessions` — SSO sessions in Redis (one record per id, an index per account);
* :mod:`.logout` — the one home of ending sessions (this browser's, or an
  account's) and of the hooks that tell the protocols' parties;
* :mod:`.parties` — which SAML SPs and OIDC RPs took part in a session (for logout);
* :mod:`.models` — the neutral ``Authentication`` the sign-in hands to the protocols;
* :mod:`.throttle`, :mod:`.ratelimits`, :mod:`.devices` — growing delays, rate
  limits, known-device cookies;
* :mod:`.redirects` — every URL handed to a browser, validated;
* :mod:`.flaskglue` — the only place the core meets Flask: the session
  interface, ``current_authentication`` and ``require_login``, the sign-in
  glue the views call, the Flask half of logout.
"""
