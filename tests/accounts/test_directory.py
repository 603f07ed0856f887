"""The directory: any address finds the account; an address belongs to one account, even under races."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from gateway.accounts.directory import Directory
from gateway.accounts.errors import (
    AccountExists,
    AccountNotFound,
    AddressTaken,
    InvalidAccount,
    LastVerifiedAddress,
    PersistentIdConflict,
)
from gateway.accounts.models import Account, Email
from gateway.store import Store


def make(account_id: str, *addresses: str, **fields) -> Account:
    return Account(id=account_id, emails=tuple(Email(a) for a in addresses), **fields)


@pytest.fixture
def directory(redis_client):
    return Directory(Store(redis_client))


def test_find_by_every_address_and_case(directory):
    directory.create(make("u1", "camille@univ-exemple.fr", "camille@chu-exemple.fr", given_name="Camille"))
    for address in ("camille@univ-exemple.fr", " Camille@CHU-exemple.fr "):
        found = directory.find_by_email(address)
        assert found is not None and found.id == "u1" and found.given_name == "Camille"
    assert directory.find_by_email("nobody@univ-exemple.fr") is None


def test_created_account_round_trips_every_field(directory):
    account = make(
        "u1", "a@example.org", given_name="Ana", family_name="Lima", display_name="Ana Lima",
        affiliations=("student", "member"), establishment="{UAI}0751717J", eppn="alima@univ.fr",
        legacy_ids={"https://sp.example.org/shibboleth": "legacy-1"},
    )
    created = directory.create(account)
    assert created.version == 1 and created.created_at and created.updated_at
    assert directory.get("u1") == created


def test_address_unique_across_accounts(directory):
    directory.create(make("u1", "shared@example.org"))
    with pytest.raises(AddressTaken) as info:
        directory.create(make("u2", "other@example.org", "shared@example.org"))
    assert info.value.owner_id == "u1"
    assert directory.get("u2") is None  # nothing half-written
    assert directory.find_by_email("other@example.org") is None


def test_create_same_id_twice(directory):
    directory.create(make("u1", "a@example.org"))
    with pytest.raises(AccountExists):
        directory.create(make("u1", "b@example.org"))


def test_removed_address_is_freed(directory):
    directory.create(make("u1", "a@example.org", "b@example.org"))
    directory.verify_email("u1", "a@example.org")
    directory.remove_email("u1", "b@example.org")
    assert directory.find_by_email("b@example.org") is None
    directory.create(make("u2", "b@example.org"))
    assert directory.find_by_email("b@example.org").id == "u2"


def test_last_verified_address_stays(directory):
    directory.create(make("u1", "a@example.org", "b@example.org"))
    directory.verify_email("u1", "a@example.org")
    with pytest.raises(LastVerifiedAddress):
        directory.remove_email("u1", "a@example.org")


def test_set_primary_and_add_email(directory):
    directory.create(make("u1", "a@example.org"))
    directory.add_email("u1", "B@Example.org")
    account = directory.set_primary("u1", "b@example.org")
    assert account.primary_email == "b@example.org"
    assert account.addresses == ("b@example.org", "a@example.org")


def test_invalid_fields_refused_before_writing(directory):
    for fields in ({"affiliations": ("wizard",)}, {"establishment": "0751717J"}, {"eppn": "no-scope"},
                   {"status": "zombie"}, {"password_hash": "plain"}):
        with pytest.raises(InvalidAccount):
            directory.create(make("u1", "a@example.org", **fields))
    assert directory.count() == 0


def test_update_missing_account(directory):
    with pytest.raises(AccountNotFound):
        directory.disable("ghost")


def test_password_activates_provisioned_not_disabled(directory):
    directory.create(make("u1", "a@example.org"))
    assert directory.set_password_hash("u1", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA").status == "active"
    directory.disable("u1")
    assert directory.set_password_hash("u1", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA").status == "disabled"


def test_the_last_checks_writes_are_its_known_commands_only(directory, redis_client):
    """``holds_password`` sends no command name it does not know (a value is never a command): one
    outside its list is refused before anything is sent, and the writes before it are not made."""
    password_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"
    directory.create(make("u1", "a@example.org"))
    directory.set_password_hash("u1", password_hash)
    redis_client.set("gw:throttle:account:u1", "3")
    for command in ("FLUSHALL", "del", "EVAL"):
        with pytest.raises(ValueError):
            directory.holds_password("u1", password_hash, then=[("DEL", "gw:throttle:account:u1"),
                                                                (command, "gw:session:x", "0")])
        assert redis_client.get("gw:throttle:account:u1") == "3" and directory.get("u1") is not None
    assert directory.holds_password("u1", password_hash, then=[("DEL", "gw:throttle:account:u1")])
    assert not redis_client.exists("gw:throttle:account:u1")


def test_threads_racing_for_one_address_one_wins(redis_client):
    """Eight writers create different accounts with the same address at once: exactly one wins."""
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def racer(n: int) -> None:
        directory = Directory(Store(redis_client))
        barrier.wait()
        try:
            directory.create(make(f"racer{n}", "contested@example.org", f"own{n}@example.org"))
            outcomes.append("won")
        except AddressTaken:
            outcomes.append("conflict")

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    directory = Directory(Store(redis_client))
    winner = directory.find_by_email("contested@example.org")
    assert directory.count() == 1
    assert directory.find_by_email(f"own{winner.id.removeprefix('racer')}@example.org").id == winner.id


def test_threads_adding_the_same_address_to_two_accounts(redis_client):
    directory = Directory(Store(redis_client))
    for n in range(6):
        directory.create(make(f"u{n}", f"u{n}@example.org"))
    barrier = threading.Barrier(6)
    wins: list[str] = []

    def racer(n: int) -> None:
        barrier.wait()
        try:
            Directory(Store(redis_client)).add_email(f"u{n}", "new@example.org")
            wins.append(f"u{n}")
        except AddressTaken:
            pass

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert directory.find_by_email("new@example.org").id == wins[0]
    owners = [n for n in range(6) if "new@example.org" in directory.get(f"u{n}").addresses]
    assert owners == [int(wins[0][1:])]


def test_concurrent_updates_lose_nothing(redis_client):
    """Twenty threads each add their own address to one account: all twenty are kept."""
    directory = Directory(Store(redis_client))
    directory.create(make("u1", "base@example.org"))

    def add(n: int) -> None:
        Directory(Store(redis_client)).add_email("u1", f"extra{n}@example.org")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    account = directory.get("u1")
    assert len(account.addresses) == 21
    assert all(directory.find_by_email(f"extra{n}@example.org").id == "u1" for n in range(20))


def test_iter_accounts_in_creation_order(directory):
    for n in range(7):
        directory.create(make(f"u{n}", f"u{n}@example.org"))
    assert [a.id for a in directory.iter_accounts(batch=3)] == [f"u{n}" for n in range(7)]


def test_unchanged_update_does_not_bump_version(directory):
    created = directory.create(make("u1", "a@example.org"))
    same = directory.update("u1", lambda a: dataclasses.replace(a))
    assert same.version == created.version


SP = "https://sp.example.org/shibboleth"


def test_persistent_ids_are_restored_with_the_account_or_not_at_all(directory, redis_client):
    """The write checks stored identifiers itself, atomically: a conflict writes nothing at all."""
    redis_client.hset("gw:saml:persistent-id:u1", SP, "made-before")  # e.g. the IdP was faster
    with pytest.raises(PersistentIdConflict) as info:
        directory.create(make("u1", "a@example.org"), {SP: "other", "https://b": "b-1"})
    assert info.value.sp_entity_id == SP
    assert directory.get("u1") is None and directory.owner_of("a@example.org") is None
    assert directory.persistent_ids("u1") == {SP: "made-before"}

    created = directory.create(make("u1", "a@example.org"), {SP: "made-before", "https://b": "b-1"})
    assert directory.persistent_ids("u1") == {SP: "made-before", "https://b": "b-1"}
    rename = lambda a: dataclasses.replace(a, given_name="X")  # noqa: E731
    with pytest.raises(PersistentIdConflict):
        directory.update("u1", rename, {"https://b": "b-2", "https://c": "c-1"})
    assert directory.get("u1") == created and "https://c" not in directory.persistent_ids("u1")


def test_persistent_ids_alone_leave_the_account_as_it_is(directory):
    created = directory.create(make("u1", "a@example.org"))
    assert directory.update("u1", lambda a: a, {SP: "p-1"}) == created
    assert directory.get("u1") == created and directory.persistent_ids("u1") == {SP: "p-1"}


def test_iter_with_persistent_ids(directory):
    directory.create(make("u1", "a@example.org"), {SP: "p-1"})
    directory.create(make("u2", "b@example.org"))
    pairs = [(a.id, ids) for a, ids in directory.iter_with_persistent_ids(batch=1)]
    assert pairs == [("u1", {SP: "p-1"}), ("u2", {})]
