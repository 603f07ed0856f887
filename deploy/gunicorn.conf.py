"""gunicorn settings: ``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app``.

Environment: GATEWAY_BIND (default 127.0.0.1:8000), GATEWAY_WORKERS (default:
one per core), GATEWAY_WORKER_CLASS (gevent, the default, or gthread),
GATEWAY_WORKER_CONNECTIONS (gevent: connections per worker, default 1000),
GATEWAY_THREADS (gthread: threads per worker, default 32),
GATEWAY_FORWARDED_ALLOW_IPS (the reverse proxy's address, default 127.0.0.1).

From a peer in GATEWAY_FORWARDED_ALLOW_IPS, gunicorn honours X-Forwarded-Proto,
and the hook below takes the client's address from X-Forwarded-For (gunicorn
itself leaves REMOTE_ADDR at the proxy's address). The access log holds no
query string and no reset-link token.

One gevent worker per core: each request runs in a greenlet, and a worker
switches between them when one waits (Redis, the socket), with none of the
threads' GIL hand-offs; argon2 hashes on a native thread of lower priority
(:mod:`gateway.accounts.passwords`, one hash at a time per worker), so a burst
of sign-ins queues for that thread while the worker keeps answering SSO,
/account and /healthz (`make bench`, part c). Measured on 2 cores from 16
connections (README "Concurrency"): SAML SSO 363 against 279 answers/s with
gthread, p99 80 against 131 ms; OIDC flows 507 against 419/s. gevent patches
the standard library (sockets, locks, threads) before the app is preloaded in
the master, so every lock and connection the app makes is cooperative.
GATEWAY_WORKER_CLASS=gthread gives the threaded worker back (32 threads).

gunicorn's control socket (``gunicornc``, gunicorn >= 25.1: worker counts,
reload, shutdown for whoever can reach the socket) is off: systemd starts,
stops and restarts the service, and nothing else should steer it.

Metrics (README "Metrics"): prometheus-client runs in multi-process mode with
PROMETHEUS_MULTIPROC_DIR (from the environment, else a private folder made for
this master and removed when it stops), set through ``raw_env`` so that it holds
before the app is loaded. At start the files of processes no longer running are
removed; ``child_exit`` marks a dead worker; once ready, the master forks the
process that serves /metrics on ``metrics.bind`` only (never the public bind).
"""
import functools
import ipaddress
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import traceback

from gunicorn.glogging import Logger, SafeAtoms

bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GATEWAY_WORKERS", multiprocessing.cpu_count()))
worker_class = os.environ.get("GATEWAY_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GATEWAY_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GATEWAY_THREADS", "32"))  # gthread only
_BY_GUNICORN = sys.argv[0].endswith((os.sep + "gunicorn", os.path.join("gunicorn", "__main__.py")))
if worker_class == "gevent" and _BY_GUNICORN:
    # gunicorn itself is reading this file (not a test): patch before the app is preloaded, so that
    # the locks, threads and sockets the app makes in the master are gevent's.
    from gevent import monkey

    monkey.patch_all()
# Load the app (configuration, SAML metadata) once in the master, then fork:
# a configuration error stops the start with its message, and read-only data
# is shared between workers.
preload_app = True
timeout = 30
graceful_timeout = 20
keepalive = 5
forwarded_allow_ips = os.environ.get("GATEWAY_FORWARDED_ALLOW_IPS", "127.0.0.1")
# No control socket (by default $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl).
control_socket_disable = True
#: prometheus-client's multi-process folder: the systemd units name one the mail worker shares.
_PRIVATE_METRICS_DIR = os.path.join(tempfile.gettempdir(), f"uness-gateway-metrics-{os.getpid()}")
METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or _PRIVATE_METRICS_DIR
raw_env = [f"PROMETHEUS_MULTIPROC_DIR={METRICS_DIR}"]
accesslog = "-"
# %(U)s is the path without its query string: query strings carry codes and tokens.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'
#: Paths whose rest is a secret: the reset link carries its token in the path.
SECRET_PATHS = ("/reset/",)


#: The atoms access_log_format above uses: with that format, only they are computed (gunicorn's own
#: atoms() also copies every request and response header and the whole environ, and decodes an
#: Authorization header, for each request); with another one (GUNICORN_CMD_ARGS), all of them.
_FORMAT_ATOMS = access_log_format


class AccessLog(Logger):
    """gunicorn's logger; in the access log, what follows a SECRET_PATHS prefix is replaced."""

    def access(self, resp, req, environ, request_time):
        """The access line. With the format above and gunicorn's own handler alone on its logger, written
        to that handler's stream directly: the same line (tests/test_deploy.py compares them), without
        the LogRecord and the look-up of the caller's file and line that "%(message)s" never shows."""
        handler = self._sole_access_handler() if self.access_log_enabled else None
        if handler is None or self.cfg.access_log_format != _FORMAT_ATOMS:
            return super().access(resp, req, environ, request_time)
        try:
            line = _FORMAT_ATOMS % SafeAtoms(self.atoms(resp, req, environ, request_time))
        except Exception:  # as Logger.access does
            self.error(traceback.format_exc())
            return None
        handler.acquire()
        try:
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except RecursionError:  # as logging.StreamHandler.emit does
            raise
        except Exception:
            log = self.access_log
            handler.handleError(log.makeRecord(log.name, logging.INFO, "", 0, line, None, None))
        finally:
            handler.release()
        return None

    def _sole_access_handler(self):
        """gunicorn's stream or file handler, when the access line would reach it alone, formatted as its
        bare message; else None (the line then goes through logging as usual)."""
        log = self.access_log
        if len(log.handlers) != 1 or log.filters or log.propagate or not log.isEnabledFor(logging.INFO):
            return None
        handler = log.handlers[0]
        if (type(handler) not in (logging.StreamHandler, logging.FileHandler) or handler.stream is None
                or handler.filters or handler.level > logging.INFO
                or type(handler.formatter) is not logging.Formatter
                or handler.formatter._fmt != self.access_fmt):
            return None
        return handler

    def atoms(self, resp, req, environ, request_time):
        if self.cfg.access_log_format == _FORMAT_ATOMS:
            status = resp.status
            sent = getattr(resp, "sent", None)
            atoms = {
                "h": environ.get("REMOTE_ADDR", "-"),
                "m": environ.get("REQUEST_METHOD"),
                "U": environ.get("PATH_INFO"),
                "H": environ.get("SERVER_PROTOCOL"),
                "s": status.split(None, 1)[0] if isinstance(status, str) else status,
                "b": str(sent) if sent is not None else "-",
                "L": "%d.%06d" % (request_time.seconds, request_time.microseconds),
                "a": environ.get("HTTP_USER_AGENT", "-"),
            }
        else:
            atoms = super().atoms(resp, req, environ, request_time)
        path = atoms.get("U") or ""
        for prefix in SECRET_PATHS:
            if path.startswith(prefix):
                atoms["U"] = prefix + "[redacted]"
        return atoms


