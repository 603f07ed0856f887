"""CPU accounting over a phase: the gateway's workers, this process, Redis, and everyone else on the host.

Also what one operation asks of Redis, read with MONITOR (:func:`monitored`): the commands the
gateway sends, apart from those its Lua scripts run (Redis' own counters add both up).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis

from . import stack

CORES = os.cpu_count() or 1


@dataclasses.dataclass
class Usage:
    """CPU seconds used during ``wall`` seconds."""

    wall: float = 0.0
    workers: float = 0.0
    bench: float = 0.0
    redis: float = 0.0
    others: float = 0.0
    redis_commands: int = 0
    #: the part of ``workers`` their argon2 threads used
    hashing: float = 0.0

    def share(self, seconds: float) -> str:
        """``seconds`` as a share of every core over the phase."""
        return f"{100 * seconds / (self.wall * CORES):.0f} %"

    def attribute_to_bench(self, seconds: float) -> None:
        """CPU of child processes of the bench (the verify pool), counted as others until now."""
        self.bench += seconds
        self.others = max(0.0, self.others - seconds)


class Meter:
    """``with Meter(gw, redis_url) as usage:`` fills ``usage`` when the block ends (both may be None)."""

    def __init__(self, gw: stack.Gateway | None = None, redis_url: str | None = None) -> None:
        self.gw, self.redis_url = gw, redis_url
        self.usage = Usage()

    def _read(self) -> tuple[float, float, float, float, stack.RedisCounters, float]:
        counters = stack.redis_counters(self.redis_url) if self.redis_url else stack.RedisCounters(0, 0.0)
        workers = self.gw.cpu_seconds() if self.gw else 0.0
        hashing = self.gw.hashing_cpu_seconds() if self.gw else 0.0
        return time.perf_counter(), stack.busy_cpu_seconds(), workers, time.process_time(), counters, hashing

    def __enter__(self) -> Usage:
        self.start = self._read()
        return self.usage

    def __exit__(self, *exc: object) -> None:
        (t0, busy0, w0, own0, r0, h0), (t1, busy1, w1, own1, r1, h1) = self.start, self._read()
        u = self.usage
        u.wall, u.workers, u.bench, u.hashing = t1 - t0, w1 - w0, own1 - own0, h1 - h0
        u.redis, u.redis_commands = r1.cpu_seconds - r0.cpu_seconds, r1.commands - r0.commands
        u.others = max(0.0, (busy1 - busy0) - u.workers - u.bench - u.redis)


#: The command that ends a MONITOR listing (sent by :func:`monitored` itself).
_END = "end-of-monitored-block"


@contextlib.contextmanager
def monitored(redis_url: str) -> Iterator[list[dict[str, Any]]]:
    """Every command Redis runs inside the block, in order, as redis-py's MONITOR parses them
    (``command``, ``client_type``: ``"lua"`` for a command a script ran)."""
    seen: list[dict[str, Any]] = []
    listener = redis.Redis.from_url(redis_url, decode_responses=True)
    stopper = redis.Redis.from_url(redis_url, decode_responses=True)
    stopper.ping()  # connected before: its ECHO is the one command it sends inside the block
    ready = threading.Event()

    def listen() -> None:
        with listener.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if _END in command["command"]:
                    return
                seen.append(command)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield seen
    finally:
        stopper.echo(_END)
        thread.join(5)
        stopper.close()
        listener.close()


def sent_and_scripted(commands: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The names of the commands clients sent, and of those scripts ran, from :func:`monitored`."""
    names = [(c["command"].split()[0].upper() if c["command"] else "", c["client_type"]) for c in commands]
    return [n for n, kind in names if kind != "lua"], [n for n, kind in names if kind == "lua"]
