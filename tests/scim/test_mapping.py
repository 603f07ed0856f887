"""The pure mapping: Account <-> User resource, and PATCH on a resource dict."""
from __future__ import annotations

import pytest

from gateway.accounts.models import Account, Email
from gateway.scim.patch import apply_operations, parse_operations, parse_path
from gateway.scim.problems import ScimProblem
from gateway.scim.resources import to_account, to_resource
from gateway.scim.schema import CORE, EXTENSION
from tests.scim.conftest import patch

BASE = "https://gateway.uness.fr/scim/v2"

ACCOUNT = Account(
    id="a-1",
    emails=(Email("jean@univ-exemple.fr", True), Email("perso@gmail.com")),
    given_name="Jean", family_name="Dupont", display_name="Jean Dupont",
    affiliations=("student", "member"), establishment="{UAI}0751717J", eppn="jean@univ-exemple.fr",
    legacy_ids={"https://b.example": "2", "https://a.example": "1"},
    status="active", password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
    created_at="2024-01-02T03:04:05Z", updated_at="2024-02-03T04:05:06Z", version=3,
)


def test_to_resource():
    resource = to_resource(ACCOUNT, BASE)
    assert resource["meta"] == {
        "resourceType": "User", "created": "2024-01-02T03:04:05Z", "lastModified": "2024-02-03T04:05:06Z",
        "location": f"{BASE}/Users/a-1", "version": 'W/"3"',
    }
    assert resource[EXTENSION] == {
        "affiliations": ["student", "member"], "establishment": "{UAI}0751717J",
        "eppn": "jean@univ-exemple.fr",
        "legacyIds": [{"serviceProvider": "https://a.example", "value": "1"},
                      {"serviceProvider": "https://b.example", "value": "2"}],
        "status": "active", "verifiedEmails": ["jean@univ-exemple.fr"],
    }
    assert "argon2" not in repr(resource)


def test_round_trip_is_identity():
    assert to_account(to_resource(ACCOUNT, BASE), ACCOUNT, ACCOUNT.id) == ACCOUNT


def test_empty_patch_result_is_identity():
    operation = {"op": "add", "path": "emails", "value": [{"value": "perso@gmail.com"}]}
    operations = parse_operations(patch(operation))
    patched = apply_operations(to_resource(ACCOUNT, BASE), operations)
    assert to_account(patched, ACCOUNT, ACCOUNT.id) == ACCOUNT


def test_apply_operations_does_not_touch_its_input():
    resource = to_resource(ACCOUNT, BASE)
    snapshot = repr(resource)
    operations = parse_operations(patch({"op": "remove", "path": 'emails[value eq "perso@gmail.com"]'},
                                        {"op": "replace", "path": "name.givenName", "value": "X"}))
    apply_operations(resource, operations)
    assert repr(resource) == snapshot


def test_new_account_defaults():
    account = to_account({"schemas": [CORE], "userName": "A@B.fr"}, None, "new-id")
    assert (account.id, account.addresses, account.status, account.password_hash) == ("new-id", ("a@b.fr",),
                                                                                     "provisioned", "")


@pytest.mark.parametrize(("path", "expected"), [
    ("userName", (CORE, "userName", None, None)),
    ("NAME.givenname", (CORE, "name", "givenName", None)),
    ('emails[value eq "x@y.fr"].primary', (CORE, "emails", "primary", ("value", "x@y.fr"))),
    (f"{CORE}:displayName", (CORE, "displayName", None, None)),
    (f"{EXTENSION}:affiliations", (EXTENSION, "affiliations", None, None)),
    (f"{EXTENSION.upper()}:EPPN", (EXTENSION, "eppn", None, None)),
    (EXTENSION, (EXTENSION, None, None, None)),
])
def test_parse_path(path, expected):
    target = parse_path(path)
    match = (target.match[0].name, target.match[1]) if target.match else None
    found = (target.schema, target.attr and target.attr.name, target.sub and target.sub.name, match)
    assert found == expected


@pytest.mark.parametrize("path", ["", "1abc", "emails[value eq \"x\"", CORE, "urn:x:y", "name.givenName.x"])
def test_parse_path_refuses(path):
    with pytest.raises(ScimProblem) as caught:
        parse_path(path)
    assert caught.value.status == 400
