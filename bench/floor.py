"""What every request pays: ``python -m bench.floor [count] [--runs N]``.

A private Redis and gunicorn as in production (``deploy/gunicorn.conf.py``); one
keep-alive connection asks ``count`` times for ``GET /healthz`` and for ``GET
/oidc/jwks``, ``--runs`` times each, and this prints the workers' CPU per request,
the part of it their main threads (gthread's poller) took, and the share of the
cores other processes took. Then, in this process, the same app's audit line
(:func:`gateway.logs.audit` as the token request writes it, the line to /dev/null)
timed by thread CPU in a loop; and one Redis round trip (PING through the store's client, the
health probe's) by thread CPU in a loop, in a process as it is and in one gevent has patched as
gunicorn's workers are.

Where the client and the worker run moves the figure more than the changes measured
here: unpinned on an idle 2-core host, /healthz read 0.82 ms (the two ping-pong across
the cores, each idling in between); pinned to one core, or beside a busy process,
0.45-0.55 ms. Compare figures taken the same way, one after the other, e.g. all
pinned to one core: ``taskset -c 1 .venv/bin/python -m bench.floor``.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import stack
from .load import RawConnection
from .meter import Meter

PATHS = ("/healthz", "/oidc/jwks")
#: An audit line as the OIDC token request writes it (no secret in it).
AUDIT_FIELDS = {"client": "bench-client", "grant_type": "authorization_code", "account": "bench-0001"}


def per_request(gw: stack.Gateway, path: str, count: int) -> str:
    """Worker CPU per request over ``count`` requests on one connection, of which the main threads',
    and the share of the cores other processes took."""
    conn = RawConnection(gw.host, gw.port)
    try:
        for _ in range(200):  # warm-up: imports, caches, the connection
            conn.request("GET", path)
        main = gw.main_threads_cpu_seconds()
        with Meter(gw) as usage:
            for _ in range(count):
                reply = conn.request("GET", path)
                if reply.status != 200:
                    sys.exit(f"bench: {path} answered {reply.status}")
        main = gw.main_threads_cpu_seconds() - main
    finally:
        conn.close()
    return (f"{1000 * usage.workers / count:.3f} ms (main threads {1000 * main / count:.3f}; "
            f"others {usage.share(usage.others)})")


def audit_line(count: int) -> float:
    """Thread CPU ms of one :func:`gateway.logs.audit` call, in an app context, the line to /dev/null."""
    from gateway import create_app, logs

    app = create_app()
    handler = next(h for h in logging.getLogger(logs.AUDIT).handlers if getattr(h, "_gateway", False))
    with open(os.devnull, "w") as sink, app.app_context():
        previous = handler.setStream(sink)  # type: ignore[attr-defined]
        try:
            for _ in range(200):
                logs.audit("oidc.token_issued", **AUDIT_FIELDS)
            started = time.thread_time()
            for _ in range(count):
                logs.audit("oidc.token_issued", **AUDIT_FIELDS)
            return 1000 * (time.thread_time() - started) / count
        finally:
            handler.setStream(previous)  # type: ignore[attr-defined]


#: One PING through :func:`gateway.store.connect`'s client, thread CPU in µs, in a fresh process
#: (argv: Redis URL, count, "gevent" to patch first as gunicorn's worker does).
_ROUND_TRIP = """
import sys
if sys.argv[3] == "gevent":
    from gevent import monkey
    monkey.patch_all()
import time
from gateway.config import RedisSettings
from gateway.store import connect

client, count = connect(RedisSettings(url=sys.argv[1])), int(sys.argv[2])
for _ in range(500):
    client.ping()
started = time.thread_time()
for _ in range(count):
    client.ping()
print(1e6 * (time.thread_time() - started) / count)
"""


def round_trip(redis_url: str, count: int, patched: bool) -> float:
    """Thread CPU µs of one PING by the store's client in a loop, in a fresh process (gevent-patched
    or not)."""
    done = subprocess.run([sys.executable, "-c", _ROUND_TRIP, redis_url, str(count), "gevent" if patched else "-"],
                          capture_output=True, text=True, check=True, cwd=stack.ROOT)
    return float(done.stdout)


def main(argv: list[str]) -> None:
    count = int(next((a for a in argv if a.isdigit()), "3000"))
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 3
    with tempfile.TemporaryDirectory(prefix="uness-bench-floor-") as directory:
        tmp = Path(directory)
        with stack.private_redis(tmp) as redis_url:
            with stack.gunicorn(redis_url, tmp / "gunicorn.log") as gw:
                env = stack.gateway_env(redis_url, gw.port)
                for path in PATHS:
                    figures = [per_request(gw, path, count) for _ in range(runs)]
                    print(f"GET {path}: worker CPU per request " + ", ".join(figures))
            for patched in (False, True):
                figures_us = [round_trip(redis_url, count * 3, patched) for _ in range(runs)]
                print(f"Redis round trip (PING, the store's client, in one process{', gevent-patched' * patched}, "
                      "thread CPU): " + ", ".join(f"{us:.1f} µs" for us in figures_us))
            os.environ.update(env)
            figures_ms = [audit_line(count * 3) for _ in range(runs)]
            print("audit line (in one process, thread CPU): "
                  + ", ".join(f"{ms * 1000:.1f} µs" for ms in figures_ms))


if __name__ == "__main__":
    main(sys.argv[1:])
