"""``python -m bench hospital``: 300 people behind one address sign in within 2 minutes (issue 13 §3).

Through gunicorn (``deploy/gunicorn.conf.py``) with the rate limits on, exactly
as ``config/gateway.example.toml`` sets them (its ``[limits]`` table is passed
to the gateway as ``GATEWAY_LIMITS_*``). Every browser connects from 127.0.0.1,
so the gateway sees one client address, as behind a hospital's NAT. Each person
is a new browser (``GET /login``, the address, the password); one in ten types a
wrong password first. Refused: any person not signed in at the end.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

from . import argon, load, stack

EXAMPLE = stack.ROOT / "config" / "gateway.example.toml"
WRONG_EVERY = 10  # one person in ten types a wrong password first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--hospital-people", type=int, default=300, help="people signing in from one address")
    add("--hospital-concurrency", type=int, default=16, help="browsers signing in at once")


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def example_limits() -> dict[str, str]:
    """``[limits]`` of config/gateway.example.toml, as the gateway's environment variables."""
    limits = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["limits"]
    return {f"GATEWAY_LIMITS_{key.upper()}": json.dumps(value) if isinstance(value, list)
            else str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in limits.items()}


@dataclasses.dataclass
class Outcome:
    signed_in: int = 0
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    elapsed: float = 0.0


def person(conn: load.Connection, email: str, wrong_first: bool) -> str | None:
    """One person's sign-in; None when signed in, else where and how the gateway refused."""
    try:
        pending = load.start_sign_in(conn, email)
    except RuntimeError as exc:
        return "address step: " + str(exc).partition(" for ")[0]
    if wrong_first:
        reply = conn.request("POST", "/login/password", pending.cookie,
                             {"csrf_token": pending.token, "password": "not-" + argon.PASSWORD})
        if reply.status != 200:
            return f"wrong password answered {reply.status}"
    if load.post_password(conn, pending, argon.PASSWORD) is None:
        return "password step: not signed in"
    return None


def run(args: argparse.Namespace) -> Outcome:
    outcome, lock = Outcome(), threading.Lock()
    with tempfile.TemporaryDirectory(prefix="uness-bench-hospital-") as tmp_dir:
        tmp = Path(tmp_dir)
        with stack.private_redis(tmp) as redis_url, \
                stack.gunicorn(redis_url, tmp / "gunicorn.log", args.app, example_limits()) as gw:
            emails = stack.create_accounts(redis_url, args.hospital_people, argon.PASSWORD)
            todo = collections.deque(enumerate(emails))
            progress(f"{len(emails)} people sign in from 127.0.0.1, {args.hospital_concurrency} at once")

            def work(_: load.Connection) -> None:
                while True:
                    try:
                        n, email = todo.popleft()
                    except IndexError:
                        return
                    conn = load.Connection(gw.host, gw.port)  # a new browser for each person
                    try:
                        refused = person(conn, email, n % WRONG_EVERY == 0)
                    finally:
                        conn.close()
                    with lock:
                        if refused:
                            outcome.refused[refused] += 1
                        else:
                            outcome.signed_in += 1

            started = time.perf_counter()
            load._in_threads(args.hospital_concurrency, gw.host, gw.port, work)
            outcome.elapsed = time.perf_counter() - started
    return outcome


def report(args: argparse.Namespace, outcome: Outcome) -> None:
    people, refused = args.hospital_people, sum(outcome.refused.values())
    print(f"""
  A hospital: {people} people behind one address (127.0.0.1), limits of config/gateway.example.toml
  gunicorn  deploy/gunicorn.conf.py, GATEWAY_LIMITS_ENABLED=true; one person in {WRONG_EVERY} types a \
wrong password first
""")
    row("signed in / refused", f"{outcome.signed_in} / {refused}")
    row("ratio signed in", f"{outcome.signed_in / people:.2f}")
    row(f"time for all {people} (goal: within 120 s)", f"{outcome.elapsed:.1f} s")
    row("goal: 0 refused", "OK" if refused == 0 and outcome.elapsed <= 120 else "MISSED")
    for reason, count in outcome.refused.most_common():
        print(f"    refused {count} x {reason}")


def row(name: str, value: str) -> None:
    print(f"  {name:<62} {value:>16}")


def main(args: argparse.Namespace) -> None:
    report(args, run(args))
