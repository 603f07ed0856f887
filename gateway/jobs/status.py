"""What ``gateway jobs`` shows (queue depths, oldest waiting job, failed jobs) and how it retries them."""
from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable

from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import utcparse

from . import JobQueue

#: An address in an error message (an SMTP refusal names the recipient): only its domain is shown.
_ADDRESS = re.compile(r"[^\s'\"<>(),:;\[\]]+@")


class NoSuchFailedJob(LookupError):
    """No failed job has this id (it never failed, was retried, or expired)."""


@dataclasses.dataclass(frozen=True)
class QueueStatus:
    name: str
    waiting: int
    scheduled: int
    running: int
    failed: int
    #: Seconds since the oldest job still waiting (queued or due for a retry) was first queued.
    oldest_age: float | None


@dataclasses.dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    description: str
    failed_at: float | None
    error: str


def queue_status(queue: Queue, now: float | None = None) -> QueueStatus:
    """Depths of ``queue`` and its registries, and the age of its oldest waiting job."""
    connection, serializer = queue.connection, JSONSerializer
    scheduled = ScheduledJobRegistry(queue.name, connection=connection, serializer=serializer)
    waiting_ids = [*queue.get_job_ids(), *scheduled.get_job_ids(cleanup=False)]
    return QueueStatus(
        name=queue.name, waiting=queue.count, scheduled=len(waiting_ids) - queue.count,
        running=StartedJobRegistry(queue.name, connection=connection, serializer=serializer).get_job_count(
            cleanup=False),
        failed=FailedJobRegistry(queue.name, connection=connection, serializer=serializer).get_job_count(
            cleanup=False),
        oldest_age=_oldest_age(queue, waiting_ids, time.time() if now is None else now),
    )


def _oldest_age(queue: Queue, job_ids: list[str], now: float) -> float | None:
    """Seconds since the earliest ``created_at`` of these jobs (one pipelined HGET each)."""
    with queue.connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "created_at")
        created = [value for value in pipe.execute() if value]
    if not created:
        return None
    oldest = min(utcparse(value.decode()).timestamp() for value in created)
    return max(0.0, now - oldest)


def failed_jobs(queues: Iterable[Queue]) -> list[FailedJob]:
    """The failed jobs of ``queues``, newest last, each with the last line of its last error."""
    found: list[FailedJob] = []
    for queue in queues:
        registry = FailedJobRegistry(queue.name, connection=queue.connection, serializer=JSONSerializer)
        ids = registry.get_job_ids()
        for job in Job.fetch_many(ids, connection=queue.connection, serializer=JSONSerializer):
            if job is not None:
                found.append(_failed(queue.name, job))
    return sorted(found, key=lambda job: job.failed_at or 0)


def _failed(queue: str, job: Job) -> FailedJob:
    result = job.latest_result()
    text = result.exc_string if result is not None and result.type == Result.Type.FAILED else ""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    error = _ADDRESS.sub("*@", lines[-1])[:200] if lines else "(no error recorded)"
    ended = job.ended_at or (result.created_at if result is not None else None)
    failed_at = ended.timestamp() if ended is not None else None
    return FailedJob(job.id, queue, job.description or job.func_name, failed_at, error)


def retry(job_queue: JobQueue, job_id: str | None) -> list[str]:
    """Put one failed job (or, with ``None``, all) back on its queue with a fresh retry schedule.

    Returns the ids put back. Raises NoSuchFailedJob for an id that is not a failed job.
    """
    retried: list[str] = []
    for queue in job_queue.queues():
        registry = FailedJobRegistry(queue.name, connection=queue.connection, serializer=JSONSerializer)
        for candidate in registry.get_job_ids(cleanup=False):
            if job_id is None or candidate == job_id:
                if _retry_one(registry, candidate):
                    retried.append(candidate)
    if job_id is not None and not retried:
        raise NoSuchFailedJob(job_id)
    return retried


def _retry_one(registry: FailedJobRegistry, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=registry.connection, serializer=JSONSerializer)
    except NoSuchJobError:
        registry.remove(job_id)
        return False
    job.retries_left = len(job.retry_intervals or [])
    job.number_of_retries = 0
    job.meta.pop("abandoned", None)
    try:
        registry.requeue(job)  # saves the job with its fresh schedule
    except InvalidJobOperation:  # retried by someone else meanwhile
        return False
    return True
