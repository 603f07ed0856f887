"""``gateway users export|import|show``: the SAML persistent identifiers travel with the accounts."""
from __future__ import annotations

import json

import pytest
import redis

from gateway.accounts.directory import Directory
from gateway.saml.sp.nameids import NameIds
from gateway.store import Store

from .conftest import audit_events
from .test_users_import import jsonl, write

IDP = "http://127.0.0.1:8000/saml/metadata"
MAIN = "https://sp.example.org/shibboleth"
OTHER = "https://other.example.org/sp"
NEW = "https://new.example.org/sp"


@pytest.fixture
def made(make_account, redis_client) -> dict[str, str]:
    """Account "u", with the persistent identifiers the IdP made for it at two SPs."""
    account = make_account("u@example.fr", account_id="u", status="provisioned", given_name="U")
    name_ids = NameIds(Store(redis_client), IDP)
    return {sp: name_ids.persistent_value(account, sp) for sp in (OTHER, MAIN)}


def test_export_carries_them_sorted(run, made):
    record = json.loads(run("users", "export").stdout)
    assert list(record["saml_persistent_ids"].items()) == sorted(made.items())


def test_import_into_an_empty_database_restores_them(run, made, monkeypatch, empty_redis_url):
    exported = run("users", "export").stdout
    monkeypatch.setenv("GATEWAY_REDIS_URL", empty_redis_url)
    restored = run("users", "import", "-", input=exported)
    assert restored.stdout.strip() == "created 1, updated 0, unchanged 0, rejected 0", restored.stderr
    assert run("users", "export").stdout == exported
    other = redis.Redis.from_url(empty_redis_url, decode_responses=True)
    try:
        restored_account = Directory(Store(other)).get("u")
        name_ids = NameIds(Store(other), IDP)
        assert {sp: name_ids.persistent_value(restored_account, sp, create=False) for sp in made} == made
    finally:
        other.close()


def test_identical_ones_are_unchanged(run, accounts, made):
    before = accounts.get("u")
    again = run("users", "import", "-", input=run("users", "export").stdout)
    assert again.stdout.strip() == "created 0, updated 0, unchanged 1, rejected 0"
    assert audit_events(again.stderr) == [] and accounts.get("u") == before


def test_a_new_one_for_an_existing_account_is_an_update(run, accounts, made):
    version = accounts.get("u").version
    result = run("users", "import", "-", input=jsonl({"id": "u", "saml_persistent_ids": {NEW: "n-1"}}))
    assert result.stdout.strip() == "created 0, updated 1, unchanged 0, rejected 0"
    assert audit_events(result.stderr) == ["account.updated"]
    assert accounts.persistent_ids("u") == {**made, NEW: "n-1"}
    assert accounts.get("u").version == version  # the account itself was not rewritten


def test_a_different_one_rejects_the_line_and_writes_nothing(run, accounts, made):
    before = accounts.get("u")
    lines = jsonl(
        {"id": "u", "given_name": "Changed", "saml_persistent_ids": {NEW: "n-1", MAIN: "not-the-stored-one"}},
        {"id": "v", "emails": ["v@example.fr"], "saml_persistent_ids": {MAIN: "v-main"}},
    )
    result = run("users", "import", "-", input=lines)
    assert result.exit_code == 1
    assert result.stdout.strip() == "created 1, updated 0, unchanged 0, rejected 1"
    assert (f"line 1: rejected: saml_persistent_ids: account u already has a different persistent "
            f"identifier for {MAIN}") in result.stderr.splitlines()
    assert accounts.get("u") == before and accounts.persistent_ids("u") == made
    assert accounts.persistent_ids("v") == {MAIN: "v-main"}


@pytest.mark.parametrize(("value", "reason"), [
    (["a list"], "expected an object mapping SP entityID to identifier"),
    ({MAIN: ""}, "each entry maps an SP entityID to a non-empty identifier"),
    ({MAIN: 42}, "expected an object mapping SP entityID to identifier"),
    ({MAIN: "x" * 257}, "identifiers of at most 256 characters, without spaces"),
    ({MAIN: "two words"}, "identifiers of at most 256 characters, without spaces"),
    ({MAIN: "tab\there"}, "identifiers of at most 256 characters, without spaces"),
])
def test_malformed_ones_reject_the_line(run, accounts, value, reason):
    line = jsonl({"id": "w", "emails": ["w@example.fr"], "saml_persistent_ids": value})
    result = run("users", "import", "-", input=line)
    assert result.stderr.splitlines()[-1] == f"line 1: rejected: saml_persistent_ids: {reason}"
    assert accounts.count() == 0 and accounts.persistent_ids("w") == {}


def test_csv_column_holds_a_json_object(run, accounts, tmp_path):
    text = ('id,emails,saml_persistent_ids\n'
            'c1,c1@example.fr,"{""https://sp.example.org/shibboleth"": ""p-1""}"\n'
            'c2,c2@example.fr,\n'
            'c3,c3@example.fr,{not json}\n')
    result = run("users", "import", write(tmp_path, "people.csv", text))
    assert result.stdout.strip() == "created 2, updated 0, unchanged 0, rejected 1"
    assert "line 4: rejected: saml_persistent_ids: expected a JSON object" in result.stderr
    assert accounts.persistent_ids("c1") == {MAIN: "p-1"} and accounts.persistent_ids("c2") == {}


def test_show_lists_them(run, made):
    lines = run("users", "show", "u").stdout.splitlines()
    first = lines.index(f"persistent id: {OTHER} = {made[OTHER]}")  # sorted by entityID
    assert lines[first + 1] == f"               {MAIN} = {made[MAIN]}"
    record = json.loads(run("users", "show", "--json", "u").stdout)
    assert record["saml_persistent_ids"] == made
