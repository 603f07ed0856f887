"""Metrics under gunicorn (issue 13 part 4): two workers, one sum, on the private listener only.

A real gunicorn (deploy/gunicorn.conf.py, 2 workers) on real Redis, with
PROMETHEUS_MULTIPROC_DIR in a temporary folder and metrics.bind on a free port.
Sign-in attempts on fresh connections reach both workers; the metrics listener
must show their sum, and the public port must answer 404 for /metrics.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Browser, Gunicorn, RedisServer, free_port
from tests.metrics.scrape import scrape_url

def wait_until_up(url: str, server: Gunicorn) -> None:
    """Until ``url`` answers at all (the metrics listener starts after the workers)."""
    for _ in range(300):
        assert server.process is not None and server.process.poll() is None, server.output()
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(server.output())


@pytest.fixture
def served(redis_server: RedisServer, redis_client, tmp_path):
    """gunicorn with two workers and the metrics listener: (site URL, metrics URL, multiprocess folder)."""
    metrics_port = free_port()
    env = {"GATEWAY_WORKERS": "2", "GATEWAY_THREADS": "2",
           "GATEWAY_METRICS_BIND": f"127.0.0.1:{metrics_port}",
           "GATEWAY_LIMITS_UNKNOWN_PER_CLIENT": "12/minute",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "XDG_RUNTIME_DIR": str(tmp_path)}
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    with Gunicorn(redis_server.url, tmp_path / "gunicorn.log", env) as server:
        wait_until_up(metrics, server)
        yield server.url, metrics, tmp_path / "metrics"
    assert "Traceback" not in server.output(), server.output()
    with pytest.raises(OSError):  # the metrics process left with the master
        urllib.request.urlopen(metrics, timeout=5)


def unknown_address_attempt(site: str, n: int) -> int:
    """The address step with an address nobody has (a new one each time), on a new connection (so any worker may take it)."""
    browser = Browser(url=site)
    try:
        return browser.submit("/login", {"email": f"personne{n}@univ-exemple.fr"}).status_code
    finally:
        browser.close()


def worker_pids(folder: Path) -> set[str]:
    return {m.group(1) for f in folder.glob("counter_*.db") if (m := re.search(r"_(\d+)\.db$", f.name))}


def test_counters_are_summed_across_workers_on_the_private_listener(served):
    site, metrics, folder = served
    attempts = 0
    while attempts < 30 or len(worker_pids(folder)) < 2:
        assert attempts < 300, "the same worker took every connection"
        unknown_address_attempt(site, attempts)
        attempts += 1
    scraped = scrape_url(metrics)
    unknown = scraped.value("gateway_signins_total", method="address", result="unknown_address")
    refused = scraped.value("gateway_limit_refusals_total", rule="unknown_per_client")
    assert unknown + refused == attempts
    assert refused >= 1 and unknown >= 12
    assert scraped.value("gateway_events_total", event="login.unknown_address") == unknown
    assert scraped.value("gateway_redis_up") == 1
    assert scraped.value("gateway_job_queue_oldest_age_seconds", queue="mail") == 0
    assert scraped.total("gateway_request_duration_seconds_count", group="pages") >= 2 * attempts


def test_the_public_port_has_no_metrics(served):
    site, metrics, _ = served
    for path in ("/metrics", "/metrics?format=prometheus"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(site + path, timeout=10)
        assert refused.value.code == 404
        assert b"gateway_" not in refused.value.read()


def test_master_start_removes_only_the_files_of_processes_gone(tmp_path):
    """A restarted master keeps a running mail worker's counters and drops those of dead workers."""
    from gateway.metrics.scrape import prepare_directory

    gone = subprocess.Popen(["true"])
    gone.wait()
    folder = tmp_path / "metrics"
    folder.mkdir()
    live, dead = folder / f"counter_{os.getpid()}.db", folder / f"counter_{gone.pid}.db"
    live.write_bytes(b"x")
    dead.write_bytes(b"x")
    prepare_directory(str(folder))
    assert live.exists() and not dead.exists()
    prepare_directory(str(tmp_path / "new"))
    assert (tmp_path / "new").is_dir() and (tmp_path / "new").stat().st_mode & 0o077 == 0
