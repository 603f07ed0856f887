"""End-to-end fixtures: the real gateway under gunicorn, and headless Debian Chromium.

Nothing is downloaded: Playwright drives the system Chromium (``make test``
installs the ``chromium`` package). Every process started here is stopped at
teardown.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.accounts.directory import Directory
from gateway.accounts.models import Account, Email
from gateway.accounts.passwords import Passwords
from gateway.config import PasswordSettings, RedisSettings
from gateway.store import Store
from tests.conftest import DEV_KEY, TEST_SCOPES, RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Fast argon2 for the test; the gateway gets the same, so no rehash at sign-in.
FAST_ARGON2 = PasswordSettings(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"


class Gateway:
    """``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app`` on a free port, one worker.

    ``env_extra`` adds or replaces settings (tests/test_multinode.py gives a second node the
    first one's public URL).
    """

    def __init__(self, redis_url: str, log: Path, env_extra: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "REDIS_URL"}
        env.update(
            GATEWAY_MODE="development", GATEWAY_SECRET_KEY=DEV_KEY[:40], GATEWAY_PUBLIC_URL=self.url,
            GATEWAY_INSECURE_HTTP="true", GATEWAY_REDIS_URL=redis_url, GATEWAY_BIND=f"127.0.0.1:{self.port}",
            GATEWAY_WORKERS="1", GATEWAY_PASSWORDS_MEMORY_COST=str(FAST_ARGON2.memory_cost),
            GATEWAY_PASSWORDS_TIME_COST=str(FAST_ARGON2.time_cost),
            GATEWAY_SAML_EXTRA_SCOPES=",".join(TEST_SCOPES),
        )
        env.update(env_extra or {})  # may replace the above (another node's public URL)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "gateway.wsgi:app"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait_ready(self, timeout: float = 20) -> None:
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
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the arbiter (it stops its workers); the whole group is killed if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # a worker left behind, if any
        except ProcessLookupError:
            pass


@pytest.fixture
def directory_over_test_redis(redis_server: RedisServer, redis_client) -> Iterator[Directory]:
    """The account directory on the (flushed) test Redis the gateway also uses."""
    store = Store.from_settings(RedisSettings(url=redis_server.url))
    yield Directory(store)
    store.close()


@pytest.fixture
def account(directory_over_test_redis: Directory) -> Account:
    """An active account with a verified address and a password."""
    return directory_over_test_redis.create(Account(
        id="e2e-camille", emails=(Email("camille.e2e@chu-exemple.fr", True),), display_name="Camille Martin",
        status="active", password_hash=Passwords(FAST_ARGON2).hash(PASSWORD),
    ))


@pytest.fixture
def gateway(redis_server: RedisServer, redis_client, tmp_path: Path) -> Iterator[Gateway]:
    server = Gateway(redis_server.url, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(tmp_path: Path):
    """A page in headless system Chromium, fresh profile; skipped when Chromium or Playwright is missing."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs the Debian chromium package")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is missing: `make test` installs it")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800}, locale="fr-FR",
        )
        context.set_default_timeout(10_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
