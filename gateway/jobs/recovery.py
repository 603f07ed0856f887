"""What a dead worker held, found by the living ones within seconds.

rq alone leaves a killed worker's work waiting: the job it was running stays in
the started registry until its job timeout (plus a minute) has passed and rq's
10-minute maintenance looks at it, and the scheduler lock of the dead worker's
scheduler (which moves due retries back onto the queues) lives about a minute,
so a worker restarted 10 s later did not schedule anything before its own
10-minute maintenance. A person waited 13 minutes for a 10-minute code.

Here every worker proves it is alive with a key of its own,
``gw:jobs:alive:<worker name>``, refreshed every :data:`ALIVE_REFRESH` seconds by a
thread and expiring :data:`ALIVE_TTL` seconds after the process died. Every second
(:func:`tick`), a worker:

1. takes over the scheduler lock of each queue whose holder is no longer alive
   (rq's own lock key, so two schedulers never run at once), then moves the due
   retries onto their queue (rq's scheduler, run in the worker's own process:
   no forked child to outlive it or to catch the worker's Ctrl-C);
2. puts back on its queue, at the front, every job of the started registry
   whose worker is no longer alive (:func:`recover_abandoned`), in one Redis
   transaction that a concurrent recovery cannot repeat. Its retries are
   untouched: the attempt never ended, so it keeps its remaining schedule. A
   job that :data:`MAX_ABANDONED` workers died running goes to the failed
   registry instead, so that one poisonous job cannot take every worker down.

A job that was being delivered when the worker died may thus be delivered twice
(SMTP accepted it, the worker died before recording it): that is the only case.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.serializers import JSONSerializer

from ..logs import audit
from ..store import key

#: A worker's alive key expires this long after its last refresh (seconds).
ALIVE_TTL = 10
#: The alive key is refreshed this often (seconds).
ALIVE_REFRESH = 2
#: A job whose worker died this many times is moved to the failed registry.
MAX_ABANDONED = 3
log = logging.getLogger("gateway.jobs")


def alive_key(worker_name: str) -> str:
    return key("jobs", "alive", worker_name)


def is_alive(connection: redis.Redis, worker_name: str) -> bool:
    return bool(worker_name) and bool(connection.exists(alive_key(worker_name)))


class Heartbeat:
    """A thread keeping ``gw:jobs:alive:<name>`` while the process lives (it dies with it)."""

    def __init__(self, connection: redis.Redis, worker_name: str) -> None:
        self.connection = connection
        self.key = alive_key(worker_name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobs-heartbeat", daemon=True)

    def start(self) -> None:
        """Write the key once (raises ``redis.RedisError``), then keep it fresh in the thread."""
        self.connection.set(self.key, b"1", ex=ALIVE_TTL)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(ALIVE_REFRESH):
            try:
                self.connection.set(self.key, b"1", ex=ALIVE_TTL)
            except (redis.RedisError, OSError) as exc:
                log.warning("jobs: heartbeat not written: %s", exc)

    def stop(self) -> None:
        """Stop the thread and delete the key (a clean stop leaves nothing to recover)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(ALIVE_REFRESH + 1)
        try:
            self.connection.delete(self.key)
        except (redis.RedisError, OSError):
            pass  # it expires on its own


def take_over_dead_locks(scheduler: RQScheduler, connection: redis.Redis, queue_names: Iterable[str]) -> None:
    """Free the scheduler locks whose holder (a worker name) is no longer alive.

    The release compares the holder first (rq's script): a lock a living worker took meanwhile stays.
    """
    for name in queue_names:
        lock = scheduler.get_locking_key(name)
        holder = connection.get(lock)
        if holder is None or holder.decode() == scheduler.name:
            continue
        if not is_alive(connection, holder.decode()):
            if release_lock(connection, lock, holder.decode()):
                log.info("jobs: scheduler lock of %s taken from a dead worker", name)


def schedule_due(scheduler: RQScheduler, connection: redis.Redis, queue_names: Iterable[str]) -> None:
    """Take (or keep) the scheduler lock of each queue and move its due retries onto it."""
    take_over_dead_locks(scheduler, connection, queue_names)
    if scheduler.acquire_locks():
        scheduler.enqueue_scheduled_jobs()


def recover_abandoned(queue: Queue) -> int:
    """Put back every job of ``queue``'s started registry whose worker is not alive; how many."""
    registry = StartedJobRegistry(queue.name, connection=queue.connection, serializer=JSONSerializer)
    recovered = 0
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        execution = Execution(execution_id, job_id, queue.connection)
        try:
            execution.refresh()
        except ValueError:
            pass  # its record expired: its worker stopped refreshing it long ago
        if is_alive(queue.connection, execution.worker_name):
            continue
        if _requeue(queue, registry, execution):
            recovered += 1
    return recovered


def _requeue(queue: Queue, registry: StartedJobRegistry, execution: Execution) -> bool:
    """In one transaction: out of the started registry, back at the front of its queue (or failed).

    False when another worker recovered it first (the registry changed under WATCH) or it is
    no longer a started job.
    """
    entry = execution.composite_key
    with queue.connection.pipeline() as pipe:
        try:
            pipe.watch(registry.key)
            if pipe.zscore(registry.key, entry) is None:
                return False
            try:
                job = Job.fetch(execution.job_id, connection=queue.connection, serializer=JSONSerializer)
            except NoSuchJobError:
                job = None
            pipe.multi()
            execution.delete(job, pipe) if job is not None else pipe.zrem(registry.key, entry)
            if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
                pipe.execute()
                return False
            _put_back(queue, job, pipe)
            pipe.execute()
        except redis.WatchError:
            return False
    audit("jobs.recovered", queue=queue.name, job=job.id, abandoned=job.meta["abandoned"],
          failed=job.get_status(refresh=False) == JobStatus.FAILED)
    return True


def _put_back(queue: Queue, job: Job, pipe: redis.client.Pipeline) -> None:
    abandoned = int(job.meta.get("abandoned", 0)) + 1
    job.meta["abandoned"] = abandoned
    if abandoned < MAX_ABANDONED:
        queue.enqueue_job(job, pipeline=pipe, at_front=True)  # saves the job, meta included
        return
    error = f"the worker died {abandoned} times while running this job"
    job.set_status(JobStatus.FAILED, pipeline=pipe)
    job.save(pipeline=pipe)
    job.failed_job_registry.add(job, ttl=job.failure_ttl, pipeline=pipe, exc_string=error)
    Result.create_failure(job, job.failure_ttl, error, pipeline=pipe)
