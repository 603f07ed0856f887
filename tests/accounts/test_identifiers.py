"""An eppn names one account, a legacy identifier one account per SP, an eppn only a configured scope.

Issue 9: a provisioning client gave its own account another person's eppn, or
another person's legacy identifier for an SP, and received that person's
identity at the SP. Every attack here goes through the directory's one write
path, against a real Redis.
"""
from __future__ import annotations

import dataclasses

import pytest

from gateway.accounts.directory import Directory
from gateway.accounts.errors import IdentifierTaken, InvalidAccount
from gateway.accounts.models import Account, Email
from gateway.store import Store

SP = "https://sp.univ-exemple.fr/shibboleth"
SCOPES = ("uness.fr", "univ-exemple.fr")


def make(account_id: str, address: str, **fields) -> Account:
    return Account(id=account_id, emails=(Email(address),), **fields)


@pytest.fixture
def directory(redis_client):
    return Directory(Store(redis_client), SCOPES)


def test_an_eppn_out_of_the_configured_scopes_is_refused(directory):
    with pytest.raises(InvalidAccount) as info:
        directory.create(make("mallory", "m@univ-exemple.fr", eppn="president@univ-paris.fr"))
    assert info.value.field == "eppn" and "'univ-paris.fr' is not one the gateway may assert" in str(info.value)
    assert directory.get("mallory") is None
    directory.create(make("mallory", "m@univ-exemple.fr", eppn="mallory@univ-exemple.fr"))
    with pytest.raises(InvalidAccount):
        directory.update("mallory", lambda a: dataclasses.replace(a, eppn="president@univ-paris.fr"))
    assert directory.get("mallory").eppn == "mallory@univ-exemple.fr"


def test_an_eppn_belongs_to_one_account_whatever_its_case(directory):
    directory.create(make("jean", "jean@univ-exemple.fr", eppn="jdupont@univ-exemple.fr"))
    for eppn in ("jdupont@univ-exemple.fr", "JDupont@univ-exemple.fr"):
        with pytest.raises(IdentifierTaken) as info:
            directory.create(make("mallory", "m@univ-exemple.fr", eppn=eppn))
        assert info.value.field == "eppn"
        assert directory.get("mallory") is None and directory.owner_of("m@univ-exemple.fr") is None
    directory.create(make("mallory", "m@univ-exemple.fr"))
    with pytest.raises(IdentifierTaken):
        directory.update("mallory", lambda a: dataclasses.replace(a, eppn="jdupont@univ-exemple.fr"))
    assert directory.get("mallory").eppn == ""


def test_a_legacy_identifier_belongs_to_one_account_per_sp(directory):
    directory.create(make("jean", "jean@univ-exemple.fr", legacy_ids={SP: "legacy-0001"}))
    with pytest.raises(IdentifierTaken) as info:
        directory.create(make("mallory", "m@univ-exemple.fr", legacy_ids={SP: "legacy-0001"}))
    assert (info.value.field, info.value.sp, info.value.value) == ("legacy_ids", SP, "legacy-0001")
    assert directory.get("mallory") is None
    other_sp = directory.create(make("ana", "ana@univ-exemple.fr", legacy_ids={"https://other/sp": "legacy-0001"}))
    assert other_sp.legacy_ids == {"https://other/sp": "legacy-0001"}  # per SP: another SP may use the value


def test_a_value_given_up_can_be_taken(directory):
    directory.create(make("jean", "jean@univ-exemple.fr", eppn="jd@univ-exemple.fr", legacy_ids={SP: "L1"}))
    directory.update("jean", lambda a: dataclasses.replace(a, eppn="jean@univ-exemple.fr", legacy_ids={}))
    taken = directory.create(make("ana", "ana@univ-exemple.fr", eppn="jd@univ-exemple.fr", legacy_ids={SP: "L1"}))
    assert (taken.eppn, taken.legacy_ids) == ("jd@univ-exemple.fr", {SP: "L1"})


@pytest.fixture
def old_data(directory, redis_client):
    """What a directory written before the rules holds: a duplicate eppn and legacy id, an eppn out of
    scope, and no uniqueness index."""
    plain = Directory(Store(redis_client))  # no scope rule, like the old code
    plain.create(make("a", "a@univ-exemple.fr", eppn="dup@univ-exemple.fr", legacy_ids={SP: "L"}))
    plain.create(make("b", "b@univ-exemple.fr", eppn="other@univ-exemple.fr"))
    plain.create(make("c", "c@univ-exemple.fr", eppn="president@univ-paris.fr"))
    redis_client.hset("gw:user:b", mapping={"eppn": "dup@univ-exemple.fr", "legacy_ids": '{"%s": "L"}' % SP})
    redis_client.delete("gw:user-unique", "gw:user-unique-built")
    return directory


def test_old_duplicates_are_listed_and_never_block_a_write(old_data):
    directory = old_data
    assert sorted((f, sp, v, sorted(ids)) for f, sp, v, ids in directory.conflicts()) == [
        ("eppn", "", "dup@univ-exemple.fr", ["a", "b"]), ("legacy_ids", SP, "L", ["a", "b"])]
    for account_id in ("b", "a", "c"):  # activation, say: the duplicate and the old scope stay until fixed
        updated = directory.set_password_hash(account_id, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA")
        assert updated.status == "active"
    assert directory.get("c").eppn == "president@univ-paris.fr"


def test_the_index_of_old_accounts_is_built_by_the_first_write(old_data):
    """Without it, a new account could take a value old accounts hold."""
    directory = old_data
    with pytest.raises(IdentifierTaken):
        directory.create(make("d", "d@univ-exemple.fr", eppn="dup@univ-exemple.fr"))
    with pytest.raises(IdentifierTaken):
        directory.create(make("d", "d@univ-exemple.fr", legacy_ids={SP: "L"}))
    assert directory.get("d") is None
    directory.update("b", lambda a: dataclasses.replace(a, eppn="b@univ-exemple.fr", legacy_ids={}))
    assert list(directory.conflicts()) == []
    with pytest.raises(IdentifierTaken):  # still a's
        directory.create(make("d", "d@univ-exemple.fr", eppn="dup@univ-exemple.fr"))
