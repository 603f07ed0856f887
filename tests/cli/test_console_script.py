"""The installed ``gateway`` console script (not CliRunner): import a file, show by a secondary address."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import cli_environ

GATEWAY = Path(sys.executable).with_name("gateway")


def gateway(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(GATEWAY), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_installed_command_imports_and_shows(redis_server, redis_client, tmp_path):
    assert GATEWAY.exists(), f"{GATEWAY} is missing: pip install -e . installs it"
    env = cli_environ(redis_server.url)
    people = tmp_path / "people.jsonl"
    people.write_text(
        json.dumps({"id": "cli-1", "given_name": "Zoé", "affiliations": ["student"],
                    "emails": ["main@example.fr", {"address": "Second@Example.org", "verified": True}]},
                   ensure_ascii=False) + "\n"
        + json.dumps({"emails": ["other@example.fr"]}) + "\n"
        + "{not json\n",
        encoding="utf-8",
    )
    imported = gateway("users", "import", str(people), env=env)
    assert imported.returncode == 1  # the third line is rejected
    assert imported.stdout.strip() == "created 2, updated 0, unchanged 0, rejected 1"
    assert "line 3: rejected: invalid JSON" in imported.stderr and "Traceback" not in imported.stderr

    shown = gateway("users", "show", "second@example.org", env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:4] == [
        "id:            cli-1",
        "status:        provisioned",
        "emails:        main@example.fr (primary, unverified)",
        "               second@example.org (verified)",
    ]
    assert "given name:    Zoé" in shown.stdout

    missing = gateway("users", "show", "nobody@example.fr", env=env)
    assert (missing.returncode, missing.stderr) == (1, "gateway: no account for nobody@example.fr\n")
