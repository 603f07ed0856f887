"""Redis Sentinel, for real: redis-server masters and replicas, and Redis Sentinels watching them.

The gateway is given only the sentinels' addresses and the service name. It must
find the master through them (accounts and the mail queue land there), follow a
failover, close the connections it opened to the sentinels, and answer 503
(never a stack trace, never a long wait) when no master can be found.
"""
from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.accounts.models import Account, Email
from gateway.config import RedisSettings
from gateway.mail import send_mail
from gateway.store import Store, connect, key
from tests.conftest import RedisServer, free_port, make_app
from tests.fixtures_mail import run_mail_worker

SERVICE = "mymaster"


class SentinelServer:
    """A real Redis Sentinel (``redis-server <conf> --sentinel``) monitoring one master."""

    def __init__(
        self, directory: Path, master_port: int, service: str = SERVICE, extra: str = "", password: str = ""
    ) -> None:
        self.directory = directory
        self.master_port = master_port
        self.service = service
        self.extra = extra  # more sentinel.conf lines
        self.password = password  # the sentinel's own (requirepass)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> SentinelServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make test`, which installs it")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "sentinel.conf"  # Sentinel rewrites its file: it must be writable
        conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.directory}\n"
            f"logfile {self.directory / 'sentinel.log'}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master_port} 1\n"
            + (f"requirepass {self.password}\n" if self.password else "")
            + self.extra
        )
        self.process = subprocess.Popen(
            [binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_for_master()
        return self

    def _wait_for_master(self) -> None:
        """Until the sentinel answers and sees the master up (what redis-py requires)."""
        client = redis.Redis(port=self.port, password=self.password or None, decode_responses=True)
        try:
            for _ in range(250):
                try:
                    state = client.sentinel_master(self.service)
                except (redis.ConnectionError, redis.ResponseError):
                    state = None
                if state and state["is_master"] and not state["is_sdown"] and not state["is_odown"]:
                    return
                time.sleep(0.02)
        finally:
            client.close()
        log = self.directory / "sentinel.log"
        text = log.read_text() if log.exists() else ""
        raise RuntimeError(f"redis sentinel did not see its master:\n{text}")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def master(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "master").start()
    yield server
    server.stop()


@pytest.fixture
def sentinel(tmp_path: Path, master: RedisServer) -> Iterator[SentinelServer]:
    server = SentinelServer(tmp_path / "sentinel", master.port).start()
    yield server
    server.stop()


@pytest.fixture
def master_client(master: RedisServer) -> Iterator[redis.Redis]:
    """A plain client on the master's own port: what really landed there."""
    client = redis.Redis(port=master.port, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def silent_address() -> Iterator[str]:
    """``host:port`` where connections hang (a full accept queue): a host that stopped answering."""
    server = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # fills the queue: later SYNs are dropped
    try:
        yield f"127.0.0.1:{port}"
    finally:
        filler.close()
        server.close()


def sentinel_clients(sentinel: SentinelServer) -> int:
    """How many connections the sentinel has open, besides the one asking."""
    with redis.Redis(port=sentinel.port) as client:
        return int(client.info("clients")["connected_clients"]) - 1


def sentinel_config(sentinel: SentinelServer, service: str = SERVICE) -> dict:
    return {"sentinels": [sentinel.address], "sentinel_service": service, "url": "redis://127.0.0.1/0"}


def test_connect_finds_the_master_through_the_sentinel(sentinel, master, master_client):
    store = Store(connect(RedisSettings(**sentinel_config(sentinel))))
    try:
        store.put(("sentinel-test", "value"), {"through": "sentinel"}, ttl=60)
        assert store.get(("sentinel-test", "value")) == {"through": "sentinel"}
    finally:
        store.close()
    assert master_client.get(key("sentinel-test", "value")) == '{"through":"sentinel"}'
    assert 0 < master_client.ttl(key("sentinel-test", "value")) <= 60


def test_app_through_sentinel_is_healthy_and_writes_accounts_to_the_master(
    base_config, sentinel, master_client
):
    app = make_app({**base_config, "redis": sentinel_config(sentinel)})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "redis": "ok"}

    directory = app.extensions["gateway.directory"]
    created = directory.create(Account(id="sentinel-1", emails=(Email("alex@univ-exemple.fr"),)))
    assert created.version == 1
    assert master_client.hget("gw:user-by-email", "alex@univ-exemple.fr") == "sentinel-1"
    assert master_client.hget("gw:user:sentinel-1", "id") == "sentinel-1"
    assert master_client.zscore("gw:users", "sentinel-1") is not None
    assert directory.find_by_email("alex@univ-exemple.fr").id == "sentinel-1"


def test_closing_the_store_closes_the_sentinel_connections(sentinel):
    store = Store.from_settings(RedisSettings(**sentinel_config(sentinel)))
    assert store.is_reachable() and store.redis.ping()
    assert sentinel_clients(sentinel) == 2  # the client's sentinel and the health probe's
    store.close()
    assert sentinel_clients(sentinel) == 0


def test_mail_is_queued_and_delivered_through_the_sentinel(base_config, sentinel, master_client, smtp):
    app = make_app({**base_config, "redis": sentinel_config(sentinel), "mail": smtp.overrides})
    with app.test_request_context("/"):
        message_id = send_mail("activation", "alex@univ-exemple.fr", "fr", code="428193",
                               link="http://127.0.0.1:8000/activer", minutes=60)
    assert master_client.llen("rq:queue:mail") == 1  # the queue lives on the master
    assert run_mail_worker(app) is True
    [message] = smtp.messages
    assert message["Message-ID"] == message_id


def start_replica(directory: Path, master: RedisServer) -> tuple[subprocess.Popen[bytes], int]:
    """A real redis-server replicating ``master``, once its link to the master is up."""
    with redis.Redis(port=master.port) as client:
        client.config_set("repl-diskless-sync-delay", 0)  # sync at once (the default waits 5 s)
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(directory), "--save", "", "--appendonly", "no",
         "--replicaof", "127.0.0.1", str(master.port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    with redis.Redis(port=port, decode_responses=True) as client:
        for _ in range(250):
            try:
                if client.info("replication").get("master_link_status") == "up":
                    return process, port
            except redis.ConnectionError:
                pass
            time.sleep(0.02)
    process.terminate()
    process.wait(10)
    raise RuntimeError("the replica did not connect to its master")


def test_app_follows_a_failover_when_the_master_dies(base_config, tmp_path, master):
    """The master stops, the sentinel promotes the replica: the app finds the new master and writes there."""
    replica, replica_port = start_replica(tmp_path / "replica", master)
    quick = f"sentinel down-after-milliseconds {SERVICE} 300\nsentinel failover-timeout {SERVICE} 5000\n"
    sentinel = SentinelServer(tmp_path / "sentinel", master.port, extra=quick).start()
    try:
        app = make_app({**base_config, "redis": sentinel_config(sentinel)})
        client, directory = app.test_client(), app.extensions["gateway.directory"]
        directory.create(Account(id="before", emails=(Email("avant@univ-exemple.fr"),)))
        assert client.get("/healthz").status_code == 200
        with redis.Redis(port=replica_port, decode_responses=True) as new_master:
            for _ in range(250):  # replicated
                if new_master.hget("gw:user-by-email", "avant@univ-exemple.fr"):
                    break
                time.sleep(0.02)
            master.stop()
            # 503 while the sentinel notices and promotes (never a stack trace), then 200 again
            deadline = time.monotonic() + 15
            while client.get("/healthz").status_code != 200:
                assert time.monotonic() < deadline, "the app did not find the new master"
                time.sleep(0.05)
            with redis.Redis(port=sentinel.port, decode_responses=True) as asking:
                assert int(asking.sentinel_get_master_addr_by_name(SERVICE)[1]) == replica_port
            directory.create(Account(id="after", emails=(Email("apres@univ-exemple.fr"),)))
            assert new_master.info("replication")["role"] == "master"
            assert new_master.hget("gw:user-by-email", "avant@univ-exemple.fr") == "before"
            assert new_master.hget("gw:user-by-email", "apres@univ-exemple.fr") == "after"
    finally:
        sentinel.stop()
        replica.terminate()
        replica.wait(10)


def test_sentinel_password(base_config, tmp_path, master):
    """redis.sentinel_password authenticates to sentinels that require one (and only to them)."""
    sentinel = SentinelServer(tmp_path / "guarded", master.port, password="sentinel-secret-0123").start()
    try:
        config = {**base_config, "redis": sentinel_config(sentinel)}
        without = make_app(config)
        assert without.test_client().get("/healthz").status_code == 503
        config["redis"]["sentinel_password"] = "sentinel-secret-0123"
        with_password = make_app(config)
        assert with_password.test_client().get("/healthz").status_code == 200
    finally:
        sentinel.stop()


def test_unknown_sentinel_service_is_503_without_a_stack_trace(base_config, sentinel, caplog):
    app = make_app({**base_config, "redis": sentinel_config(sentinel, "no-such-service")})
    client = app.test_client()
    with caplog.at_level(logging.INFO):
        health = client.get("/healthz")
        # A page that needs Redis: the error handler answers 503 (SCIM's JSON error here).
        scim = client.get("/scim/v2/Users/anyone",
                          headers={"Authorization": "Bearer scim-test-token-cockpit-0123456789"})
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable", "redis": "unreachable"}
    assert scim.status_code == 503
    assert scim.get_json()["status"] == "503"
    assert "Traceback" not in scim.get_data(as_text=True)
    assert not [r for r in caplog.records if r.exc_info], "a stack trace was logged"


def test_unreachable_sentinel_is_503(base_config):
    app = make_app({**base_config, "redis": {"sentinels": [f"127.0.0.1:{free_port()}"],
                                             "sentinel_service": SERVICE, "url": "redis://127.0.0.1/0"}})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "redis": "unreachable"}


def test_silent_sentinel_fails_within_the_health_timeout(base_config, silent_address):
    """A sentinel host that stopped answering costs health_timeout per probe, not redis-py's retries."""
    app = make_app({**base_config, "redis": {"sentinels": [silent_address], "sentinel_service": SERVICE,
                                             "url": "redis://127.0.0.1/0", "health_timeout": 0.3}})
    started = time.monotonic()
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert time.monotonic() - started < 2
