"""argon2id hashing and the password policy.

Verification of an unknown account runs against a fixed dummy hash, so the
password step costs the same whether or not the address exists.
"""
from __future__ import annotations

import functools
import gzip
import secrets
import threading
from collections.abc import Iterable
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..config import PasswordSettings

MIN_LENGTH = 12


class Passwords:
    """Hash and verify with the configured argon2id parameters.

    At most ``settings.concurrency`` hashes run at once in a process: a burst of
    sign-ins then queues here instead of interleaving on the cores (which costs
    about 12 % more CPU per hash and holds every thread of the worker), so the
    other threads keep answering cheap requests. ``make bench`` measures it.
    """

    def __init__(self, settings: PasswordSettings) -> None:
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self.hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_cost,
            parallelism=settings.parallelism,
            type=Type.ID,
        )

    @functools.cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        with self._slots:
            return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; an empty hash costs the same as a real one and fails."""
        target = password_hash or self._dummy_hash  # computed outside the slot (it hashes once)
        try:
            with self._slots:
                return self.hasher.verify(target, password) and bool(password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


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
