"""A Redis master killed under load, for real: a master, two replicas, three sentinels, and
threads signing in, reading the account page and creating accounts over SCIM.

``redis.wait_replicas = 1``: an account write is acknowledged (SCIM 201) only once a
replica holds it. After SIGKILL of the master and the sentinels' failover, every
acknowledged account is on the new master; meanwhile the gateway answered 503s
(one WARNING line each), never a 500, never a traceback.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import RedisServer, make_app
from tests.scim.conftest import Scim, user
from tests.test_sentinel import SERVICE, SentinelServer, start_replica
from tests.helpers.accounts import PASSWORD, create_account
from tests.helpers.forms import forms

QUICK = f"sentinel down-after-milliseconds {SERVICE} 300\nsentinel failover-timeout {SERVICE} 5000\n"
#: What a client may be answered while Redis fails over; a 500 is never one of them.
EXPECTED = {200, 201, 302, 303, 503}


class Cluster:
    """The master (a fixture), two replicas and three sentinels that know each other."""

    def __init__(self, directory: Path, master: RedisServer) -> None:
        self.replicas = [start_replica(directory / f"replica-{n}", master) for n in range(2)]
        for _, port in self.replicas:  # a promoted replica syncs the other at once
            with redis.Redis(port=port) as client:
                client.config_set("repl-diskless-sync-delay", 0)
        self.sentinels = [SentinelServer(directory / f"sentinel-{n}", master.port, extra=QUICK).start()
                          for n in range(3)]
        self._until_each_sentinel_sees_the_others()

    def _until_each_sentinel_sees_the_others(self) -> None:
        for sentinel in self.sentinels:
            with redis.Redis(port=sentinel.port, decode_responses=True) as client:
                for _ in range(500):
                    others, replicas = client.sentinel_sentinels(SERVICE), client.sentinel_slaves(SERVICE)
                    if len(others) == 2 and len(replicas) == 2:
                        break
                    time.sleep(0.02)
                else:
                    raise RuntimeError("the sentinels did not find each other and the replicas")

    def master_port(self) -> int:
        with redis.Redis(port=self.sentinels[0].port, decode_responses=True) as client:
            return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for process, _ in self.replicas:
            process.terminate()
            process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path, master: RedisServer) -> Iterator[Cluster]:
    running = Cluster(tmp_path, master)
    yield running
    running.stop()


@pytest.fixture
def master(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "master").start()
    yield server
    server.stop()


class Load:
    """Threads repeating one action until stopped; every status they were answered."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.statuses: list[int] = []
        self.acknowledged: list[str] = []  # ids of the accounts SCIM answered 201 for
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.failures: list[BaseException] = []

    def run(self, action: Callable[[int], None]) -> None:
        def loop() -> None:
            n = 0
            try:
                while not self.stopping.is_set() and n < 5000:
                    action(n)
                    n += 1
            except BaseException as exc:  # reported by stop(): a thread must not die silently
                self.failures.append(exc)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self.threads.append(thread)

    def record(self, status: int, account_id: str | None = None) -> None:
        with self.lock:
            self.statuses.append(status)
            if account_id:
                self.acknowledged.append(account_id)
        if status == 503:
            time.sleep(0.01)  # as a client would, before trying again

    def wait_for(self, acknowledged: int, what: str) -> None:
        for _ in range(3000):
            if len(self.acknowledged) >= acknowledged or self.failures:
                return
            time.sleep(0.01)
        raise AssertionError(f"{what}: {len(self.acknowledged)} accounts acknowledged, not {acknowledged}")

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)
        assert not self.failures, self.failures


def creating(app, load: Load, name: str) -> Callable[[int], None]:
    scim = Scim(app.test_client())

    def create(n: int) -> None:
        response = scim.post("/Users", user(f"{name}-{n}@univ-exemple.fr"))
        load.record(response.status_code, response.get_json()["id"] if response.status_code == 201 else None)

    return create


def signing_in(app, load: Load) -> Callable[[int], None]:
    def sign_in(_: int) -> None:
        client = app.test_client()  # a new browser each time
        steps = (("/login", {"email": "alex@univ-exemple.fr"}), ("/login/password", {"password": PASSWORD}))
        for path, data in steps:
            page = client.get(path)
            load.record(page.status_code)
            token = [f.fields["csrf_token"] for f in forms(page) if f.fields.get("csrf_token")]
            if page.status_code != 200 or not token:
                return
            sent = client.post(path, data={"csrf_token": token[0], **data})
            load.record(sent.status_code)
            if sent.status_code >= 400:
                return
        for _ in range(3):
            load.record(client.get("/account").status_code)

    return sign_in


def test_master_killed_under_load_loses_no_acknowledged_account(base_config, master, cluster, caplog):
    app = make_app({**base_config, "limits": {"enabled": False}, "redis": {
        "sentinels": [s.address for s in cluster.sentinels], "sentinel_service": SERVICE,
        "url": "redis://127.0.0.1/0", "socket_timeout": 1.0, "wait_replicas": 1, "wait_timeout_ms": 1000}})
    create_account(app.extensions["gateway.directory"], "alex@univ-exemple.fr")
    load = Load()
    with caplog.at_level(logging.INFO):
        load.run(signing_in(app, load))
        load.run(creating(app, load, "first"))
        load.run(creating(app, load, "second"))
        load.wait_for(10, "before the kill")
        master.process.kill()  # SIGKILL, as the OOM killer does
        master.process.wait(10)
        master.process = None
        before = len(load.acknowledged)
        load.wait_for(before + 10, "after the failover")  # a promoted replica, and the other one following it
        load.stop()

    assert 500 not in load.statuses
    assert set(load.statuses) <= EXPECTED, sorted(set(load.statuses))
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    refused = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(r.getMessage().startswith("redis unavailable on ") for r in refused)
    assert len(refused) == load.statuses.count(503)
    assert cluster.master_port() != master.port
    with redis.Redis(port=cluster.master_port(), decode_responses=True) as new_master:
        missing = [i for i in load.acknowledged if new_master.hget(f"gw:user:{i}", "id") != i]
    assert not missing, f"{len(missing)} of {len(load.acknowledged)} acknowledged accounts lost"
