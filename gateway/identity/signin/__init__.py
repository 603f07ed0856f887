"""How a person signs in: the rules, without Flask.

Find a rule by its step:

* :mod:`.address` — step 1, which way an address leads (unknown, disabled, activate, verify, password);
* :mod:`.password` — step 2, one password try under growing delays;
* :mod:`.codes` — where a sign-in or activation code is mailed and checked (once);
* :mod:`.reset` — the reset link, changing the password, storing it (other sessions end);
* :mod:`.account_addresses` — "Mes informations": adding an address (it joins once its code
  comes back), confirming, removing (never the last confirmed one), choosing the primary;
* :mod:`.account_sessions` — "Mes informations": ending one other session, or all of them;
* :mod:`.limits` — the rate limits every step counts, one home for every refusal;
* :mod:`.errors` — the one error tree the steps raise (drawn in its docstring);
* :mod:`.context` — what each rule receives: its collaborators and the request's facts, as values.

Each rule takes ``(collaborators, facts, ...)`` and returns a value (a
:class:`.context.SignedIn` once a sign-in is proven) or raises. Starting the SSO
session, cookies and ``flask.session`` belong to the Flask glue,
:mod:`gateway.identity.flaskglue.signin`; the French words to ``gateway.web``.
"""
