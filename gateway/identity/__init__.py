"""The identity core: SSO sessions, how a person signs in, how sessions end. Protocols depend on it.

Nothing here imports Flask but :mod:`.flaskglue` (an import-linter contract in
``setup.cfg`` holds it; ``tests/test_layers.py`` runs it). The module map:

* :mod:`.signin` — the sign-in rules, each taking its collaborators
  (:mod:`.signin.context`) and returning values or raising one error tree
  (:mod:`.signin.errors`): :mod:`.signin.address` (which way an address leads),
  :mod:`.signin.password`, :mod:`.signin.codes` (where a sign-in or activation
  code is mailed and checked), :mod:`.signin.reset` (the reset link, setting a
  password: the other sessions end), :mod:`.signin.limits`, and "Mes
  informations": :mod:`.signin.account_addresses`, :mod:`.signin.account_sessions`;
* :mod:`.sessions` — SSO sessions in Redis (one record per id, an index per account);
* :mod:`.logout` — the one home of ending sessions (this browser's, or an
  account's) and of the hooks that tell the protocols' parties;
* :mod:`.parties` — which SAML SPs and OIDC RPs took part in a session (for logout);
* :mod:`.models` — the neutral ``Authentication`` the sign-in hands to the protocols;
* :mod:`.throttle`, :mod:`.ratelimits`, :mod:`.devices` — growing delays, rate
  limits, known-device cookies;
* :mod:`.history` — each account's recent activity ("Activité récente", support);
* :mod:`.redirects` — every URL handed to a browser, validated;
* :mod:`.flaskglue` — the only place the core meets Flask: the session
  interface (``session_interface``), ``current_authentication`` and
  ``require_login`` (``current``), the sign-in glue the views call
  (``signin``), Flask-Login's user (``user``), the Flask half of logout
  (``logout``: what every caller that ends a session calls).
"""
