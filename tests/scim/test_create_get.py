"""POST /Users and GET /Users/{id} (RFC 7644 §3.3, §3.4.1), and what a bad body gets."""
from __future__ import annotations

import json

import pytest

from tests.scim.conftest import CORE, EXT, SCIM_JSON, assert_error, user

BASE = "http://127.0.0.1:8000/scim/v2"


def test_create_returns_the_resource(scim, directory):
    body = user(
        "Jean.Dupont@Univ-Exemple.FR",
        emails=["jean.dupont@univ-exemple.fr", "jdupont@gmail.com"],
        name={"givenName": "Jean", "familyName": "Dupont"},
        displayName="Jean Dupont",
        ext={"affiliations": ["student", "Member"], "establishment": "{UAI}0751717J",
             "eppn": "jdupont@univ-exemple.fr",
             "legacyIds": [{"serviceProvider": "https://moodle.uness.fr/sp", "value": "u-42"}]},
    )
    response = scim.post("/Users", body)
    assert response.status_code == 201
    assert response.mimetype == SCIM_JSON
    created = response.get_json()
    account_id = created["id"]
    assert response.headers["Location"] == f"{BASE}/Users/{account_id}"
    assert response.headers["ETag"] == 'W/"1"'
    assert created["schemas"] == [CORE, EXT]
    assert created["userName"] == "jean.dupont@univ-exemple.fr"
    assert created["name"] == {"givenName": "Jean", "familyName": "Dupont"}
    assert created["displayName"] == "Jean Dupont"
    assert created["emails"] == [
        {"value": "jean.dupont@univ-exemple.fr", "type": "work", "primary": True},
        {"value": "jdupont@gmail.com", "type": "work", "primary": False},
    ]
    assert created["active"] is True
    assert created[EXT] == {
        "affiliations": ["student", "member"],
        "establishment": "{UAI}0751717J",
        "eppn": "jdupont@univ-exemple.fr",
        "legacyIds": [{"serviceProvider": "https://moodle.uness.fr/sp", "value": "u-42"}],
        "status": "provisioned",
    }
    meta = created["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"{BASE}/Users/{account_id}"
    assert meta["version"] == 'W/"1"'
    assert meta["created"].endswith("Z") and meta["lastModified"] == meta["created"]
    assert "password" not in json.dumps(created).lower()
    account = directory.find_by_email("jdupont@gmail.com")
    assert account.id == account_id
    assert account.status == "provisioned"
    assert account.legacy_ids == {"https://moodle.uness.fr/sp": "u-42"}


def test_get_returns_the_same_resource(scim):
    created = scim.create("jean@univ-exemple.fr")
    response = scim.get(f"/Users/{created['id']}")
    assert response.status_code == 200
    assert response.mimetype == SCIM_JSON
    assert response.headers["ETag"] == 'W/"1"'
    assert response.get_json() == created


def test_conditional_get(scim):
    created = scim.create("jean@univ-exemple.fr")
    response = scim.get(f"/Users/{created['id']}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304
    assert scim.get(f"/Users/{created['id']}", headers={"If-None-Match": 'W/"0"'}).status_code == 200


def test_location_ignores_the_host_header(scim):
    response = scim.post("/Users", user("jean@univ-exemple.fr"), headers={"Host": "evil.example"})
    assert response.headers["Location"].startswith(f"{BASE}/Users/")
    assert response.get_json()["meta"]["location"].startswith(BASE)


def test_user_name_missing_from_emails_is_added_as_primary(scim, directory):
    created = scim.create("jean@univ-exemple.fr", emails=["perso@gmail.com"])
    assert created["userName"] == "jean@univ-exemple.fr"
    assert [(e["value"], e["primary"]) for e in created["emails"]] == [
        ("jean@univ-exemple.fr", True), ("perso@gmail.com", False)]
    assert directory.get(created["id"]).primary_email == "jean@univ-exemple.fr"


def test_user_name_decides_the_primary_address(scim):
    body = user("jean@univ-exemple.fr")
    body["emails"] = [{"value": "perso@gmail.com", "primary": True}, {"value": "Jean@Univ-Exemple.fr"}]
    created = scim.post("/Users", body).get_json()
    assert [e["value"] for e in created["emails"]] == ["jean@univ-exemple.fr", "perso@gmail.com"]


def test_new_addresses_are_unverified(scim, directory):
    body = user("jean@univ-exemple.fr", ext={"verifiedEmails": ["jean@univ-exemple.fr"], "status": "active"})
    created = scim.post("/Users", body).get_json()
    assert "verifiedEmails" not in created[EXT]  # readOnly: ignored
    assert created[EXT]["status"] == "provisioned"
    assert directory.get(created["id"]).verified_addresses == ()


def test_create_inactive(scim, directory):
    created = scim.create("jean@univ-exemple.fr", active=False)
    assert created["active"] is False
    assert directory.get(created["id"]).status == "disabled"


def test_attribute_names_are_case_insensitive(scim):
    body = {"SCHEMAS": [CORE, EXT], "USERNAME": "jean@univ-exemple.fr", "Name": {"GivenName": "Jean"},
            "Emails": [{"Value": "perso@gmail.com", "Primary": False}],
            EXT.upper(): {"Affiliations": ["staff"]}}
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert created["name"] == {"givenName": "Jean"}
    assert len(created["emails"]) == 2
    assert created[EXT]["affiliations"] == ["staff"]


def test_get_unknown_is_404(scim):
    assert_error(scim.get("/Users/00000000-0000-0000-0000-000000000000"), 404)
    assert_error(scim.get("/Users/not:a:valid:id"), 404)


def test_taken_address_is_409_uniqueness(scim, directory):
    first = scim.create("jean@univ-exemple.fr")
    response = scim.post("/Users", user("autre@univ-exemple.fr", emails=["JEAN@univ-exemple.fr"]))
    body = assert_error(response, 409, "uniqueness", "jean@univ-exemple.fr")
    assert first["id"] not in body["detail"]  # the owner is not disclosed
    assert directory.count() == 1
    assert directory.find_by_email("autre@univ-exemple.fr") is None


def test_id_is_read_only(scim):
    body = user("jean@univ-exemple.fr", id="my-own-id")
    assert_error(scim.post("/Users", body), 400, "mutability", "id")


@pytest.mark.parametrize(("body", "detail"), [
    (user("not-an-address"), "userName"),
    (user("jean@univ-exemple.fr", emails=["pas une adresse"]), "emails"),
    (user("jean@univ-exemple.fr", ext={"affiliations": ["wizard"]}), "affiliations"),
    (user("jean@univ-exemple.fr", ext={"affiliations": "student"}), "affiliations"),
    (user("jean@univ-exemple.fr", ext={"establishment": "0751717J"}), "establishment"),
    (user("jean@univ-exemple.fr", ext={"eppn": "no-scope"}), "eppn"),
    (user("jean@univ-exemple.fr", ext={"legacyIds": [{"serviceProvider": "sp"}]}), "legacyIds"),
    (user("jean@univ-exemple.fr", ext={"legacyIds": [{"serviceProvider": "sp", "value": "1"},
                                                     {"serviceProvider": "sp", "value": "2"}]}), "legacyIds"),
    (user("jean@univ-exemple.fr", displayName=42), "displayName"),
    (user("jean@univ-exemple.fr", name={"givenName": "x" * 300}), "name.givenName"),
    # what XML cannot carry (a SAML Assertion could not be sent), a lone surrogate (no UTF-8 to store)
    (user("jean@univ-exemple.fr", displayName="Jean\ufffe"), "displayName"),
    (user("jean@univ-exemple.fr", name={"familyName": "Dupont\ud800"}), "name.familyName"),
    (user("jean@univ-exemple.fr", ext={"eppn": "jean\uffff@univ-exemple.fr"}), "eppn"),
    (user("jean@univ-exemple.fr", name="Jean"), "name"),
    (user("jean@univ-exemple.fr", active="yes"), "active"),
    (user("jean@univ-exemple.fr", emails="jean@univ-exemple.fr"), "emails"),
    ({"schemas": [CORE], "displayName": "Jean"}, "userName"),
    ({"schemas": [CORE], "userName": 42}, "userName"),
])
def test_invalid_values_are_400_naming_the_field(scim, directory, body, detail):
    assert_error(scim.post("/Users", body), 400, "invalidValue", detail)
    assert directory.count() == 0


@pytest.mark.parametrize(("body", "detail"), [
    ({"userName": "jean@univ-exemple.fr"}, "schemas"),
    ({"schemas": "nope", "userName": "jean@univ-exemple.fr"}, "schemas"),
    ({"schemas": [EXT], "userName": "jean@univ-exemple.fr"}, "schemas"),
    (user("jean@univ-exemple.fr", password="Tr0ub4dor&3-long"), "password"),
    (user("jean@univ-exemple.fr", externalId="42"), "externalId"),
    (user("jean@univ-exemple.fr", ext={"shoeSize": 42}), "shoeSize"),
    (user("jean@univ-exemple.fr", name={"middleName": "Paul"}), "middleName"),
    ([user("jean@univ-exemple.fr")], "object"),
    ("jean@univ-exemple.fr", "object"),
])
def test_bodies_off_the_schema_are_400_invalid_syntax(scim, body, detail):
    assert_error(scim.post("/Users", body), 400, "invalidSyntax", detail)


@pytest.mark.parametrize("raw", [
    b'{"schemas": [', b"", b"not json", b"\xff\xfe{}", b"[" * 10_000, b"{'a': 1}",
])
def test_malformed_json_is_400_invalid_syntax(scim, raw):
    assert_error(scim.post("/Users", raw=raw), 400, "invalidSyntax")


def test_plain_application_json_is_accepted(scim):
    raw = json.dumps(user("jean@univ-exemple.fr"))
    response = scim.post("/Users", raw=raw, content_type="application/json")
    assert response.status_code == 201


def test_other_media_types_are_415(scim):
    response = scim.post("/Users", raw="userName=jean@univ-exemple.fr",
                         content_type="application/x-www-form-urlencoded")
    assert_error(response, 415)


def test_too_large_body_is_413(scim, directory):
    body = user("jean@univ-exemple.fr", displayName="x" * 70_000)
    assert_error(scim.post("/Users", body), 413)
    assert directory.count() == 0
