"""``gateway saml cutover-check``, ``gateway saml scopes`` and what ``check-sp --user`` says the application
sees (issue 11), through click's CliRunner with the test Redis and the SP metadata of tests/saml/conftest.py."""
from __future__ import annotations

import dataclasses

import pytest

from gateway.accounts.directory import Directory
from gateway.accounts.models import Account, Email, NameQualifiers
from gateway.saml.cutover import attribute_policy_rule
from gateway.store import Store
from tests.conftest import TEST_SCOPES

GATEWAY = "http://127.0.0.1:8000/saml/metadata"
FORMER = "https://idp.univ-exemple.fr/idp/shibboleth"
MAIN = "https://sp.example.org/shibboleth"


@pytest.fixture
def run(saml_cli, sps):
    return saml_cli(f'[saml.sp."{sps["CBC"].entity_id}"]\nlegacy_name_id = false\n')


def person(account_id: str, **fields) -> Account:
    fields.setdefault("status", "active")
    return Account(id=account_id, emails=(Email(f"{account_id}@univ-exemple.fr", True),), affiliations=("staff",),
                   **fields)


@pytest.fixture
def people(redis_client, sps):
    directory = Directory(Store(redis_client), ("uness.fr", *TEST_SCOPES))
    cbc = sps["CBC"].entity_id
    directory.create(person("jean", eppn="jean@univ-exemple.fr", legacy_eppns={MAIN: "jdupont@univ-exemple.fr"},
                            legacy_ids={MAIN: "J-1", cbc: "J-2"}, legacy_qualifiers={MAIN: NameQualifiers(FORMER)}))
    directory.create(person("ana", eppn="ana@univ-exemple.fr", legacy_ids={MAIN: "A-1"}))
    directory.create(person("bob", legacy_ids={MAIN: "B-1"}))
    directory.create(person("zoe", status="disabled", legacy_eppns={MAIN: "zoe@univ.fr"}))
    directory.create(person("paul", eppn="paul@univ-exemple.fr", legacy_eppns={MAIN: "pd@univ.fr"}))
    Directory(Store(redis_client)).create(person("old", eppn="old@univ-paris.fr"))  # written before the rule
    return directory


def identifiers(tmp_path, *lines: str) -> str:
    path = tmp_path / "identifiers.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return str(path)


RECOGNISED = ("jdupont@univ-exemple.fr", f"{FORMER}!{MAIN}!J-1", "J-1", "ana@univ-exemple.fr",
              f"{GATEWAY}!{MAIN}!A-1")


