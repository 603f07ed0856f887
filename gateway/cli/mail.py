"""``gateway mail-worker`` (runs queued jobs: mail, back-channel logout) and ``gateway mail-sink`` (a
development SMTP sink).

Both stop cleanly on Ctrl-C (or SIGTERM) and report a failure as one line on stderr.
"""
from __future__ import annotations

import os
import signal
import threading
from email.message import EmailMessage
from types import FrameType

import click
import redis

from . import _safe_url, cli, create_app_or_exit, fail


@cli.command("mail-worker")
@click.option("--burst", is_flag=True, help="Run what is queued (and due), then exit.")
def mail_worker(burst: bool) -> None:
    """Deliver queued mail over SMTP and back-channel logouts, retrying while they fail (Ctrl-C stops)."""
    from .. import jobs, services
    from ..jobs.worker import run_worker

    app = create_app_or_exit()
    job_queue = jobs.service(app)
    try:
        job_queue.connection.ping()
    except (redis.RedisError, OSError) as exc:
        job_queue.close()
        fail(f"cannot reach Redis ({_safe_url(services.settings(app).redis.url)}): {exc}")
    settings = services.settings(app).mail
    click.echo(f"mail worker: queues {', '.join(jobs.QUEUES)}; mail -> SMTP {settings.server}:{settings.port} "
               f"({settings.security})" + ("" if burst else "; Ctrl-C stops"))
    try:
        run_worker(app, burst=burst)
    except KeyboardInterrupt:  # Ctrl-C before the worker installed its own handlers
        pass
    except redis.RedisError as exc:
        fail(f"Redis error: {type(exc).__name__}: {exc}")
    finally:
        job_queue.close()
        services.store(app).close()
    click.echo("mail worker stopped")


@cli.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
def mail_sink(host: str, port: int) -> None:
    """Development SMTP server: print every mail received (To, Subject, text) instead of delivering it."""
    from ..mail.sink import SmtpServer, format_message

    def show(message: EmailMessage) -> None:
        click.echo(format_message(message))

    server = SmtpServer(show, host, port)
    try:
        server.start()
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {_reason(exc)}")
    click.echo(f"mail sink on {host}:{port} (set mail.server = \"{host}\", mail.port = {port}, "
               "mail.security = \"none\"); Ctrl-C stops")
    try:
        _wait_for_stop()
    finally:
        server.stop()
    click.echo("mail sink stopped")


def _reason(exc: OSError) -> str:
    """The system's wording ("Address already in use"), without the details Python adds."""
    if isinstance(exc.errno, int) and exc.errno > 0:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def _wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(3600):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
