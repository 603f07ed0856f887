"""Legacy identifiers per application (issue 11): a legacy eppn and a qualified legacy persistent id
name one account per SP, atomically, and a legacy eppn only in a configured scope.

Every attack goes through the directory's one write path, against a real Redis.
"""
from __future__ import annotations

import dataclasses
import threading

import pytest

from gateway.accounts.directory import Directory
from gateway.accounts.errors import IdentifierTaken, InvalidAccount
from gateway.accounts.models import Account, Email, NameQualifiers, from_hash, to_hash
from gateway.accounts.provisioning import apply_record
from gateway.store import Store

SP = "https://moodle.univ-exemple.fr/shibboleth"
OTHER = "https://wiki.univ.fr/sp"
FORMER_IDP = "https://idp.univ-exemple.fr/idp/shibboleth"
SCOPES = ("uness.fr", "univ-exemple.fr", "univ.fr")


def make(account_id: str, **fields) -> Account:
    return Account(id=account_id, emails=(Email(f"{account_id}@univ-exemple.fr"),), **fields)


@pytest.fixture
def directory(redis_client):
    return Directory(Store(redis_client), SCOPES)


def test_a_legacy_eppn_belongs_to_one_account_per_sp_whatever_its_case(directory):
    directory.create(make("jean", legacy_eppns={SP: "jdupont@univ-exemple.fr"}))
    for eppn in ("jdupont@univ-exemple.fr", "JDUPONT@univ-exemple.fr"):
        with pytest.raises(IdentifierTaken) as info:
            directory.create(make("mallory", legacy_eppns={SP: eppn}))
        assert (info.value.field, info.value.sp, info.value.value) == ("legacy_eppns", SP, eppn)
        assert directory.get("mallory") is None and directory.owner_of("mallory@univ-exemple.fr") is None
    directory.create(make("mallory"))
    with pytest.raises(IdentifierTaken):
        directory.update("mallory", lambda a: dataclasses.replace(a, legacy_eppns={SP: "jdupont@univ-exemple.fr"}))
    assert directory.get("mallory").legacy_eppns == {}
    ana = directory.create(make("ana", legacy_eppns={OTHER: "jdupont@univ-exemple.fr"}))  # another SP
    assert ana.legacy_eppns == {OTHER: "jdupont@univ-exemple.fr"}


def test_a_qualified_legacy_id_is_unique_on_its_value_per_sp(directory):
    qualified = {SP: NameQualifiers(FORMER_IDP)}
    directory.create(make("jean", legacy_ids={SP: "AbC+/x=="}, legacy_qualifiers=qualified))
    for qualifiers in ({}, {SP: NameQualifiers("https://idp.autre.fr/idp")}):  # other qualifiers: same value
        with pytest.raises(IdentifierTaken) as info:
            directory.create(make("mallory", legacy_ids={SP: "AbC+/x=="}, legacy_qualifiers=qualifiers))
        assert (info.value.field, info.value.value) == ("legacy_ids", "AbC+/x==")
        assert directory.get("mallory") is None


def test_a_legacy_eppn_out_of_the_configured_scopes_is_refused_with_the_key_to_change(directory):
    with pytest.raises(InvalidAccount) as info:
        directory.create(make("mallory", legacy_eppns={SP: "president@univ-paris.fr"}))
    assert info.value.field == "legacy_eppns"
    assert "'univ-paris.fr' is not one the gateway may assert (saml.scope and saml.extra_scopes" in str(info.value)
    assert directory.get("mallory") is None
    directory.create(make("mallory"))
    with pytest.raises(InvalidAccount):
        directory.update("mallory", lambda a: dataclasses.replace(a, legacy_eppns={SP: "p@univ-paris.fr"}))
    assert directory.get("mallory").legacy_eppns == {}


def test_malformed_legacy_values_are_refused(directory):
    for fields in ({"legacy_eppns": {SP: "not-an-eppn"}},
                   {"legacy_qualifiers": {SP: NameQualifiers(FORMER_IDP)}},  # qualifiers without a value
                   {"legacy_ids": {SP: "v"}, "legacy_qualifiers": {SP: NameQualifiers("with space")}},
                   {"legacy_ids": {SP: "v"}, "legacy_qualifiers": {SP: NameQualifiers("")}}):
        with pytest.raises(InvalidAccount):
            directory.create(make("x", **fields))
    assert directory.count() == 0


def test_the_hash_form_keeps_qualifiers_and_legacy_eppns():
    account = make("jean", legacy_ids={SP: "v1", OTHER: "v2"},
                   legacy_qualifiers={SP: NameQualifiers(FORMER_IDP, "https://aff.example")},
                   legacy_eppns={OTHER: "jd@univ.fr"})
    assert from_hash(to_hash(account)) == account


@pytest.mark.parametrize("field,value", [("legacy_eppns", "jd@univ-exemple.fr"), ("legacy_ids", "the-one"),
                                         ("legacy_ids", {"value": "the-one", "name_qualifier": FORMER_IDP})])
def test_racing_imports_of_one_legacy_value_exactly_one_wins(redis_client, field, value):
    """8 threads, 8 different accounts, the same legacy value for one SP: one account gets it."""
    barrier = threading.Barrier(8)
    outcomes: dict[int, str] = {}

    def claim(n: int) -> None:
        directory = Directory(Store(redis_client), SCOPES)
        barrier.wait()
        try:
            apply_record(directory, {"id": f"u{n}", "emails": [f"u{n}@univ-exemple.fr"], field: {SP: value}})
            outcomes[n] = "won"
        except IdentifierTaken:
            outcomes[n] = "refused"

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == 8 and len(winners) == 1
    directory = Directory(Store(redis_client), SCOPES)
    held = [a.id for a in directory.iter_accounts() if a.legacy_eppns.get(SP) or a.legacy_ids.get(SP)]
    assert held == [f"u{winners[0]}"] and directory.count() == 1  # the losers wrote nothing
    kind = "legacy_eppn" if field == "legacy_eppns" else "legacy_id"
    plain = value if isinstance(value, str) else value["value"]
    assert directory.holders([(kind, SP, plain.upper() if kind == "legacy_eppn" else plain)]) == held