logger_class = AccessLog


def post_worker_init(worker):
    """Serve the app behind :class:`ClientAddressFromProxy` (rate limits and audit lines need the client)."""
    worker.wsgi = ClientAddressFromProxy(worker.wsgi, worker.cfg.forwarded_allow_ips)


class ClientAddressFromProxy:
    """WSGI middleware: REMOTE_ADDR = the last X-Forwarded-For value, when the peer is a trusted proxy.

    gunicorn's forwarded_allow_ips only governs the scheme: without this, every
    request behind nginx comes from 127.0.0.1 and all clients share one set of
    per-client rate limits. The last value is the one the proxy wrote itself
    (deploy/nginx sets X-Forwarded-For to the address nginx saw); anything
    before it came from the client and is ignored. Other peers are left as they are.
    """

    #: Peers whose verdict is remembered (behind nginx there is one: the proxy); others are judged each time.
    REMEMBERED_PEERS = 64

    def __init__(self, app, trusted):
        self.app = app
        self.trust_all = "*" in trusted
        self.networks = [ipaddress.ip_network(a.strip(), strict=False)
                         for a in trusted if a.strip() not in ("", "*")]
        #: peer address -> trusted: parsing and matching it was ~5 µs of every request behind the proxy
        self.verdicts = {}

    def is_trusted(self, address):
        verdict = self.verdicts.get(address)
        if verdict is None:
            verdict = self._judge(address)
            if len(self.verdicts) < self.REMEMBERED_PEERS:
                self.verdicts[address] = verdict
        return verdict

    def _judge(self, address):
        if self.trust_all:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ, start_response):
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if forwarded and self.is_trusted(environ.get("REMOTE_ADDR", "")):
            address = _canonical_address(forwarded)
            if address is not None:  # else not an address: keep the proxy's
                environ["REMOTE_ADDR"] = address
        return self.app(environ, start_response)


@functools.lru_cache(maxsize=4096)
def _canonical_address(text):
    """``text`` as ipaddress writes the address, or None when it is not one (a bounded cache: clients
    come back)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def when_ready(server):
    """The app (SAML metadata included) is loaded in the master: freeze it before forking.

    Objects moved to the permanent generation are never scanned by the garbage
    collector, so a worker's collections do not write to (and un-share) the pages
    the master filled: federation-sized metadata stays shared between workers.
    """
    import gc

    gc.collect()
    gc.freeze()
    # Then the metrics listener (a forked process: the master stays single-threaded).
    from gateway.metrics.scrape import start_listener

    app = server.app.wsgi()
    server.metrics_pid = start_listener(app, app.extensions["gateway.settings"].metrics.bind)


def on_starting(server):
    """Before the first worker: a private metrics folder, without the files of processes gone."""
    from gateway.metrics.scrape import prepare_directory

    prepare_directory(METRICS_DIR)


def child_exit(server, worker):
    """A worker left: prometheus-client's bookkeeping for dead processes."""
    from gateway.metrics.scrape import mark_dead

    mark_dead(worker.pid)


def on_exit(server):
    """Stop the metrics process; remove the metrics folder if this master made it."""
    from gateway.metrics.scrape import stop_listener

    stop_listener(getattr(server, "metrics_pid", None))
    if METRICS_DIR == _PRIVATE_METRICS_DIR:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)



def pre_request(worker, req):
    """gunicorn's own line (debug), then, under gevent, each request first lets the event loop run once.

    A gevent worker switches to another request only when this one waits. A Redis reply often
    arrives before the worker reads it, so a whole request can run without waiting once, and the
    connections whose next request is ready do not take turns: at 16 connections the SSO's p50 fell
    to 5 ms and its p99 rose to 280-315 ms (`python -m bench saml --saml-sps 50`, 2026-12-07), for
    the same rate. One pass of the loop here (a timer due at once: the loop polls without waiting,
    the requests ready before this one go first) gives p50 / p99 38-41 / 82-95 ms, as when redis-py's
    own poll switched to the loop for every command (``gateway.store``: the switch it no longer makes
    per command is made once per request here). ``gevent.sleep(0)`` would not poll."""
    worker.log.debug("%s %s", req.method, req.path)
    if _TAKE_TURNS:
        hub = _get_hub()
        hub.wait(hub.loop.timer(0))


_TAKE_TURNS = worker_class == "gevent"
if _TAKE_TURNS:
    from gevent import get_hub as _get_hub
