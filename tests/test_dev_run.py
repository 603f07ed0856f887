"""`make run`'s script on its own: private Redis, demo accounts, gunicorn, the demo OIDC application;
Ctrl-C stops all; twice is idempotent."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import redis

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"run.sh exited early with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the gateway did not answer /healthz")


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 30) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"run.sh exited early with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered {url}")


def start(tmp_path: Path, redis_port: int, http_port: int, demo_port: int | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "GATEWAY_BIND": f"127.0.0.1:{http_port}",
        "GATEWAY_DEMO_OIDC_PORT": str(demo_port or free_port()),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
        "GATEWAY_MAIL_SINK_PORT": str(free_port()),
    }
    env.pop("GATEWAY_CONFIG", None)
    return subprocess.Popen(["bash", str(ROOT / "deploy/dev/run.sh")], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> str:
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    out, _ = process.communicate(timeout=30)
    return out


def test_run_serves_health_loads_demo_accounts_and_stops_cleanly(tmp_path):
    redis_port, http_port, demo_port = free_port(), free_port(), free_port()
    for attempt in range(2):  # twice: the demo data is not duplicated
        process = start(tmp_path, redis_port, http_port, demo_port)
        try:
            health = wait_for_health(f"http://127.0.0.1:{http_port}/healthz", process)
            assert health == {"status": "ok", "redis": "ok"}
            demo = wait_for_page(f"http://127.0.0.1:{demo_port}/", process)  # the demo relying party
            assert "Application de démonstration" in demo and "Se connecter avec UNESS" in demo
            client = redis.Redis(port=redis_port, decode_responses=True)
            assert client.zcard("gw:users") == 3
            assert client.hget("gw:user-by-email", "camille.martin@chu-exemple.fr") == "demo-camille"
            assert client.config_get("appendonly")["appendonly"] == "yes"
            client.close()
        finally:
            output = stop(process)
        assert process.returncode is not None
        assert "stopped." in output
        assert "Traceback" not in output
        try:
            redis.Redis(port=redis_port, socket_connect_timeout=0.5).ping()
            raise AssertionError("the private Redis is still running after Ctrl-C")
        except redis.ConnectionError:
            pass
    assert (tmp_path / "var" / "redis" / "appendonlydir").exists()
