"""Fixtures for the ``gateway`` command tests: environment, a runner, the directory."""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import gateway.cli.users  # noqa: F401  registers ``gateway users …``
from gateway import logs
from gateway.accounts.directory import Directory
from gateway.accounts.passwords import Passwords
from gateway.cli import cli
from gateway.config import PasswordSettings
from gateway.store import Store
from tests.conftest import DEV_KEY, TEST_SCOPES

Invoke = Callable[..., Result]


def cli_environ(redis_url: str) -> dict[str, str]:
    """The process environment without GATEWAY_* / REDIS_URL, plus the test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "REDIS_URL"}
    env.update({
        "GATEWAY_MODE": "development",
        "GATEWAY_SECRET_KEY": DEV_KEY,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_PASSWORDS_MEMORY_COST": "1024",
        "GATEWAY_PASSWORDS_TIME_COST": "1",
        "GATEWAY_SAML_EXTRA_SCOPES": json.dumps(list(TEST_SCOPES)),
    })
    return env


def set_environ(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Make os.environ exactly ``env`` for the test (load_settings reads os.environ)."""
    for name in list(os.environ):
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, redis_server: Any) -> dict[str, str]:
    """os.environ as the command sees it."""
    env = cli_environ(redis_server.url)
    set_environ(monkeypatch, env)
    return env


LOGGERS = ("gateway", logs.AUDIT)


def unconfigure_logging() -> None:
    """Let the next invocation configure logging afresh, so audit lines land in its stderr."""
    for name in LOGGERS:
        logging.getLogger(name).handlers = []
    logging.getLogger("gateway")._gateway_configured = False  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the process-wide logging configuration back as it was before the test."""
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in map(logging.getLogger, LOGGERS)]
    configured = getattr(logging.getLogger("gateway"), "_gateway_configured", False)
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers, lg.level, lg.propagate = handlers, level, propagate
    logging.getLogger("gateway")._gateway_configured = configured  # type: ignore[attr-defined]


def invoke(*args: str, input: str | bytes | None = None) -> Result:
    """``invoke("users", "show", "x", input=...)`` -> click Result, with os.environ as it is.

    Exceptions are re-raised: a command that crashes fails the test.
    """
    unconfigure_logging()
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def run(cli_env: dict[str, str], redis_client: Any) -> Invoke:
    """:func:`invoke` over a flushed database."""
    return invoke


@pytest.fixture
def accounts(redis_client: Any) -> Directory:
    """The directory over the flushed test database."""
    return Directory(Store(redis_client))


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(PasswordSettings(time_cost=1, memory_cost=1024, parallelism=1))


def audit_events(stderr: str) -> list[str]:
    """The audit event names in a command's stderr."""
    return [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith('{"time"')]


def jsonl(tmp_path: Path, *records: dict) -> str:
    """``records`` written as a JSON Lines file in ``tmp_path``; its path, for ``gateway users import``."""
    path = tmp_path / "people.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)
