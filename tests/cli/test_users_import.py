"""``gateway users import``: JSON Lines and CSV, bad lines, idempotence, file problems."""
from __future__ import annotations

import json
import os
from pathlib import Path

from gateway.accounts.models import to_record
from tests.conftest import free_port

from .conftest import audit_events


def jsonl(*lines: object) -> str:
    """A JSON Lines text; str items are written verbatim (bad lines, comments)."""
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_bad_lines_are_reported_and_good_lines_imported(run, accounts, tmp_path):
    path = write(tmp_path, "people.jsonl", jsonl(
        {"emails": [{"address": "Alice@Example.fr", "verified": True}], "given_name": "Alice"},  # 1
        "",                                                                                       # 2
        "# a comment",                                                                            # 3
        '{"emails": ["broken@example.fr"',                                                        # 4
        {"emails": ["bob@example.fr", "bob.perso@example.org"], "affiliations": ["student"]},     # 5
        {"emails": ["new@example.fr", "alice@example.fr"]},                                       # 6
        {"emails": ["carol@example.fr"], "affiliations": ["wizard"]},                             # 7
        {"emails": ["dan@example.fr"], "shoe_size": "44"},                                        # 8
        ["not", "an", "object"],                                                                  # 9
        {"id": "acct-eve", "emails": ["eve@example.fr"], "status": "active"},                     # 10
    ))
    result = run("users", "import", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "created 3, updated 0, unchanged 0, rejected 5"
    rejected = [line for line in result.stderr.splitlines() if "rejected" in line]
    assert [line.split(":")[0] for line in rejected] == ["line 4", "line 6", "line 7", "line 8", "line 9"]
    assert rejected[0].startswith("line 4: rejected: invalid JSON")
    assert rejected[1] == "line 6: rejected: alice@example.fr already belongs to another account"
    assert "wizard" in rejected[2] and "shoe_size" in rejected[3]
    assert audit_events(result.stderr) == ["account.created"] * 3
    assert accounts.count() == 3
    assert accounts.owner_of("new@example.fr") is None  # the line with a taken address wrote nothing
    assert accounts.get("acct-eve").status == "active"
    assert accounts.find_by_email("alice@example.fr").verified_addresses == ("alice@example.fr",)


def test_the_reason_names_the_address_actually_taken(run, accounts, tmp_path):
    run("users", "add", "--email", "taken@example.fr")
    path = write(tmp_path, "a.jsonl", jsonl({"emails": ["free@example.fr", "taken@example.fr"]}))
    result = run("users", "import", path)
    assert result.exit_code == 1
    assert "line 1: rejected: taken@example.fr already belongs to another account" in result.stderr
    assert accounts.owner_of("free@example.fr") is None and accounts.count() == 1


def test_every_address_finds_the_account_and_reimport_changes_nothing(run, accounts, tmp_path):
    path = write(tmp_path, "people.ndjson", jsonl(
        {"id": "u1", "emails": ["one@example.fr", "one.alt@example.org", "UN@Exemple.fr"]},
        {"emails": ["two@example.fr", {"address": "two.alt@example.org", "verified": True}],
         "legacy_ids": {"https://sp.example.org/shibboleth": "abc=="}},
    ))
    first = run("users", "import", path)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == "created 2, updated 0, unchanged 0, rejected 0"
    before = {a.id: a for a in accounts.iter_accounts()}
    for address in ("one@example.fr", "one.alt@example.org", "un@exemple.fr"):
        assert accounts.find_by_email(address).id == "u1"
    two = accounts.find_by_email("two@example.fr")
    assert accounts.find_by_email("two.alt@example.org").id == two.id

    again = run("users", "import", path)
    assert again.exit_code == 0
    assert again.stdout.strip() == "created 0, updated 0, unchanged 2, rejected 0"
    assert audit_events(again.stderr) == []
    after = {a.id: a for a in accounts.iter_accounts()}
    assert after == before  # same ids, no duplicates, same versions and timestamps


def test_reimport_with_changes_updates_and_keeps_unlisted_addresses(run, accounts, tmp_path):
    run("users", "import", write(tmp_path, "a.jsonl", jsonl({"emails": ["p@example.fr", "q@example.fr"]})))
    changed = jsonl({"emails": ["p@example.fr", "r@example.fr"], "given_name": "P"})
    result = run("users", "import", write(tmp_path, "b.jsonl", changed))
    assert result.stdout.strip() == "created 0, updated 1, unchanged 0, rejected 0"
    assert audit_events(result.stderr) == ["account.updated"]
    account = accounts.find_by_email("q@example.fr")
    assert account.addresses == ("p@example.fr", "r@example.fr", "q@example.fr")
    assert account.given_name == "P"


def test_import_csv_from_excel(run, accounts, tmp_path):
    text = (
        "\ufeffid,Emails,given_name,family_name,affiliations,legacy_ids\r\n"
        'c1,"zoe@example.fr;zoe.perso@example.org",Zoé,Durand,"student; member",'
        '"{""https://sp.example.org"": ""id-1""}"\r\n'
        ",marc@example.fr,Marc,,\"staff, member\",\r\n"
        "\r\n"
        ",bad-address,,,,\r\n"
        "c3,too@example.fr,few cells\r\n"
        ",x@example.fr,,,,{not json}\r\n"
    )
    result = run("users", "import", write(tmp_path, "people.csv", text))
    assert result.exit_code == 1
    assert result.stdout.strip() == "created 2, updated 0, unchanged 0, rejected 3"
    assert "line 5: rejected: emails: 'bad-address' is not a valid address" in result.stderr
    assert "line 6: rejected: 3 cells, but the header has 6 columns" in result.stderr
    assert "line 7: rejected: legacy_ids: expected a JSON object" in result.stderr
    zoe = accounts.get("c1")
    assert zoe.addresses == ("zoe@example.fr", "zoe.perso@example.org")
    assert (zoe.given_name, zoe.family_name) == ("Zoé", "Durand")
    assert zoe.affiliations == ("student", "member")
    assert zoe.legacy_ids == {"https://sp.example.org": "id-1"}
    marc = accounts.find_by_email("marc@example.fr")
    assert marc.affiliations == ("staff", "member") and marc.family_name == ""


def test_csv_empty_cell_leaves_the_field_unchanged(run, accounts, tmp_path):
    run("users", "import", write(tmp_path, "a.csv", "emails,given_name\nann@example.fr,Ann\n"))
    second = write(tmp_path, "b.csv", "emails,given_name,family_name\nann@example.fr,,Lee\n")
    result = run("users", "import", second)
    assert result.stdout.strip() == "created 0, updated 1, unchanged 0, rejected 0"
    ann = accounts.find_by_email("ann@example.fr")
    assert (ann.given_name, ann.family_name) == ("Ann", "Lee")


def test_csv_with_semicolons_from_french_excel(run, accounts, tmp_path):
    text = "emails;given_name;affiliations\r\n\"a@example.fr;b@example.fr\";Élise;student,member\r\n"
    result = run("users", "import", write(tmp_path, "export.CSV", text.encode("utf-8-sig")))
    assert result.exit_code == 0, result.stderr
    elise = accounts.find_by_email("b@example.fr")
    assert elise.addresses == ("a@example.fr", "b@example.fr") and elise.given_name == "Élise"
    assert elise.affiliations == ("student", "member")


def test_jsonl_with_bom_and_crlf(run, accounts, tmp_path):
    text = jsonl({"emails": ["bom@example.fr"]}).replace("\n", "\r\n").encode("utf-8-sig")
    result = run("users", "import", write(tmp_path, "bom.json", text))
    assert result.exit_code == 0, result.stderr
    assert accounts.find_by_email("bom@example.fr") is not None


def test_import_from_stdin_with_format(run, accounts):
    result = run("users", "import", "--format", "csv", "-", input="emails\nstdin@example.fr\n")
    assert result.exit_code == 0 and result.stdout.strip() == "created 1, updated 0, unchanged 0, rejected 0"
    result = run("users", "import", "-", input=jsonl({"emails": ["stdin2@example.fr"]}))
    assert result.exit_code == 0 and accounts.count() == 2


def test_whole_file_problems_are_one_line_and_import_nothing(run, accounts, tmp_path):
    cases = {
        str(tmp_path / "missing.jsonl"): "cannot read",
        write(tmp_path, "latin1.csv", "emails\nzoé@example.fr\n".encode("latin-1")): "UTF-8 text (line 2)",
        write(tmp_path, "array.json", '[\n  {"emails": ["a@example.fr"]}\n]\n'): "JSON array",
        write(tmp_path, "columns.csv", "emails,age\na@example.fr,3\n"): "unknown column 'age'",
        write(tmp_path, "people.txt", jsonl({"emails": ["a@example.fr"]})): "--format",
        str(tmp_path / "directory.jsonl"): "cannot read",
    }
    (tmp_path / "directory.jsonl").mkdir()
    for path, expected in cases.items():
        result = run("users", "import", path)
        assert result.exit_code == 1, path
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and expected in result.stderr, result.stderr
    assert accounts.count() == 0


def test_redis_unreachable_is_one_line(run, monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    path = write(tmp_path, "a.jsonl", jsonl({"emails": ["a@example.fr"]}))
    for args in (("import", path), ("show", "a@example.fr"), ("export",)):
        result = run("users", *args)
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            f"gateway: cannot reach Redis ({os.environ['GATEWAY_REDIS_URL']}); is it running?"
        ]


def test_import_records_are_the_same_as_directory_records(run, accounts, tmp_path):
    """A full record (as export writes it) is stored as given."""
    record = {
        "id": "full", "emails": [{"address": "full@example.fr", "verified": True}], "given_name": "F",
        "family_name": "L", "display_name": "F L", "affiliations": ["staff"],
        "establishment": "{UAI}0751717J",
        "eppn": "fl@univ-exemple.fr",
        "legacy_ids": {"https://sp": "x", "https://sp2": {"value": "y", "name_qualifier": "https://idp.univ.fr"},
                       "https://sp3": {"value": "z", "name_qualifier": "https://idp.univ.fr",
                                       "sp_name_qualifier": "https://aff"}},
        "legacy_eppns": {"https://sp": "f.l@univ.fr"}, "liste_rouge": True,
        "status": "disabled",
        "password_hash": "", "created_at": "2020-01-01T00:00:00Z", "updated_at": "2021-01-01T00:00:00Z",
    }
    run("users", "import", write(tmp_path, "one.jsonl", jsonl(record)))
    assert to_record(accounts.get("full")) == record