def test_every_identifier_recognised_exits_0_with_the_rule_for_the_former_qualifier(run, people, tmp_path):
    result = run("cutover-check", MAIN, "--identifiers", identifiers(tmp_path, *RECOGNISED, "B-1", "pd@univ.fr"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-2:] == ["7 of 7 recognised",
                          "not in the file: account zoe (zoe@univ-exemple.fr) holds zoe@univ.fr"]
    rule = attribute_policy_rule([(FORMER, "")])
    assert f'<Rule xsi:type="NameIDQualifierString" NameQualifier="{FORMER}"/>' in rule
    assert "\n".join(lines[:-2]).endswith(rule)


def test_each_unrecognised_identifier_has_its_reason_and_fix(run, people, tmp_path):
    path = identifiers(tmp_path, *RECOGNISED, f"{FORMER}!{MAIN}!A-1", "nobody@univ-exemple.fr", "ghost-value",
                       "zoe@univ.fr", "old@univ-paris.fr", "paul@univ-exemple.fr")
    result = run("cutover-check", MAIN, "--identifiers", path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    summary = lines.index("5 of 11 recognised")
    findings = [line for line in lines[:summary] if ": " in line and not line.startswith((" ", "<", "the SP"))]
    assert findings[0].startswith(f"{FORMER}!{MAIN}!A-1: the qualifiers will differ: the gateway will send "
                                  f"{GATEWAY}!{MAIN}!A-1; fix: import ")
    assert '"name_qualifier": "' + FORMER + '"' in findings[0]
    assert f'<Rule xsi:type="NameIDQualifierString" NameQualifier="{FORMER}"/>' in findings[0]
    assert findings[1].startswith("nobody@univ-exemple.fr: no such account; fix: import "
                                  f'{{"id": "ACCOUNT-ID", "legacy_eppns": {{"{MAIN}": "nobody@univ-exemple.fr"}}}}')
    assert findings[2].startswith(f'ghost-value: no such account; fix: import {{"id": "ACCOUNT-ID", "legacy_ids": '
                                  f'{{"{MAIN}": "ghost-value"}}}}')
    assert findings[3].startswith("zoe@univ.fr: account zoe is disabled")
    assert findings[4] == ("old@univ-paris.fr: the eppn scope univ-paris.fr is not published yet; fix: add it to "
                           "saml.extra_scopes (published in the metadata at once; the SP drops the eppn until it "
                           "reloads the metadata)")
    assert findings[5].startswith("paul@univ-exemple.fr: account paul will send its legacy eppn for this SP, "
                                  "pd@univ.fr")
    assert len(findings) == 6
    assert lines[summary + 1:] == ["not in the file: account bob (bob@univ-exemple.fr) holds B-1",
                                   "not in the file: account paul (paul@univ-exemple.fr) holds pd@univ.fr"]


def test_an_sp_getting_transient_nameids_cannot_recognise_a_bare_value(run, people, sps, tmp_path):
    cbc = sps["CBC"].entity_id
    result = run("cutover-check", cbc, "--identifiers", identifiers(tmp_path, "J-2"))
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f'J-2: the SP asks for a transient NameID and gets one; fix: set legacy_name_id = true in [saml.sp."{cbc}"]',
        "0 of 1 recognised"]


def test_two_accounts_producing_one_eppn_is_reported(run, people, redis_client, tmp_path):
    Directory(Store(redis_client)).update(
        "ana", lambda a: dataclasses.replace(a, legacy_eppns={}, eppn="jdupont@univ-exemple.fr"))
    result = run("cutover-check", MAIN, "--identifiers", identifiers(tmp_path, "jdupont@univ-exemple.fr"))
    assert result.exit_code == 1
    assert result.output.startswith("jdupont@univ-exemple.fr: two accounts will send it (jean, ana)")


@pytest.mark.parametrize("args,message", [
    (("https://unknown.example/sp", "--identifiers", "FILE"), "gateway: no SP https://unknown.example/sp"),
    ((MAIN, "--identifiers", "/nonexistent/ids.txt"), "gateway: cannot read /nonexistent/ids.txt"),
    ((MAIN,), "Missing option '--identifiers'"),
])
def test_usage_errors_exit_2(run, people, tmp_path, args, message):
    args = tuple(identifiers(tmp_path, "x") if a == "FILE" else a for a in args)
    result = run("cutover-check", *args)
    assert result.exit_code == 2 and message in result.output


def test_scopes_lists_the_configured_scopes_their_use_and_the_refused_eppns(run, people):
    result = run("scopes")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "univ-exemple.fr  3 eppn, 1 legacy eppn" in lines
    assert "univ.fr  0 eppn, 2 legacy eppn" in lines
    assert "uness.fr  0 eppn, 0 legacy eppn, 2 without an eppn (ID@uness.fr)" in lines
    assert lines[-1] == "refused old@univ-paris.fr (eppn of account old): add univ-paris.fr to saml.extra_scopes"


def test_check_sp_shows_what_a_shibboleth_application_sees(run, people):
    result = run("check-sp", MAIN, "--user", "jean@univ-exemple.fr")
    assert result.exit_code == 0, result.output
    out = result.output.split("the application behind a Shibboleth SP 3 (default attribute map) sees:\n")[1]
    assert out.splitlines() == ["  REMOTE_USER: jdupont@univ-exemple.fr", "  eppn: jdupont@univ-exemple.fr",
                                f"  persistent-id: {FORMER}!{MAIN}!J-1"]
