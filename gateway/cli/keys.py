"""``gateway keys``: the OpenID Connect signing keys (and client secrets for the clients file).

``init`` creates an active and a published *next* key per algorithm; ``rotate``
promotes the next key (published at least ``oidc.key_publish_seconds`` ago),
retires the active one (still published for the longest token lifetime) and
publishes a new next key; ``prune`` forgets retired keys past that time. The
workers of a running gateway pick the change up within seconds (the folder's
``keyset.json`` is replaced atomically). See :mod:`gateway.oidc.keys`.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import click

from . import Context, cli, fail, pass_context


def _folder(ctx: Context) -> Path:
    folder = ctx.settings.oidc.keys_path(ctx.settings.is_production)
    if folder is None:
        fail("oidc.keys_dir is not set: name the folder of the managed signing keys")
    assert folder is not None
    return folder


def _when(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if stamp else "-"


@cli.group("keys")
def keys() -> None:
    """OpenID Connect signing keys (JWKS) and client secrets."""


@keys.command("list")
@pass_context
def list_keys(ctx: Context) -> None:
    """Every managed key: kid, algorithm, state, creation, end of publication."""
    from ..oidc.keys import SigningKeyError, load_directory

    try:
        found = load_directory(_folder(ctx))
    except SigningKeyError as exc:
        fail(str(exc))
        return
    for key in found:
        click.echo(f"{key.kid}  {key.alg}  {key.state:<8} created {_when(key.created)}"
                   + (f"  published until {_when(key.retire_at)}" if key.state == "retired" else ""))


@keys.command("init")
@click.option("--alg", "algs", multiple=True, type=click.Choice(["RS256", "ES256"]),
              default=("RS256", "ES256"), show_default=True, help="Algorithms to create keys for.")
@pass_context
def init_keys(ctx: Context, algs: tuple[str, ...]) -> None:
    """Create the folder and, per algorithm lacking them, an active and a next key."""
    from ..oidc.keys import SigningKeyError, init_directory

    folder = _folder(ctx)
    try:
        created = init_directory(folder, algs, int(time.time()), dev_only=not ctx.settings.is_production)
    except (SigningKeyError, OSError) as exc:
        fail(str(exc))
        return
    click.echo(f"{folder}: {len(created)} key(s) created" + "".join(f"\n  {kid}" for kid in created))


@keys.command("rotate")
@click.option("--alg", default="RS256", type=click.Choice(["RS256", "ES256"]), show_default=True)
@click.option("--force", is_flag=True, help="Start signing with a key published too recently (or never).")
@pass_context
def rotate_keys(ctx: Context, alg: str, force: bool) -> None:
    """Next key signs from now on; the active one is retired (published until its tokens expire)."""
    from ..logs import audit
    from ..oidc.keys import SigningKeyError, rotate

    oidc = ctx.settings.oidc
    longest = max(oidc.code_seconds, oidc.access_token_seconds, oidc.id_token_seconds,
                  oidc.refresh_token_seconds)
    try:
        done = rotate(_folder(ctx), alg, int(time.time()), longest, oidc.key_publish_seconds, force=force)
    except (SigningKeyError, OSError) as exc:
        fail(str(exc))
        return
    audit("oidc.key_rotated", alg=alg, activated=done.activated, retired=done.retired, next=done.next)
    click.echo(f"{alg}: {done.activated} signs now; next key {done.next} published")
    if done.retired:
        click.echo(f"{alg}: {done.retired} retired, published for {longest} s more")
    for kid in done.pruned:
        click.echo(f"removed {kid} (retired, its tokens have expired)")


@keys.command("prune")
@pass_context
def prune_keys(ctx: Context) -> None:
    """Forget retired keys whose tokens have all expired."""
    from ..oidc.keys import prune

    for kid in prune(_folder(ctx), int(time.time())):
        click.echo(f"removed {kid}")


@keys.command("client-secret")
def client_secret() -> None:
    """A new random client secret and the hash to put in the clients file (secret_hash)."""
    from ..oidc.credentials import hash_secret, new_secret

    secret = new_secret()
    click.echo(f"client secret (give it to the application, then forget it): {secret}")
    click.echo(f'secret_hash = "{hash_secret(secret)}"')
