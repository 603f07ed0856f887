"""``gateway jobs``: the job queues at a glance (depths, oldest waiting job, failed jobs), and retrying.

Redis unreachable, an unknown job id: one line on stderr, exit 1.
"""
from __future__ import annotations

from datetime import datetime, timezone

from typing import TYPE_CHECKING

import click
import redis

from . import Context, _safe_url, cli, fail, pass_context

if TYPE_CHECKING:
    from ..jobs import JobQueue


@cli.group("jobs", invoke_without_command=True)
@click.pass_context
def jobs_group(click_ctx: click.Context) -> None:
    """Queued jobs (mail, back-channel logout): depths, oldest waiting job, failed jobs."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(show)


@jobs_group.command("show")
@pass_context
def show(ctx: Context) -> None:
    """Queue depths, the oldest waiting job's age, and every failed job with its last error."""
    from ..jobs.status import failed_jobs, queue_status

    job_queue = _job_queue(ctx)
    try:
        queues = job_queue.queues()
        click.echo(f"{'queue':<12} {'waiting':>7} {'retrying':>8} {'running':>7} {'failed':>6}  "
                   "oldest waiting")
        for status in (queue_status(queue) for queue in queues):
            click.echo(f"{status.name:<12} {status.waiting:>7} {status.scheduled:>8} {status.running:>7} "
                       f"{status.failed:>6}  {_age(status.oldest_age)}")
        failed = failed_jobs(queues)
        if failed:
            click.echo(f"\nfailed jobs ({len(failed)}; "
                       "`gateway jobs retry --all` or `gateway jobs retry JOB_ID`):")
        for job in failed:
            click.echo(f"{job.id}  {job.queue}  {_when(job.failed_at)}  {job.description}: {job.error}")
    finally:
        job_queue.close()


@jobs_group.command("retry")
@click.argument("job_id", required=False)
@click.option("--all", "every", is_flag=True, help="Retry every failed job.")
@pass_context
def retry(ctx: Context, job_id: str | None, every: bool) -> None:
    """Put a failed job (or, with --all, every one) back on its queue, with a fresh retry schedule."""
    from ..jobs.status import NoSuchFailedJob
    from ..jobs.status import retry as retry_jobs

    if every == bool(job_id):
        fail("give one JOB_ID or --all")
    job_queue = _job_queue(ctx)
    try:
        retried = retry_jobs(job_queue, None if every else job_id)
    except NoSuchFailedJob:
        fail(f"no failed job {job_id} (see `gateway jobs`)")
    finally:
        job_queue.close()
    click.echo(f"{len(retried)} job(s) put back on their queue")


def _job_queue(ctx: Context) -> JobQueue:
    """The job queue over the configured Redis; one line and exit 1 when Redis does not answer."""
    from ..jobs import JobQueue

    job_queue = JobQueue(ctx.settings.redis)
    try:
        job_queue.connection.ping()
    except (redis.RedisError, OSError):
        job_queue.close()
        fail(f"cannot reach Redis ({_safe_url(ctx.settings.redis.url)}); is it running?")
    return job_queue


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "?"
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
