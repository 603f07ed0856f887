"""argon2id hashing and the password policy.

Verification of an unknown account runs against a fixed dummy hash, so the
password step costs the same whether or not the address exists.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..config import PasswordSettings
from ..native import NativePool

MIN_LENGTH = 12
T = TypeVar("T")


#: How much lower the hashing threads' scheduling priority is than the request threads' (Linux
#: ``nice``, per thread). Alone on the host they still get every idle cycle; when a request needs the
#: core during a burst of sign-ins, the scheduler gives it the core first.
HASH_NICENESS = 10


class Passwords:
    """Hash and verify with the configured argon2id parameters.

    Hashes run in a small pool of ``settings.concurrency`` threads per process, at a lower
    scheduling priority (:data:`HASH_NICENESS`): a burst of sign-ins queues for the pool instead
    of interleaving on the cores (which costs about 12 % more CPU per hash), and the request
    threads keep answering cheap requests (/healthz, SSO, /account) first. ``make bench`` (part c)
    measures both. The pool is made on first use in each process (a gunicorn worker, not the
    master it was forked from). Under gunicorn's gevent worker (threads patched into greenlets)
    the pool's threads are native ones all the same (:class:`~gateway.native.NativePool`): a hash
    never holds the worker's event loop, and the request waiting for it lets the others run.
    """

    def __init__(self, settings: PasswordSettings) -> None:
        self._pool = NativePool(settings.concurrency, "argon2")
        self.hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_cost,
            parallelism=settings.parallelism,
            type=Type.ID,
        )

    def _in_pool(self, work: Callable[..., T], *args: str) -> T:
        """``work(*args)`` on a hashing thread of this process; raises what ``work`` raises."""
        return self._pool.run(_at_lower_priority, work, *args)

    @functools.cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._in_pool(self.hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; an empty hash costs the same as a real one and fails."""
        target = password_hash or self._dummy_hash  # computed outside the pool (it hashes once)
        try:
            return self._in_pool(self.hasher.verify, target, password) and bool(password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def _at_lower_priority(work: Callable[..., T], *args: str) -> T:
    """``work(*args)`` on this hashing thread, its priority lowered first (Linux: nice is per thread;
    one system call, against a hash's ~20 ms; gevent's executor runs no initializer)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or a sandbox that forbids it
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)
    return work(*args)


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords (lower-case)."""
    raw = resources.files("gateway").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line for line in gzip.decompress(raw).decode("utf-8").splitlines() if line)


def password_problems(password: str, addresses: Iterable[str] = ()) -> list[str]:
    """Reasons the policy refuses ``password`` (empty when it is acceptable).

    Values are message keys: ``too_short``, ``common``, ``is_address``.
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append("too_short")
    folded = password.strip().lower()
    if folded in common_passwords():
        problems.append("common")
    if any(folded == a or folded == a.partition("@")[0] for a in addresses):
        problems.append("is_address")
    return problems
