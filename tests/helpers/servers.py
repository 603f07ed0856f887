"""The gateway under gunicorn, as in production (``deploy/gunicorn.conf.py``), for the tests that
need real processes: one launcher for them all."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

import pytest

from bench.stack import stop_group  # the one way to stop a server's process group (bench and tests)
from tests.helpers.accounts import FAST_ARGON2

ROOT = Path(__file__).resolve().parents[2]
#: The secret key of every test app and test gunicorn.
DEV_KEY = "test-secret-key-0123456789abcdef0123456789"
#: The legacy eppn scopes of the test configuration (saml.extra_scopes).
TEST_SCOPES = ("univ-exemple.fr", "univ.fr")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_environ(**settings: str) -> dict[str, str]:
    """This process's environment without GATEWAY_* / REDIS_URL, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "REDIS_URL"}
    return {**env, **settings}


class Gunicorn:
    """``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app`` on a free port of 127.0.0.1.

    The gateway gets the test settings (development mode over plain HTTP, the test secret key, its
    own address as public URL, fast argon2, the test eppn scopes, one worker) with ``env`` added
    or replacing them (another node's public URL, two workers, a metrics listener...); its output
    goes to ``log``. ``start()`` (or ``with Gunicorn(...) as server:``) starts it and waits until
    /healthz answers 200, else stops it and fails the test showing the log; ``stop()`` (or the end of
    the ``with``) stops it. ``output()`` is the log.
    """

    def __init__(self, redis_url: str, log: Path, env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = gunicorn_environ(
            GATEWAY_MODE="development", GATEWAY_SECRET_KEY=DEV_KEY[:40], GATEWAY_PUBLIC_URL=self.url,
            GATEWAY_INSECURE_HTTP="true", GATEWAY_REDIS_URL=redis_url, GATEWAY_BIND=f"127.0.0.1:{self.port}",
            GATEWAY_WORKERS="1", GATEWAY_PASSWORDS_MEMORY_COST=str(FAST_ARGON2.memory_cost),
            GATEWAY_PASSWORDS_TIME_COST=str(FAST_ARGON2.time_cost),
            GATEWAY_SAML_EXTRA_SCOPES=",".join(TEST_SCOPES),
        )
        self.env.update(env or {})  # may replace the above (another node's public URL)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> Gunicorn:
        """Start gunicorn and wait until it serves (see :meth:`wait_ready`); stopped again if it does not."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "gateway.wsgi:app"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 20) -> None:
        """Until /healthz answers 200; fails the test with the log when gunicorn exits or is too slow."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"the gateway did not answer /healthz within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM to the arbiter (it stops its workers); the whole group is killed if it lingers."""
        process, self.process = self.process, None
        stop_group(process)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
