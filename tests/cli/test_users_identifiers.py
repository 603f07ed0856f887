"""The CLI refuses another person's eppn or legacy identifier, and an eppn out of the configured scopes
(``add``: one line, exit 1; ``import``: the line rejected); ``users check`` lists what old data breaks."""
from __future__ import annotations


from gateway.accounts.directory import Directory
from gateway.accounts.models import Account, Email
from gateway.store import Store
from tests.cli.conftest import jsonl

SP = "https://sp.univ-exemple.fr/shibboleth"


def test_add_refuses_a_taken_eppn_or_legacy_id_and_an_unconfigured_scope(run, accounts):
    assert run("users", "add", "--email", "jean@univ-exemple.fr", "--eppn", "jdupont@univ-exemple.fr",
               "--legacy-id", f"{SP}=legacy-0001").exit_code == 0
    for option, value, expected in (
        ("--eppn", "JDupont@univ-exemple.fr", "gateway: eppn: JDupont@univ-exemple.fr already belongs to another account"),
        ("--legacy-id", f"{SP}=legacy-0001", f"gateway: legacy_ids: legacy-0001 for {SP} already belongs to another account"),
        ("--eppn", "president@univ-paris.fr", "gateway: eppn: scope 'univ-paris.fr' is not one the gateway may assert"),
    ):
        result = run("users", "add", "--email", "mallory@univ-exemple.fr", option, value)
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith(expected), result.stderr
        assert accounts.owner_of("mallory@univ-exemple.fr") is None and accounts.count() == 1


def test_import_rejects_the_lines_that_would_duplicate_an_identifier(run, accounts, tmp_path):
    path = jsonl(
        tmp_path,
        {"id": "jean", "emails": ["jean@univ-exemple.fr"], "eppn": "jd@univ-exemple.fr", "legacy_ids": {SP: "L1"}},
        {"id": "mallory", "emails": ["m@univ-exemple.fr"], "eppn": "jd@univ-exemple.fr"},
        {"id": "mallory", "emails": ["m@univ-exemple.fr"], "legacy_ids": {SP: "L1"}},
        {"id": "mallory", "emails": ["m@univ-exemple.fr"], "eppn": "president@univ-paris.fr"},
        {"id": "ana", "emails": ["ana@univ-exemple.fr"], "legacy_ids": {"https://other/sp": "L1"}},
    )
    result = run("users", "import", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "created 2, updated 0, unchanged 0, rejected 3"
    assert [line for line in result.stderr.splitlines() if "rejected" in line] == [
        "line 2: rejected: eppn: jd@univ-exemple.fr already belongs to another account",
        f"line 3: rejected: legacy_ids: L1 for {SP} already belongs to another account",
        "line 4: rejected: eppn: scope 'univ-paris.fr' is not one the gateway may assert "
        "(saml.scope and saml.extra_scopes: uness.fr, univ-exemple.fr, univ.fr)",
    ]
    assert accounts.get("mallory") is None and accounts.owner_of("m@univ-exemple.fr") is None


def test_check_lists_what_old_data_breaks_until_it_is_fixed(run, redis_client, tmp_path):
    plain = Directory(Store(redis_client))  # the directory as the old code wrote it: no rules
    plain.create(Account(id="a", emails=(Email("a@univ-exemple.fr"),), eppn="dup@univ-exemple.fr"))
    plain.create(Account(id="b", emails=(Email("b@univ-exemple.fr"),)))
    plain.create(Account(id="c", emails=(Email("c@univ-exemple.fr"),), eppn="president@univ-paris.fr"))
    redis_client.hset("gw:user:b", "eppn", "dup@univ-exemple.fr")
    redis_client.delete("gw:user-unique", "gw:user-unique-built")
    result = run("users", "check")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["duplicate eppn dup@univ-exemple.fr: a, b",
                                          "eppn out of scope president@univ-paris.fr: c", "2 problem(s)"]
    assert redis_client.hget("gw:user-unique", '["eppn","","dup@univ-exemple.fr"]') == "a"  # index built
    fix = jsonl(tmp_path, {"id": "b", "eppn": "b@univ-exemple.fr"}, {"id": "c", "eppn": ""})
    assert run("users", "import", fix).exit_code == 0
    assert run("users", "check").stdout == "no problem found\n"
