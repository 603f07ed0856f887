"""Where a password sign-in's CPU goes, in one process: ``python -m bench.signin_split [count] [--cold]
[--pieces] [--no-verify] [--profile [--tottime] [--callers=NAME]]``.

A private Redis holds the bench's accounts; the app, built in this process on the
bench's settings, takes ``count`` browsers through ``GET /login`` and the address
step with Flask's test client, then answers the measured request, ``POST
/login/password``, and this prints its thread CPU per sign-in (``Flask.wsgi_app``:
no gunicorn, no socket). The argon2 verify runs on the pool's thread, so it stays
out of the figure, but the caches it emptied do not (as under gunicorn).
``--no-verify`` replaces the verify by ``True`` (same code, warm caches); ``--cold`` runs an argon2id
hash on the request's own thread before each request (not counted), so that the part before the verify
also starts from emptied caches, as under load, where both cores keep hashing (the figure closest to
the workers' "rest" in ``bench signin``);
``--pieces`` times each step of the path in place (:data:`PIECES`, inclusive);
``--profile`` adds cProfile by thread CPU (read its shares, not its milliseconds), sorted by
cumulative time (``--tottime``: own time), with the callers of ``NAME`` (``--callers=NAME``).
"""
from __future__ import annotations

import cProfile
import os
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import argon, stack
from .inprocess import counting, time_pieces

#: The steps ``--pieces`` times: (module, class or None, function), looked up where the path calls them.
PIECES = (
    ("gateway.identity.flaskglue.session_interface", "RedisSessionInterface", "open_session"),
    ("gateway.identity.flaskglue.signin", None, "password_attempt"),
    ("flask_wtf.csrf", "CSRFProtect", "protect"),
    ("gateway.web.forms", "RevealableForm", "__init__"),
    ("flask_wtf.form", "FlaskForm", "validate_on_submit"),
    ("gateway.identity.signin.password", None, "_verified"),
    ("gateway.accounts.directory", "Directory", "holds_password"),
    ("gateway.support.activity", None, "browser"),
    ("gateway.identity.history", "History", "record"),
    ("gateway.identity.devices", "KnownDevices", "remember"),
    ("gateway.logs", "JsonFormatter", "format"),
    ("gateway.logs", "Redact", "filter"),
    ("gateway.metrics", None, "count"),
    ("gateway.identity.flaskglue.signin", None, "facts"),
    ("gateway.identity.signin.password", None, "signed_in"),
    ("gateway.identity.flaskglue.signin", None, "start_session"),
    ("gateway.web.login", None, "finish"),
    ("gateway.identity.flaskglue.session_interface", "RedisSessionInterface", "save_session"),
    ("flask.app", "Flask", "preprocess_request"),
    ("flask.app", "Flask", "process_response"),
)
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def main(argv: list[str]) -> None:
    count = int(next((a for a in argv if a.isdigit()), "300"))
    with tempfile.TemporaryDirectory(prefix="uness-bench-split-") as directory, \
            stack.private_redis(Path(directory)) as redis_url:
        emails = stack.create_accounts(redis_url, 32, argon.PASSWORD)
        port = stack.free_port()
        os.environ.update(stack.gateway_env(redis_url, port))
        from gateway import create_app
        from gateway.accounts.passwords import Passwords
        from gateway.config import PasswordSettings

        app = create_app()
        base_url = f"http://127.0.0.1:{port}"
        if "--no-verify" in argv:
            Passwords.verify = lambda self, password_hash, password: True  # type: ignore[method-assign]

        def pending(n: int) -> tuple[Any, str]:
            client = app.test_client()
            page = client.get("/login", base_url=base_url)
            token = _CSRF.search(page.get_data(as_text=True))
            assert token is not None, page.status_code
            address = {"csrf_token": token.group(1), "email": emails[n % len(emails)]}
            step = client.post("/login", data=address, base_url=base_url)
            assert step.status_code == 302 and step.location.endswith("/login/password"), step.status_code
            return client, token.group(1)

        sweep = Passwords(PasswordSettings())
        sweep_hash = sweep.hasher.hash("caches")

        def one(waiting: tuple[Any, str]) -> None:
            client, token = waiting
            if "--cold" in argv:
                sweep.hasher.verify(sweep_hash, "caches")  # on this thread: its caches emptied
            reply = client.post("/login/password", data={"csrf_token": token, "password": argon.PASSWORD,
                                                         "remember": "y"}, base_url=base_url)
            if reply.status_code != 302 or not reply.location.endswith("/account"):
                sys.exit(f"bench: the sign-in failed ({reply.status_code})")

        for n in range(30):  # warm-up: caches, first reads, scripts loaded
            one(pending(n))
        browsers = [pending(n) for n in range(count)]
        pieces = time_pieces(PIECES) if "--pieces" in argv else {}
        whole = [0.0]
        plain = app.wsgi_app
        app.wsgi_app = counting(whole, plain)  # type: ignore[method-assign]
        for waiting in browsers:
            one(waiting)
        app.wsgi_app = plain  # type: ignore[method-assign]
        replaced = " (verify replaced by True)" if "--no-verify" in argv else ""
        print(f"per sign-in, thread CPU over {count}: POST /login/password in the app "
              f"{whole[0] / count * 1000:.2f} ms{replaced}")
        for name, spent in pieces.items():
            print(f"  {name:20} {spent[0] / count * 1000:.3f} ms")
        if "--profile" in argv:
            browsers = [pending(n) for n in range(count)]
            profile = cProfile.Profile(time.thread_time)
            profile.runcall(lambda: [one(w) for w in browsers])
            stats = pstats.Stats(profile).sort_stats("tottime" if "--tottime" in argv else "cumulative")
            stats.print_stats(50)
            for name in (a[len("--callers="):] for a in argv if a.startswith("--callers=")):
                stats.print_callers(name)


if __name__ == "__main__":
    main(sys.argv[1:])
