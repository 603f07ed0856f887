"""(a) The ceiling: argon2id verifies per second with the configured defaults, one process per core."""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time

from gateway.accounts.passwords import Passwords
from gateway.config import PasswordSettings

PASSWORD = "bench password, not a real one"


@dataclasses.dataclass(frozen=True)
class VerifyRate:
    processes: int
    seconds: float
    verifies: int
    rate: float  # verifies per second, all processes together
    cpu_seconds: float  # CPU the processes used (less than processes x seconds when others compete)

    @property
    def cpu_ms_per_verify(self) -> float:
        return 1000 * self.cpu_seconds / self.verifies


def _verify_for(job: tuple[str, float, PasswordSettings]) -> tuple[int, float, float]:
    password_hash, seconds, settings = job
    passwords = Passwords(settings)
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        if not passwords.verify(password_hash, PASSWORD):
            raise RuntimeError("the bench hash does not verify")
        done += 1
    return done, elapsed, time.process_time() - cpu


def verify_rate(seconds: float = 3.0, settings: PasswordSettings | None = None) -> VerifyRate:
    """Verify in ``os.cpu_count()`` processes for ``seconds``; the sum of their rates."""
    settings = settings or PasswordSettings()
    processes = os.cpu_count() or 1
    password_hash = Passwords(settings).hash(PASSWORD)
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_verify_for, [(password_hash, seconds, settings)] * processes)
    return VerifyRate(processes, seconds, sum(r[0] for r in results), sum(n / t for n, t, _ in results),
                      sum(r[2] for r in results))
