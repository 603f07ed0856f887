"""Shared fixtures: a real redis-server for the session, the app, its client, and the helpers
every test directory uses (in tests/helpers/, imported here):

* ``browser`` (:class:`tests.helpers.browser.Browser` over ``client``; ``Browser(url=...)`` for a
  live server): ``browser.sign_in(address, password=PASSWORD, start=None, remember=False)`` fills
  the address and password pages; ``browser.submit(path, data, form_page=..., page=...)`` POSTs
  ``data`` with the CSRF token read from the form's page; ``browser.post_form(page, fields, action=...,
  field=...)`` POSTs a form of ``page`` with its own fields and ``fields`` over them, to its action;
  ``get``/``post`` (``history`` keeps every response); ``signed_in()``.
* Forms (:mod:`tests.helpers.forms`, html.parser): ``csrf_token(page)``, ``page_form(page,
  action=..., field=...)`` -> ``Form(action, method, fields)``, ``forms(page)``; ``page`` is HTML,
  a Flask test response or a ``requests`` response.
* ``make_account(*addresses, account_id=None, password=PASSWORD, status="active", verified=True,
  **Account fields)``: an account in the test Redis (:func:`tests.helpers.accounts.create_account`
  does the same in any ``Directory``). ``PASSWORD`` is the password of every test account.
* ``gunicorn(env=None)``: the gateway under gunicorn with the test settings (``env`` added), ready on
  a free port, stopped at teardown; :class:`tests.helpers.servers.Gunicorn` is the launcher itself
  (``with Gunicorn(redis_url, log, env) as server:``), and shows its log when it does not start.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import functools

import pytest
import redis
import saml2.cryptography.asymmetric as saml2_asymmetric
from werkzeug.serving import WSGIRequestHandler, make_server

from gateway import create_app
from gateway.accounts.directory import Directory
from gateway.accounts.models import Account
from gateway.store import Store
from tests.helpers.accounts import PASSWORD, create_account
from tests.helpers.browser import Browser
from tests.helpers.servers import DEV_KEY, TEST_SCOPES, Gunicorn, free_port

__all__ = ["DEV_KEY", "PASSWORD", "TEST_SCOPES", "Browser", "Gunicorn", "RedisServer", "WsgiServer",
           "free_port", "make_app"]

pytest_plugins = ["tests.fixtures_mail"]

# Every test app loads the same development RSA keys, and pysaml2 re-checks an RSA key at
# each load (~0.1 s): load each key once per test session (the key objects are immutable).
saml2_asymmetric.load_pem_private_key = functools.lru_cache(maxsize=32)(saml2_asymmetric.load_pem_private_key)


class _Quiet(WSGIRequestHandler):
    def log(self, *args: Any) -> None:
        pass


class WsgiServer:
    """A WSGI app served on 127.0.0.1:``port`` by werkzeug, in a thread of this process, no request log."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class RedisServer:
    """A real redis-server on a free loopback port, in its own directory."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make test`, which installs it")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def empty_redis_url(redis_server: RedisServer):
    """The URL of another database of the test server, empty: where a restore goes."""
    url = redis_server.url.rsplit("/", 1)[0] + "/1"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def base_config(redis_server: RedisServer) -> dict:
    """The overrides every test app starts from (fast argon2 parameters for speed)."""
    return {
        "mode": "development",
        "public_url": "http://127.0.0.1:8000",
        "secret_key": DEV_KEY,
        "insecure_http": True,
        "redis": {"url": redis_server.url},
        "passwords": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        "scim": {"tokens": {"cockpit": "scim-test-token-cockpit-0123456789", "other": "scim-test-token-other-0123456789abc"}},
        "saml": {"extra_scopes": list(TEST_SCOPES)},
    }


def make_app(config: dict):
    """An app whose Redis connections are closed when the test ends (see the fixtures)."""
    app = create_app(config, environ={})
    _apps.append(app)
    return app


_apps: list = []


@pytest.fixture(autouse=True)
def _close_apps():
    yield
    while _apps:
        app = _apps.pop()
        app.extensions["gateway.store"].close()
        if "gateway.jobs" in app.extensions:
            app.extensions["gateway.jobs"].close()


@pytest.fixture
def app(base_config: dict, redis_client):
    return make_app(base_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["gateway.store"]


@pytest.fixture
def directory(app):
    return app.extensions["gateway.directory"]


@pytest.fixture
def browser(client) -> Browser:
    """A person's browser on the test app (see :class:`Browser`)."""
    return Browser(client)


@pytest.fixture
def make_account(redis_client):
    """``make_account(*addresses, **options)`` -> the Account created in the test Redis, which every
    test app and test gunicorn reads (options: :func:`create_account`)."""
    directory = Directory(Store(redis_client))

    def make(*addresses: str, **options: Any) -> Account:
        return create_account(directory, *addresses, **options)

    return make


@pytest.fixture
def gunicorn(redis_server: RedisServer, redis_client, tmp_path: Path):
    """``gunicorn(env=None)`` -> a :class:`Gunicorn` serving the test Redis, ready; every one started
    is stopped at teardown. Its log is ``tmp_path/gunicorn-N.log``."""
    started: list[Gunicorn] = []

    def start(env: dict[str, str] | None = None) -> Gunicorn:
        server = Gunicorn(redis_server.url, tmp_path / f"gunicorn-{len(started) + 1}.log", env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
