"""The stack under test: a private redis-server, the gateway under gunicorn, bench accounts.

gunicorn runs exactly as in production (``deploy/gunicorn.conf.py``, default
argon2 parameters, ``GATEWAY_WORKERS``/``GATEWAY_THREADS`` defaults unless set
in the environment), in development mode on plain http, with rate limits off
so that they do not turn sign-ins away.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import redis

from gateway.accounts.directory import Directory
from gateway.accounts.models import Account, Email
from gateway.accounts.passwords import Passwords
from gateway.config import PasswordSettings, RedisSettings
from gateway.store import Store

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-only-secret-key-0123456789abcdefgh"  # 40 characters
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Settings the operator may vary between runs (``GATEWAY_THREADS=4 make bench``).
TUNABLES = ("GATEWAY_WORKERS", "GATEWAY_WORKER_CLASS", "GATEWAY_WORKER_CONNECTIONS", "GATEWAY_THREADS")
APP = "gateway.wsgi:app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a server started in its own process group (the bench's and the tests'): SIGTERM (it stops its
    children), then SIGKILL to the whole group if it lingers, and to a child left behind."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a gunicorn worker left behind, if any


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """A redis-server on a free loopback port, no persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("bench: redis-server is not installed (`make bench` installs it)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = redis.Redis(port=port)
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                break
            time.sleep(0.02)
        else:
            sys.exit("bench: the private redis-server did not start")
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_group(process)


@dataclasses.dataclass
class Gateway:
    host: str
    port: int
    pid: int
    workers: int
    threads: int
    log: Path
    worker_class: str = "gevent"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def model(self) -> str:
        """How gunicorn runs, as the reports print it: ``2 workers (gevent)``, ``2 workers x 32 threads
        (gthread)``."""
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"{self.workers} workers{threads} ({self.worker_class})"

    def cpu_seconds(self) -> float:
        """User + system CPU of the gunicorn workers so far (the arbiter does no request work)."""
        return sum(int(fields[11]) + int(fields[12]) for fields in _children(self.pid)) / CLOCK_TICKS

    def main_threads_cpu_seconds(self) -> float:
        """The part of :meth:`cpu_seconds` the workers' main threads used: gthread's poller, which hands
        each request to a pool thread and takes the keep-alive connection back after it."""
        total = 0
        for worker in _children_pids(self.pid):
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{worker}/task/{worker}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])
        return total / CLOCK_TICKS

    def hashing_cpu_seconds(self) -> float:
        """The part of :meth:`cpu_seconds` its argon2 threads used: the workers' threads running at a
        lower priority (``nice`` > 0, see gateway.accounts.passwords)."""
        total = 0
        for worker in _children_pids(self.pid):
            for stat in Path(f"/proc/{worker}/task").glob("*/stat"):
                with contextlib.suppress(OSError):
                    fields = stat.read_text().rpartition(")")[2].split()
                    if int(fields[16]) > 0:  # field 19 of stat(5): nice
                        total += int(fields[11]) + int(fields[12])
        return total / CLOCK_TICKS


def gateway_env(redis_url: str, port: int, extra_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the bench's gateway processes: this one's, without its ``GATEWAY_*`` settings."""
    env = {k: v for k, v in os.environ.items()
           if k in TUNABLES or not (k.startswith("GATEWAY_") or k == "REDIS_URL")}
    env.update(GATEWAY_MODE="development", GATEWAY_SECRET_KEY=SECRET_KEY, GATEWAY_INSECURE_HTTP="true",
               GATEWAY_PUBLIC_URL=f"http://127.0.0.1:{port}", GATEWAY_BIND=f"127.0.0.1:{port}",
               GATEWAY_REDIS_URL=redis_url, GATEWAY_LIMITS_ENABLED="false")
    env.update(extra_env or {})
    return env


@contextlib.contextmanager
def mail_worker(redis_url: str, log: Path, extra_env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``gateway mail-worker`` (the job worker) on the bench's Redis; ``extra_env`` names the SMTP server."""
    env = gateway_env(redis_url, 0, extra_env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from gateway.cli import main; main()", "mail-worker"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process)


@contextlib.contextmanager
def gunicorn(redis_url: str, log: Path, app: str = APP,
             extra_env: Mapping[str, str] | None = None) -> Iterator[Gateway]:
    """``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app`` on a free port, ready to serve.

    ``extra_env`` adds settings of the bench's own (the OIDC bench's clients file).
    """
    port = free_port()
    env = gateway_env(redis_url, port, extra_env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", app],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        workers = int(env.get("GATEWAY_WORKERS", os.cpu_count() or 1))
        gateway = Gateway("127.0.0.1", port, process.pid, workers, int(env.get("GATEWAY_THREADS", 32)), log,
                          env.get("GATEWAY_WORKER_CLASS", "gevent"))
        _wait_ready(gateway, process)
        yield gateway
    finally:
        stop_group(process)


def _wait_ready(gateway: Gateway, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench: gunicorn exited with {process.returncode}:\n{gateway.log.read_text()}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(gateway.url + "/healthz", timeout=1):
                # every worker up: the busy phase must not include a worker still booting
                if sum(1 for _ in _children(gateway.pid)) >= gateway.workers:
                    return
        time.sleep(0.1)
    sys.exit(f"bench: the gateway did not answer within {timeout} s:\n{gateway.log.read_text()}")


def _children(pid: int) -> Iterator[list[str]]:
    """The ``/proc/<child>/stat`` fields after the command name, for each child of ``pid``."""
    for _, fields in _children_stats(pid):
        yield fields


def _children_pids(pid: int) -> Iterator[int]:
    for child, _ in _children_stats(pid):
        yield child


def _children_stats(pid: int) -> Iterator[tuple[int, list[str]]]:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:  # the parent pid
                yield int(stat.parent.name), fields


def create_accounts(redis_url: str, count: int, password: str) -> list[str]:
    """``count`` active accounts with a verified address and ``password`` hashed with the defaults.

    One hash serves every account: verifying it costs the same, and hashing
    hundreds of times at the real parameters would only slow the bench down.
    """
    store = Store.from_settings(RedisSettings(url=redis_url))
    try:
        directory = Directory(store)
        password_hash = Passwords(PasswordSettings()).hash(password)
        emails = [f"bench-{n:04d}@bench.uness.fr" for n in range(count)]
        for n, email in enumerate(emails):
            directory.create(Account(id=f"bench-{n:04d}", emails=(Email(email, True),), status="active",
                                     password_hash=password_hash))
        return emails
    finally:
        store.close()


@dataclasses.dataclass(frozen=True)
class RedisCounters:
    commands: int
    cpu_seconds: float


def redis_counters(redis_url: str) -> RedisCounters:
    client = redis.Redis.from_url(redis_url)
    try:
        stats, cpu = client.info("stats"), client.info("cpu")
    finally:
        client.close()
    return RedisCounters(int(stats["total_commands_processed"]),
                         float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]))


def busy_cpu_seconds() -> float:
    """CPU seconds every core spent busy since boot, whoever used it (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS
