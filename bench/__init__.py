"""``make bench``: how many password sign-ins per second the gateway serves, against argon2 alone.

* :mod:`bench.argon` -- the raw argon2id verify rate on every core (the ceiling);
* :mod:`bench.stack` -- a private redis-server and gunicorn with ``deploy/gunicorn.conf.py``;
* :mod:`bench.load` -- simulated browsers over keep-alive connections (standard library only);
* :mod:`bench.oidc` -- OIDC authorization-code flows of signed-in browsers against raw ID-token signing;
* :mod:`bench.__main__` -- runs the three measures and prints the table.
"""
