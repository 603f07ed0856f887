"""gunicorn settings: ``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app``.

Environment: GATEWAY_BIND (default 127.0.0.1:8000), GATEWAY_WORKERS (default:
one per core), GATEWAY_THREADS (default 8), GATEWAY_FORWARDED_ALLOW_IPS (the
reverse proxy's address, default 127.0.0.1).

Threads per worker: argon2 releases the GIL while it hashes, so a burst of
sign-ins occupies cores without blocking the other threads that answer SSO
requests of people already signed in.
"""
import multiprocessing
import os

bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GATEWAY_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GATEWAY_THREADS", "8"))
# Load the app (configuration, SAML metadata) once in the master, then fork:
# a configuration error stops the start with its message, and read-only data
# is shared between workers.
preload_app = True
timeout = 30
graceful_timeout = 20
keepalive = 5
forwarded_allow_ips = os.environ.get("GATEWAY_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# %(U)s is the path without its query string: query strings carry codes and tokens.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'
