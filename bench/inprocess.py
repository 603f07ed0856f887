"""What the in-process splitters share (``python -m bench.sso_split``, ``python -m bench.oidc_split``,
``python -m bench.signin_split``): the app built in this process on the bench's settings, with a browser
signed in, and a thread-CPU counter to wrap the functions of interest with (:func:`time_pieces`: a list
of them at once)."""
from __future__ import annotations

import contextlib
import functools
import importlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import load, oidc, stack


def counting(spent: list[float], action: Callable[..., Any]) -> Callable[..., Any]:
    """``action``, adding the thread CPU of each call to ``spent[0]`` (the argon2 pool's threads and
    others stay out)."""
    @functools.wraps(action)
    def counted(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return action(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - started
    return counted


def time_pieces(pieces: tuple[tuple[str, str | None, str], ...]) -> dict[str, list[float]]:
    """Wrap each of ``pieces`` ((module, class or None, function), looked up where the path calls them)
    with a thread-CPU counter (:func:`counting`); their counters by function name."""
    spent: dict[str, list[float]] = {}
    for module, owner_name, name in pieces:
        owner: Any = importlib.import_module(module)
        owner = getattr(owner, owner_name) if owner_name else owner
        spent[name] = [0.0]
        setattr(owner, name, counting(spent[name], getattr(owner, name)))
    return spent


@contextlib.contextmanager
def signed_in_app(tmp: Path, extra: dict[str, str]) -> Iterator[tuple[Any, Any, str]]:
    """(app, test client, base URL): a private Redis, gunicorn just long enough to sign one browser in
    (the bench's own way), then ``create_app`` in this process on the same settings (plus ``extra``),
    its test client holding that browser's session cookie."""
    with stack.private_redis(tmp) as redis_url:
        with stack.gunicorn(redis_url, tmp / "gunicorn.log", stack.APP, extra) as gw:
            cookie = oidc.sign_in_browsers(gw, redis_url, 1)[0]
            env = stack.gateway_env(redis_url, gw.port, extra)
        os.environ.update(env)
        from gateway import create_app

        app = create_app()
        client = app.test_client()
        client.set_cookie(load.COOKIE, cookie, domain="127.0.0.1")
        yield app, client, gw.url
