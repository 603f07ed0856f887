"""argon2 runs on a small pool of lower-priority threads per process (accounts.passwords)."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading

from gateway.accounts.passwords import HASH_NICENESS, Passwords
from gateway.config import PasswordSettings

FAST = PasswordSettings(time_cost=1, memory_cost=1024, parallelism=1)


def _priority() -> tuple[str, int]:
    return threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_verify_and_hash_answer_as_argon2_does():
    passwords = Passwords(FAST)
    stored = passwords.hash("correct horse battery staple")
    assert passwords.verify(stored, "correct horse battery staple")
    assert not passwords.verify(stored, "wrong horse battery staple")
    assert not passwords.verify("", "correct horse battery staple")  # the dummy hash: fails
    assert not passwords.verify("not a hash", "correct horse battery staple")


def test_hashes_run_on_a_lower_priority_thread_the_callers_keep_theirs():
    passwords = Passwords(FAST)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    name, theirs = passwords._in_pool(_priority)
    assert name.startswith("argon2")
    assert theirs == min(mine + HASH_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_a_forked_process_gets_its_own_pool():
    """gunicorn forks its workers from the master: the pool threads do not survive a fork."""
    passwords = Passwords(FAST)
    stored = passwords.hash("correct horse battery staple")  # the parent's pool exists now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: verifies through a pool of its own, then leaves without cleanup
        ok = passwords.verify(stored, "correct horse battery staple")
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)  # a pool inherited from the parent would hang
        assert ready and os.read(read, 1) == b"1"
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


_UNDER_GEVENT = """
from gevent import monkey
monkey.patch_all()
import os, sys, threading
import gevent
from gateway.accounts.passwords import Passwords
from gateway.config import PasswordSettings

passwords = Passwords(PasswordSettings(time_cost=3, memory_cost=65536, parallelism=1))
stored = passwords.hash("correct horse battery staple")
hashing, ticks, seen = [], [], []

class Watched:  # argon2's hasher, noting where and when its verify runs
    def __init__(self, hasher):
        self.hasher = hasher

    def verify(self, *args):
        seen.append((threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        hashing.append("started")
        try:
            return self.hasher.verify(*args)
        finally:
            hashing.append("done")

passwords.hasher = Watched(passwords.hasher)

def other_requests():  # another greenlet of the same worker, as /healthz or an SSO would be
    while "done" not in hashing:
        if hashing:
            ticks.append(1)
        gevent.sleep(0.001)

other = gevent.spawn(other_requests)
ok = passwords.verify(stored, "correct horse battery staple")
other.join()
native_id, nice = seen[0]
print(ok, native_id != threading.get_native_id(), nice, len(ticks))
"""


def test_under_gevent_a_hash_runs_on_a_native_thread_and_the_event_loop_keeps_going():
    """gunicorn's gevent worker patches threads into greenlets: a hash on one would hold the worker's
    event loop (every other request waits 20 ms or more). The pool's threads stay native ones, at a
    lower priority, and another greenlet runs while a password is hashed."""
    script = subprocess.run([sys.executable, "-c", _UNDER_GEVENT], capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr
    ok, native, nice, ticks = script.stdout.split()
    assert ok == "True" and native == "True"
    assert int(nice) == min(os.getpriority(os.PRIO_PROCESS, 0) + HASH_NICENESS, 19)
    assert int(ticks) > 0  # the loop ran while the hash was under way
