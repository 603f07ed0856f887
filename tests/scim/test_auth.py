"""Bearer-token authentication of /scim/v2 (RFC 7644 §2, RFC 6750 §3)."""
from __future__ import annotations

import pytest

from gateway.bearer import bearer_token, service_for
from tests.scim.conftest import COCKPIT_TOKEN, OTHER_TOKEN, SCIM_JSON, Scim, assert_error, user

ENDPOINTS = [
    ("GET", "/Users"), ("POST", "/Users"), ("GET", "/Users/x"), ("PUT", "/Users/x"),
    ("PATCH", "/Users/x"), ("DELETE", "/Users/x"), ("GET", "/ServiceProviderConfig"),
    ("GET", "/ResourceTypes"), ("GET", "/Schemas"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_is_401_with_challenge(client, method, path):
    response = client.open("/scim/v2" + path, method=method)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="scim"'
    assert response.mimetype == SCIM_JSON


@pytest.mark.parametrize("header", [
    "Bearer wrong-token",
    f"Bearer {COCKPIT_TOKEN}x",
    f"Bearer {COCKPIT_TOKEN[:-1]}",
    f"Basic {COCKPIT_TOKEN}",
    COCKPIT_TOKEN,
    "Bearer ",
    "Bearer jéton-non-ascii",
])
def test_wrong_token_is_401(client, header):
    response = client.get("/scim/v2/Users", headers={"Authorization": header})
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="scim"'


def test_wrong_token_writes_nothing(client, directory):
    response = Scim(client, "nope").post("/Users", user("jean@univ-exemple.fr"))
    assert response.status_code == 401
    assert directory.count() == 0


def test_scheme_is_case_insensitive(client):
    response = client.get("/scim/v2/Users", headers={"Authorization": f"bearer {COCKPIT_TOKEN}"})
    assert response.status_code == 200


def test_each_service_token_works_and_is_audited_by_name(client, audit_records):
    for token, service in ((COCKPIT_TOKEN, "cockpit"), (OTHER_TOKEN, "other")):
        created = Scim(client, token).create(f"{service}@univ-exemple.fr")
        record = audit_records[-1]
        assert record.getMessage() == "account.created"
        assert record.service == service
        assert record.account_id == created["id"]


def test_denials_are_audited_without_the_token(client, audit_records):
    client.get("/scim/v2/Users", headers={"Authorization": "Bearer secret-guess-123"})
    client.get("/scim/v2/Users")
    denied = [r for r in audit_records if r.getMessage() == "scim.denied"]
    assert [r.reason for r in denied] == ["unknown token", "no bearer token"]
    for record in audit_records:
        assert "secret-guess-123" not in str(vars(record))


def test_no_audit_line_ever_holds_a_token(client, audit_records):
    scim = Scim(client)
    created = scim.create("jean@univ-exemple.fr")
    scim.delete(f"/Users/{created['id']}")
    assert audit_records
    for record in audit_records:
        assert COCKPIT_TOKEN not in str(vars(record))


def test_bearer_token_parsing():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("  BEARER   abc  ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None


def test_service_for_compares_every_token():
    tokens = {"a": "token-a", "b": "token-b", "empty": ""}
    assert service_for("token-a", tokens) == "a"
    assert service_for("token-b", tokens) == "b"
    assert service_for("token-c", tokens) is None
    assert service_for("", tokens) is None  # an empty configured token never matches
    assert service_for("token-a", {}) is None
