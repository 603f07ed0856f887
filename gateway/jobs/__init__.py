"""The one job queue: work done after a request, by ``gateway mail-worker``, retried while it fails.

Mail delivery (:mod:`gateway.mail`), SAML SOAP logout (:mod:`gateway.saml.slo.backchannel`)
and OIDC back-channel logout (:mod:`gateway.oidc.backchannel`) put their jobs here
with :func:`enqueue`: one bytes-reply Redis client (rq needs it) built from the
store's settings, so it follows Sentinel as the store does, and rq queues named
here (:data:`MAIL`, :data:`LOGOUT`), which the worker (:mod:`.worker`) listens to.

A job is a function of this package's callers, registered under a stable name
(:func:`job`, e.g. ``"mail.deliver"``: what Redis stores, so a function may move
between modules without stranding queued jobs; :mod:`.names`), and JSON
arguments (never pickle).
It raises to ask for another attempt: rq tries again after each interval of the
retry schedule given at enqueue time; after the last one the job waits in rq's
failed registry (``failure_ttl``) until ``gateway jobs retry`` puts it back.
A job that finished leaves nothing in Redis (``result_ttl=0``).

When a worker dies (SIGKILL, OOM, reboot), what it held is recovered by the
next worker within seconds (:mod:`.recovery`): the scheduled retries, and the
job it was running, which goes back on its queue with its remaining schedule.

    gateway.jobs        enqueue(), the queue names, the Redis client
    gateway.jobs.names  the job functions by stable name, and the module paths they had before
    gateway.jobs.worker the worker (rq SimpleWorker + recovery, in one process)
    gateway.jobs.recovery  liveness of workers, scheduler locks, abandoned jobs
    gateway.jobs.status what ``gateway jobs`` shows and retries
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import redis
from flask import Flask, current_app
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from .. import services
from ..config import RedisSettings
from ..store import connect
from .names import NamedJob, job, name_of

__all__ = ["LOGOUT", "MAIL", "QUEUES", "JobQueue", "enqueue", "init_app", "job", "service"]

#: Mail to people (:mod:`gateway.mail`).
MAIL = "mail"
#: Back-channel logout to SAML SPs (SOAP) and OIDC relying parties.
LOGOUT = "backchannel"
#: Every queue, in the order a worker takes jobs from them.
QUEUES = (MAIL, LOGOUT)
EXTENSION = "gateway.jobs"
#: A job that exhausted its retries stays this long in the failed registry (seconds), unless told otherwise.
FAILED_TTL = 7 * 24 * 3600


def retry_schedule(intervals: Sequence[int]) -> Retry | None:
    """rq's retry: one more attempt after each of ``intervals`` seconds (none if empty)."""
    steps = [int(step) for step in intervals]
    return Retry(max=len(steps), interval=steps) if steps else None


class JobQueue:
    """The rq queues of one app over one lazily connected bytes-reply Redis client."""

    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings
        self._connection: redis.Redis | None = None
        self._lock = threading.Lock()

    @property
    def connection(self) -> redis.Redis:
        """The client (created on first use; nothing is sent until a command)."""
        with self._lock:
            if self._connection is None:
                self._connection = connect(self._settings, decode=False)
            return self._connection

    def queue(self, name: str) -> Queue:
        """The rq queue ``name`` (one of :data:`QUEUES`). Raises ValueError for another name."""
        if name not in QUEUES:
            raise ValueError(f"unknown job queue {name!r}")
        return Queue(name, connection=self.connection, serializer=JSONSerializer, job_class=NamedJob)

    def queues(self) -> list[Queue]:
        return [self.queue(name) for name in QUEUES]

    def enqueue(self, queue: str, func: Callable[..., Any], *args: Any, retry_intervals: Sequence[int],
                timeout: int, description: str, failure_ttl: int = FAILED_TTL) -> Job:
        """Queue ``func(*args)`` on ``queue``, tried again after each of ``retry_intervals`` while it raises.

        ``func`` is a registered job (:func:`job`); the job stores its name. ``description`` is logged by
        rq: never a body, an address or a token. Raises ValueError for a function that is not a job, and
        ``redis.RedisError`` when Redis cannot be reached (nothing was queued).
        """
        return self.queue(queue).enqueue(
            name_of(func), *args, retry=retry_schedule(retry_intervals), description=description,
            result_ttl=0, failure_ttl=failure_ttl, job_timeout=timeout,
        )

    def close(self) -> None:
        """Close the pooled connections (tests and the CLI; a worker keeps its own)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection.connection_pool.disconnect()
                self._connection = None


def init_app(app: Flask) -> None:
    """Keep the app's :class:`JobQueue` in ``app.extensions["gateway.jobs"]``; nothing is contacted yet."""
    app.extensions[EXTENSION] = JobQueue(services.settings(app).redis)


def service(app: Flask | None = None) -> JobQueue:
    """The app's :class:`JobQueue` (the current app's by default)."""
    target = app if app is not None else current_app
    return cast(JobQueue, target.extensions[EXTENSION])


def enqueue(queue: str, func: Callable[..., Any], *args: Any, retry_intervals: Sequence[int], timeout: int,
            description: str, failure_ttl: int = FAILED_TTL) -> Job:
    """:meth:`JobQueue.enqueue` on the current app's queue. Raises ``redis.RedisError``."""
    return service().enqueue(queue, func, *args, retry_intervals=retry_intervals, timeout=timeout,
                             description=description, failure_ttl=failure_ttl)
