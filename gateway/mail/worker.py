"""The mail worker: an rq ``SimpleWorker`` (no fork per job) on the ``mail`` queue, with the scheduler.

The scheduler moves retries whose interval has passed back onto the queue; rq
lets one scheduler per queue run, so several workers may run side by side.
"""
from __future__ import annotations

import logging

from flask import Flask
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from . import service


class HideJobArguments(logging.Filter):
    """rq attaches a failed job's arguments (the whole mail) to its log record: drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("arguments", "kwargs"):
            if hasattr(record, name):
                setattr(record, name, "[omitted]")
        return True


def make_worker(app: Flask) -> SimpleWorker:
    """A worker on the app's mail queue, and the queues other packages list in
    ``app.extensions["gateway.job_queues"]`` (OIDC and SAML back-channel logout, listed once), on the
    mail Redis connection."""
    rq_logger = logging.getLogger("rq.worker")
    if not any(isinstance(f, HideJobArguments) for f in rq_logger.filters):
        rq_logger.addFilter(HideJobArguments())
    mail = service(app)
    others = [Queue(name, connection=mail.connection, serializer=JSONSerializer)
              for name in dict.fromkeys(app.extensions.get("gateway.job_queues", ()))]  # once each
    return SimpleWorker([mail.queue, *others], connection=mail.connection, serializer=JSONSerializer)


def run_worker(app: Flask, *, burst: bool = False) -> bool:
    """Deliver inside the app context until stopped (or, with ``burst``, until the queue is empty).

    Returns whether any job ran. The scheduler first queues the retries that are due.
    """
    worker = make_worker(app)
    try:
        with app.app_context():
            return worker.work(burst=burst, with_scheduler=True)
    finally:
        if worker.scheduler is not None:
            worker.scheduler.connection.close()
            worker.scheduler.connection.connection_pool.disconnect()
