"""Native threads for CPU work that must not hold a gevent worker's event loop.

Under gunicorn's gevent worker the standard library is patched: a ``threading.Thread``
is a greenlet, so CPU work started on one still runs on the worker's one event-loop
thread, and every other request of that worker waits until it ends. :class:`NativePool`
runs such work on *native* threads (gevent's executor) while the greenlet that asked
waits for the result like any other wait, letting the others run. Outside gevent it is
the standard executor. Two users: argon2 (:mod:`gateway.accounts.passwords`) and the
reload of a changed SP aggregate (:mod:`gateway.saml.sp.aggregates`).

What runs there touches no gevent object (no logging, no patched lock or socket): it
computes and returns, and the caller, back on the loop, records and logs.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from gevent import monkey
from gevent.threadpool import ThreadPoolExecutor as GeventThreadPoolExecutor

T = TypeVar("T")


class NativePool:
    """``threads`` native threads of this process, named ``name`` (outside gevent), made on first use
    in each process: gunicorn forks its workers from the master, and threads do not survive a fork."""

    def __init__(self, threads: int, name: str) -> None:
        self.threads = threads
        self.name = name
        self._pool: tuple[int, ThreadPoolExecutor] | None = None
        self._lock = threading.Lock()

    def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on one of the pool's threads, the caller waiting for it (a greenlet lets the
        others run meanwhile). Raises what ``work`` raises."""
        with self._lock:
            if self._pool is None or self._pool[0] != os.getpid():  # none yet, or forked since
                self._pool = (os.getpid(), _native_executor(self.threads, self.name))
            pool = self._pool[1]
        return pool.submit(work, *args).result()


def _native_executor(threads: int, name: str) -> ThreadPoolExecutor:
    """gevent's executor when gevent patched threading (the standard one's threads would be
    greenlets), else the standard one."""
    if monkey.is_module_patched("threading"):
        return GeventThreadPoolExecutor(threads)
    return ThreadPoolExecutor(threads, name)
