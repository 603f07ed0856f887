"""Legacy identifiers per application from the command line (issue 11): ``users add --legacy-eppn``,
import (JSON Lines and CSV), show, and an export that imports back exactly."""
from __future__ import annotations

import json
from tests.cli.conftest import jsonl

SP = "https://moodle.univ-exemple.fr/shibboleth"
WIKI = "https://wiki.univ.fr/sp"
FORMER_IDP = "https://idp.univ-exemple.fr/idp/shibboleth"


def test_add_with_legacy_eppns_then_show(run, accounts):
    result = run("users", "add", "--email", "jean@univ-exemple.fr", "--id", "jean",
                 "--legacy-eppn", f"{SP}=jdupont@univ-exemple.fr", "--legacy-eppn", f"{WIKI}=jean.dupont@univ.fr")
    assert result.exit_code == 0, result.stderr
    assert accounts.get("jean").legacy_eppns == {SP: "jdupont@univ-exemple.fr", WIKI: "jean.dupont@univ.fr"}
    shown = run("users", "show", "jean").stdout.splitlines()
    assert f"legacy eppns:  {SP} = jdupont@univ-exemple.fr" in shown
    assert f"               {WIKI} = jean.dupont@univ.fr" in shown
    assert json.loads(run("users", "show", "jean", "--json").stdout)["legacy_eppns"][WIKI] == "jean.dupont@univ.fr"


def test_add_refuses_a_taken_legacy_eppn_an_unconfigured_scope_and_a_malformed_pair(run, accounts):
    assert run("users", "add", "--email", "jean@univ-exemple.fr", "--legacy-eppn", f"{SP}=jd@univ-exemple.fr",
               ).exit_code == 0
    for value, expected in (
        (f"{SP}=JD@univ-exemple.fr", f"gateway: legacy_eppns: JD@univ-exemple.fr for {SP} already belongs to another "
                                     "account"),
        (f"{SP}=p@univ-paris.fr", "gateway: legacy_eppns: scope 'univ-paris.fr' is not one the gateway may assert "
                                  "(saml.scope and saml.extra_scopes"),
        ("no-equals-sign", "gateway: --legacy-eppn: expected ENTITYID=EPPN, not 'no-equals-sign'"),
    ):
        result = run("users", "add", "--email", "mallory@univ-exemple.fr", "--legacy-eppn", value)
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith(expected), result.stderr
        assert accounts.owner_of("mallory@univ-exemple.fr") is None and accounts.count() == 1


def test_import_rejects_a_line_taking_another_accounts_legacy_value_and_writes_nothing_of_it(run, accounts,
                                                                                           tmp_path):
    qualified = {"value": "AbC=", "name_qualifier": FORMER_IDP}
    path = jsonl(
        tmp_path,
        {"id": "jean", "emails": ["jean@univ-exemple.fr"], "legacy_eppns": {SP: "jd@univ-exemple.fr"},
         "legacy_ids": {SP: qualified}},
        {"id": "mallory", "emails": ["m@univ-exemple.fr"], "legacy_eppns": {SP: "jd@univ-exemple.fr"}},
        {"id": "mallory", "emails": ["m@univ-exemple.fr"], "legacy_ids": {SP: "AbC="}},
        {"id": "mallory", "emails": ["m@univ-exemple.fr"], "legacy_ids": {SP: {"value": "x", "qualifier": "y"}}},
        {"id": "ana", "emails": ["ana@univ-exemple.fr"], "legacy_eppns": {WIKI: "jd@univ-exemple.fr"}},
    )
    result = run("users", "import", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "created 2, updated 0, unchanged 0, rejected 3"
    assert [line for line in result.stderr.splitlines() if "rejected" in line] == [
        f"line 2: rejected: legacy_eppns: jd@univ-exemple.fr for {SP} already belongs to another account",
        f"line 3: rejected: legacy_ids: AbC= for {SP} already belongs to another account",
        'line 4: rejected: legacy_ids: an object entry is {"value", "name_qualifier", "sp_name_qualifier"} '
        "(strings)",
    ]
    assert accounts.get("mallory") is None and accounts.owner_of("m@univ-exemple.fr") is None


def test_export_then_import_into_an_empty_directory_is_exact(run, accounts, redis_client, tmp_path):
    records = [
        {"id": "jean", "emails": ["jean@univ-exemple.fr"], "eppn": "jean@univ-exemple.fr",
         "legacy_eppns": {SP: "jdupont@univ-exemple.fr", WIKI: "jean.dupont@univ.fr"},
         "legacy_ids": {SP: {"value": "AbC+/x==", "name_qualifier": FORMER_IDP},
                        WIKI: {"value": "w-1", "name_qualifier": "https://idp.univ.fr", "sp_name_qualifier": "https://aff"},
                        "https://plain/sp": "p-1"}},
        {"id": "ana", "emails": ["ana@univ-exemple.fr"]},
    ]
    assert run("users", "import", jsonl(tmp_path, *records)).exit_code == 0
    first = run("users", "export").stdout
    exported = {r["id"]: r for r in map(json.loads, first.splitlines())}
    assert exported["jean"]["legacy_ids"] == dict(sorted(records[0]["legacy_ids"].items()))
    assert exported["jean"]["legacy_eppns"] == dict(sorted(records[0]["legacy_eppns"].items()))
    redis_client.flushdb()
    (tmp_path / "export.jsonl").write_text(first, encoding="utf-8")
    assert run("users", "import", str(tmp_path / "export.jsonl")).exit_code == 0
    assert run("users", "export").stdout == first


def test_csv_cells_hold_legacy_objects(run, accounts, tmp_path):
    path = tmp_path / "people.csv"
    legacy_ids = json.dumps({SP: {"value": "v1", "name_qualifier": FORMER_IDP}}).replace('"', '""')
    legacy_eppns = json.dumps({SP: "jd@univ-exemple.fr"}).replace('"', '""')
    path.write_text(f'id;emails;legacy_ids;legacy_eppns\njean;jean@univ-exemple.fr;"{legacy_ids}";"{legacy_eppns}"\n',
                    encoding="utf-8")
    result = run("users", "import", str(path))
    assert result.exit_code == 0, result.stderr
    jean = accounts.get("jean")
    assert (jean.legacy_ids, jean.legacy_qualifiers[SP].name_qualifier, jean.legacy_eppns) == (
        {SP: "v1"}, FORMER_IDP, {SP: "jd@univ-exemple.fr"})
