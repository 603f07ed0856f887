"""``make soak`` itself: a few seconds of the soak on the real stack (gunicorn, Redis, job worker, SMTP sink).

No figure is checked (the CI machine is shared and loaded): only that the soak
ran every kind of traffic, printed a row per "minute" and saw no error.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s", re.MULTILINE)


def test_a_short_soak_runs_every_kind_of_traffic_without_error():
    env = {**os.environ, "SOAK_SECONDS": "6"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--row-seconds", "2", "--rate", "4", "--browsers", "4",
         "--no-growth-check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=110)

    assert done.returncode == 0, done.stdout + done.stderr
    rows = [tuple(int(v) for v in found) for found in ROW.findall(done.stdout)]
    assert [n for n, _, _ in rows] == [1, 2, 3]
    assert all(requests > 0 and errors == 0 for _, requests, errors in rows)
    for kind in ("signin", "sso", "oidc", "account", "scim"):
        assert re.search(rf"^  {kind}\s+[1-9]\d* ok", done.stdout, re.MULTILINE), kind
    assert "0 errors, 0 tracebacks in the logs" in done.stdout
    assert "OK: no errors" in done.stdout
