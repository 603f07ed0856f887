"""The job worker (``gateway mail-worker``): one process, every queue, retries and recovery included.

An rq ``SimpleWorker`` (no fork per job) on :data:`gateway.jobs.QUEUES` that, once
a second between jobs (:meth:`JobWorker.tick`), moves due retries onto their
queues and recovers what dead workers held (:mod:`.recovery`). rq's scheduler
normally runs in a forked child process; here it runs in the worker's own
process, so nothing outlives a killed worker, and Ctrl-C has one process to stop:
the signal handlers are installed before anything else starts (a Ctrl-C that
came while rq forked its scheduler used to leave the worker waiting forever for
a child that never heard it). A stop request only raises a flag, read between
two Redis commands, before the next wait for a job (:meth:`JobWorker.run_maintenance_tasks`,
at least once a tick): rq's own
handler raised ``StopRequested`` from wherever the signal landed, in the middle
of a Redis reply or a lock shared with the heartbeat thread. Several workers may run side by side, on one
machine or several: one scheduler lock per queue, and recovery is transactional.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from flask import Flask
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.job_lifecycle import call_exception_handlers
from rq.utils import now

from . import service
from .names import NamedJob
from .recovery import Heartbeat, recover_abandoned, schedule_due

#: Seconds between two ticks (and the longest wait for a job before one).
TICK = 1
log = logging.getLogger("gateway.jobs")


class HideJobArguments(logging.Filter):
    """rq attaches a failed job's arguments (a whole mail) to its log record: drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("arguments", "kwargs"):
            if hasattr(record, name):
                setattr(record, name, "[omitted]")
        return True


class JobWorker(SimpleWorker):  # type: ignore[misc]
    """rq's in-process worker, plus the scheduler, the heartbeat and recovery of :mod:`.recovery`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, serializer=JSONSerializer, job_class=NamedJob, **kwargs)
        self.alive = Heartbeat(self.connection, self.name)
        self.retries = RQScheduler(self.queue_names(), self.connection, interval=TICK,
                                   serializer=JSONSerializer, name=self.name)
        self._last_tick = float("-inf")

    @property
    def dequeue_timeout(self) -> int:
        return TICK

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return self._stop_requested or time.monotonic() - self._last_tick >= TICK

    def run_maintenance_tasks(self) -> None:
        """Every tick: :meth:`tick`; every ``maintenance_interval``: rq's own registry cleaning too.

        rq asks before every wait for a job (never between taking a job and running it): the safe point
        where a stop request ends the loop. Raises ``StopRequested`` then (rq's loop catches it and tears down).
        """
        if self._stop_requested:
            raise StopRequested()
        self.tick()
        interval = timedelta(seconds=self.maintenance_interval)
        if self.last_cleaned_at is None or now() - self.last_cleaned_at > interval:
            self.clean_registries()
            self.clean_group_registries()

    def tick(self) -> None:
        """Move the due retries onto their queues, then recover the jobs of dead workers."""
        self._last_tick = time.monotonic()
        schedule_due(self.retries, self.connection, self.queue_names())
        for queue in self.queues:
            if count := recover_abandoned(queue):
                log.warning("jobs: %d job(s) of a dead worker put back on %s", count, queue.name)

    def handle_exception(self, job: Any, *exc_info: Any) -> None:
        """A job that raised (SMTP or an SP away: it is retried): one line naming the job and the exception's
        class, never a traceback nor the exception's text (it may hold an address); the job's own audit line
        says more, and ``gateway jobs`` shows a failed job's last error."""
        log.warning("jobs: %s raised %s", job.description or job.id, exc_info[0].__name__ if exc_info else "?")
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def subscribe(self) -> None:
        """No pubsub thread for rq's remote commands: systemd's signals stop the worker. (Its 60 s
        wait for a subscription made a stopping worker hang that long.)"""

    def _shutdown(self) -> None:
        """SIGINT / SIGTERM (rq's handler, which then arms a second signal for a cold stop): stop at the
        next safe point, after the job running now if any. Neither raises nor talks to Redis from inside the
        handler: the signal may have landed while this thread held the connection pool's lock."""
        self._stop_requested = True

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        self._install_signal_handlers()  # before anything can be interrupted half-way
        super().bootstrap(*args, **kwargs)

    def work(self, burst: bool = False, **kwargs: Any) -> bool:
        """rq's loop, with the heartbeat alive around it. Returns whether any job ran."""
        self.alive.start()
        try:
            return bool(super().work(burst=burst, **kwargs))
        except StopRequested:  # Ctrl-C while starting: the loop had not begun, nothing to finish
            self.teardown()
            return False
        finally:
            self.retries.release_locks()
            self.alive.stop()
            self.retries.connection.close()
            self.retries.connection.connection_pool.disconnect()


def make_worker(app: Flask) -> JobWorker:
    """A worker on every queue of :mod:`gateway.jobs`, over the app's job Redis client."""
    rq_logger = logging.getLogger("rq.worker")
    if not any(isinstance(f, HideJobArguments) for f in rq_logger.filters):
        rq_logger.addFilter(HideJobArguments())
    jobs = service(app)
    return JobWorker(jobs.queues(), connection=jobs.connection)


def run_worker(app: Flask, *, burst: bool = False) -> bool:
    """Run jobs inside the app context until stopped (or, with ``burst``, until nothing is due).

    Returns whether any job ran. Raises ``redis.RedisError`` when Redis cannot be reached.
    """
    worker = make_worker(app)
    with app.app_context():
        return worker.work(burst=burst)
