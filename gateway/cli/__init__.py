"""The ``gateway`` command: configuration checks and account provisioning.

Every failure ends with a non-zero exit and one clear line per problem on
stderr, never a stack trace.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
import redis

from ..config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Lazily loaded settings and services shared by the sub-commands."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings()
            except ConfigError as exc:
                for problem in exc.problems:
                    click.echo(f"gateway: configuration error: {problem}", err=True)
                sys.exit(1)
        return self._settings

    def directory(self) -> Any:
        from ..accounts.directory import Directory
        from ..store import Store

        store = Store.from_settings(self.settings.redis)
        if not store.is_reachable():
            fail(f"cannot reach Redis ({_safe_url(self.settings.redis.url)}); is it running?")
        return Directory(store, self.settings.saml.scopes)

    def passwords(self) -> Any:
        from ..accounts.passwords import Passwords

        return Passwords(self.settings.passwords)


def _safe_url(url: str) -> str:
    """The Redis URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def create_app_or_exit() -> Flask:
    """The app, for the commands that need its services.

    Configuration problems end the command, one line each.
    """
    from .. import create_app

    try:
        return create_app()
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"gateway: configuration error: {problem}", err=True)
        sys.exit(1)


def fail(message: str, code: int = 1) -> None:
    """One line on stderr, then exit non-zero."""
    click.echo(f"gateway: {message}", err=True)
    sys.exit(code)


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """UNESS identity gateway. GATEWAY_CONFIG names the configuration file."""
    from .. import logs

    logs.configure()
    ctx.ensure_object(Context)


@cli.command("check-config")
@click.option("--get", "get_key", metavar="KEY", help="Print one setting (e.g. redis.url) instead of a summary.")
@pass_context
def check_config(ctx: Context, get_key: str | None) -> None:
    """Validate the configuration; print each problem on one line (exit 1)."""
    settings = ctx.settings
    if get_key:
        value: Any = settings
        for part in get_key.split("."):
            if not hasattr(value, part):
                fail(f"unknown setting {get_key}")
            value = getattr(value, part)
        click.echo(value)
        return
    click.echo(f"configuration ok ({settings.source or 'defaults and environment'}; mode {settings.mode})")


def main() -> None:
    """Console-script entry point."""
    from . import jobs, keys, mail, saml, support, users  # noqa: F401  registers the sub-commands

    try:
        cli(standalone_mode=True)
    except redis.RedisError as exc:
        fail(f"Redis error: {type(exc).__name__}: {exc}")
