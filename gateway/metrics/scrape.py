"""What Prometheus scrapes, and the private listener gunicorn's master starts for it.

Design (README "Metrics"): the public site has no ``/metrics`` (it answers 404).
gunicorn's master, once its workers can start (``when_ready``), binds
``metrics.bind`` (default 127.0.0.1:9100) and forks one small process that
serves the exposition there: the counters every worker and the mail worker wrote
in ``PROMETHEUS_MULTIPROC_DIR`` (summed by prometheus-client's
``MultiProcessCollector``) plus :class:`GatewayCollector`, whose gauges are
read at scrape time only (Redis PING, job queues, SAML aggregates,
certificates). A process rather than a thread keeps the master single-threaded
while it forks workers; the process leaves when the master does.
"""
from __future__ import annotations

import glob
import logging
import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
from flask import Flask
from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .. import jobs
from ..jobs.status import queue_status
from .. import services
from . import MULTIPROCESS, SCRAPE_HOOKS

log = logging.getLogger("gateway.metrics")

#: Files prometheus-client writes per process: ``<kind>_<pid>.db``.
_PID_FILE = re.compile(r"_(\d+)\.db$")


class GatewayCollector(Collector):
    """Gauges read when Prometheus scrapes: never on a request's path."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        reachable = yield from self._redis()
        if reachable:
            yield from self._queues()
        for gauges in self.app.extensions.get(SCRAPE_HOOKS, []):  # each package's own (SAML: aggregates, certificates)
            yield from gauges(self.app)

    def _redis(self) -> Iterator[GaugeMetricFamily]:
        store = services.store(self.app)
        started = time.perf_counter()
        reachable = store.is_reachable()
        up = GaugeMetricFamily("gateway_redis_up", "1 when Redis answered a PING at scrape time.")
        up.add_metric([], 1.0 if reachable else 0.0)
        yield up
        if reachable:
            ping = GaugeMetricFamily("gateway_redis_ping_seconds", "Round trip of that PING.")
            ping.add_metric([], time.perf_counter() - started)
            yield ping
        return reachable

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(f"gateway_job_queue_{name}", text, labels=["queue"]) for name, text in (
            ("waiting", "Jobs waiting to run now."), ("scheduled", "Jobs waiting for a retry."),
            ("running", "Jobs a worker holds."), ("failed", "Jobs that exhausted their retries."),
            ("oldest_age_seconds", "Age of the oldest waiting job (0 when none waits)."))}
        try:
            statuses = [queue_status(queue) for queue in jobs.service(self.app).queues()]
        except redis.RedisError as exc:
            log.warning("metrics: job queues not read: %s", type(exc).__name__)
            return
        for status in statuses:
            for name, family in families.items():
                value = getattr(status, name.removesuffix("_seconds"))
                family.add_metric([status.name], float(value or 0))
        yield from families.values()

class _Defaults(Collector):
    """The process's own registry, when not in multi-process mode (tests, a single process)."""

    def collect(self) -> Iterator[Any]:
        return REGISTRY.collect()


def registry_for(app: Flask) -> CollectorRegistry:
    """Every metric of the gateway: the processes' counters, then the scrape-time gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Defaults())
    registry.register(GatewayCollector(app))
    return registry


def exposition_app(app: Flask) -> Any:
    """The WSGI app of the metrics listener (the Prometheus text format, at any path)."""
    return make_wsgi_app(registry_for(app))


# -- gunicorn's master (deploy/gunicorn.conf.py) ---------------------------------------------------

def prepare_directory(folder: str) -> None:
    """Create the multi-process folder (mode 0700) and remove the files of processes no longer running.

    The files of live processes (the mail worker, workers of a reloading master) stay.
    """
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for path in glob.glob(os.path.join(folder, "*.db")):
        found = _PID_FILE.search(path)
        if found and not _alive(int(found.group(1))):
            os.remove(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_dead(pid: int) -> None:
    """A worker left: drop its live-gauge files (its counters stay, so totals do not go down)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(pid)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        pass


def start_listener(app: Flask, bind: str) -> int | None:
    """Bind ``bind`` (host:port) and fork the process that serves :func:`exposition_app` on it.

    Returns its pid, or None when ``bind`` is empty or cannot be bound (one log line; the
    gateway serves anyway: metrics are not worth an outage).
    """
    if not bind:
        return None
    host, _, port = bind.rpartition(":")
    try:
        server = make_server(host.strip("[]") or "127.0.0.1", int(port), exposition_app(app),
                             server_class=WSGIServer, handler_class=_Quiet)
    except (OSError, ValueError) as exc:
        log.error("metrics: cannot listen on %s (%s): /metrics is not served", bind, exc)
        return None
    master = os.getpid()
    pid = os.fork()
    if pid:
        server.server_close()
        log.info("metrics: served on http://%s/metrics (pid %d)", bind, pid)
        return pid
    _serve_until_orphaned(server, master)
    raise AssertionError("unreachable")  # pragma: no cover


def _serve_until_orphaned(server: WSGIServer, master: int) -> None:
    """The forked process: default signal handling (not the arbiter's), serve until the master is gone."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                   signal.SIGUSR2, signal.SIGCHLD, signal.SIGWINCH, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(number, signal.SIG_DFL)
    server.timeout = 1.0
    try:
        while os.getppid() == master:
            server.handle_request()
    finally:
        os._exit(0)


def stop_listener(pid: int | None) -> None:
    """The master is leaving: stop the metrics process."""
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
