"""The identity core: SSO sessions, who is signed in, throttling. Protocols depend on it.

``sessions`` and ``throttle`` know nothing of Flask; ``flask_session`` and
``current`` are the thin Flask glue the web pages and the protocols use.
"""
