"""``gateway users export``: JSON Lines, stable keys, and an exact export -> import round trip."""
from __future__ import annotations

import json
import os
import stat

from gateway.accounts.models import RECORD_FIELDS, Account, Email, to_record
from gateway.saml.sp.nameids import NameIds

from .test_users_import import jsonl


def make_varied_accounts(run, accounts, passwords, tmp_path) -> None:
    """Accounts written every way the directory gets them: import, add, commands, create()."""
    full = {
        "id": "legacy-42",
        "emails": [{"address": "Zoé.Dupont@Université.fr", "verified": True},
                   {"address": "zoe@example.org", "verified": False},
                   {"address": "z@example.net", "verified": True}],
        "given_name": "Zoé", "family_name": "Dupont-Ünïcødé", "display_name": "Zoé D. 🎓",
        "affiliations": ["student", "member", "library-walk-in"], "establishment": "{UAI}0751717J",
        "eppn": "zdupont@univ-exemple.fr",
        "legacy_ids": {"https://sp-b.example.org/sp": "b\u2028value",  # U+2028 must not split the line
                       "https://sp-a.example.org/shibboleth": "Xy+/=="},
        "liste_rouge": True, "status": "disabled", "password_hash": passwords.hash("an old password 42"),
        "created_at": "2019-05-04T10:00:00Z", "updated_at": "2021-01-02T03:04:05Z",
    }
    minimal = {"emails": ["plain@example.fr"]}
    assert run("users", "import", "-", input=jsonl(full, minimal)).exit_code == 0
    added = run("users", "add", "--email", "active@example.fr", "--given-name", "Ali",
                "--legacy-id", "https://sp-a.example.org/shibboleth=ali=").stdout.strip()
    assert run("users", "add-email", added, "second@example.fr", "--verified").exit_code == 0
    assert run("users", "set-password", added, input="a long enough passphrase\n").exit_code == 0
    accounts.create(Account(id="oldest", emails=(Email("oldest@example.fr", True),), status="active",
                            created_at="2001-01-01T00:00:00Z", updated_at="2001-01-01T00:00:01Z"))
    disabled = run("users", "add", "--email", "gone@example.fr", "--affiliation", "alum",
                   "--liste-rouge").stdout.strip()
    assert run("users", "disable", disabled).exit_code == 0
    name_ids = NameIds(accounts.store, "http://127.0.0.1:8000/saml/metadata")  # as SSO makes them
    for account in (accounts.get("legacy-42"), accounts.get("oldest"), accounts.get(added)):
        name_ids.persistent_value(account, "https://sp-c.example.org/sp")


def test_export_flush_import_restores_every_account_exactly(run, accounts, passwords, redis_client, tmp_path):
    make_varied_accounts(run, accounts, passwords, tmp_path)
    before = [to_record(a) for a in accounts.iter_accounts()]
    assert len(before) == 5 and before[0]["id"] == "oldest"
    assert {r["status"] for r in before} == {"provisioned", "active", "disabled"}
    assert [r["liste_rouge"] for r in before].count(True) == 2

    exported = run("users", "export")
    assert exported.exit_code == 0 and exported.stderr.strip() == "exported 5 accounts"
    target = tmp_path / "backup.jsonl"
    assert run("users", "export", "--output", str(target)).exit_code == 0
    assert target.read_text(encoding="utf-8") == exported.stdout
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["backup.jsonl"]  # no temporary file left

    redis_client.flushdb()
    restored = run("users", "import", str(target))
    assert restored.exit_code == 0, restored.stderr
    assert restored.stdout.strip() == "created 5, updated 0, unchanged 0, rejected 0"
    assert [to_record(a) for a in accounts.iter_accounts()] == before
    assert run("users", "export").stdout == exported.stdout  # persistent identifiers included
    lines = exported.stdout.split("\n")[:-1]  # not splitlines(): a value holds U+2028
    assert sum(bool(json.loads(line)["saml_persistent_ids"]) for line in lines) == 3
    legacy = accounts.find_by_email("zoe@example.org")
    assert passwords.verify(legacy.password_hash, "an old password 42")


def test_export_lines_have_stable_keys_and_utf8(run, accounts):
    accounts.create(Account(id="u", emails=(Email("u@example.fr"),), given_name="Zoé",
                            legacy_ids={"https://z": "1", "https://a": "2"}))
    result = run("users", "export")
    line = result.stdout_bytes.decode("utf-8").splitlines()[0]
    assert "Zoé" in line  # not \\u00e9
    record = json.loads(line)
    assert list(record) == list(RECORD_FIELDS)
    assert list(record["legacy_ids"]) == ["https://a", "https://z"]


def test_export_of_an_empty_directory(run, accounts):
    result = run("users", "export")
    assert result.exit_code == 0 and result.stdout == "" and "exported 0 accounts" in result.stderr


def test_export_to_an_unwritable_place_is_one_line(run, accounts, tmp_path):
    result = run("users", "export", "--output", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert result.exit_code == 1
    assert result.stderr.startswith("gateway: cannot write") and len(result.stderr.splitlines()) == 1


def test_reimporting_an_export_changes_nothing(run, accounts, passwords, tmp_path):
    make_varied_accounts(run, accounts, passwords, tmp_path)
    before = list(accounts.iter_accounts())
    result = run("users", "import", "-", input=run("users", "export").stdout)
    assert result.stdout.strip() == "created 0, updated 0, unchanged 5, rejected 0"
    assert list(accounts.iter_accounts()) == before  # same versions: nothing was rewritten
