"""``gateway mail-worker`` (delivers queued mail) and ``gateway mail-sink`` (a development SMTP sink).

Both stop cleanly on Ctrl-C (or SIGTERM) and report a failure as one line on stderr.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from email.message import EmailMessage
from types import FrameType
from typing import TYPE_CHECKING

import click
import redis

from . import _safe_url, cli, fail

if TYPE_CHECKING:
    from flask import Flask


@cli.command("mail-worker")
@click.option("--burst", is_flag=True, help="Deliver what is queued (and due), then exit.")
def mail_worker(burst: bool) -> None:
    """Deliver queued mail over SMTP, retrying while SMTP fails (Ctrl-C stops)."""
    from ..mail import service
    from ..mail.worker import run_worker

    app = _create_app()
    mail = service(app)
    try:
        mail.connection.ping()
    except (redis.RedisError, OSError) as exc:
        mail.close()
        fail(f"cannot reach Redis ({_safe_url(app.extensions['gateway.settings'].redis.url)}): {exc}")
    settings = mail.settings
    click.echo(f"mail worker: queue 'mail' -> SMTP {settings.server}:{settings.port} ({settings.security})"
               + ("" if burst else "; Ctrl-C stops"))
    try:
        run_worker(app, burst=burst)
    except redis.RedisError as exc:
        fail(f"Redis error: {type(exc).__name__}: {exc}")
    finally:
        mail.close()
        app.extensions["gateway.store"].close()
    click.echo("mail worker stopped")


def _create_app() -> Flask:
    """The app, with mail configured; configuration problems end the command, one line each."""
    from .. import create_app, mail
    from ..config import ConfigError

    try:
        app = create_app()
        if mail.EXTENSION not in app.extensions:
            mail.init_app(app)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"gateway: configuration error: {problem}", err=True)
        sys.exit(1)
    return app


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
