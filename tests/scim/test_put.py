"""PUT /Users/{id}: replace (RFC 7644 §3.5.1), ETags (§3.14)."""
from __future__ import annotations

import pytest

from tests.scim.conftest import CORE, EXT, SCIM_JSON, assert_error, user


@pytest.fixture
def jean(scim, directory):
    created = scim.create(
        "jean@univ-exemple.fr", emails=["perso@gmail.com", "old@univ-exemple.fr"],
        name={"givenName": "Jean", "familyName": "Dupont"}, displayName="Jean Dupont",
        ext={"affiliations": ["student"], "eppn": "jean@univ-exemple.fr",
             "legacyIds": [{"serviceProvider": "https://sp.example", "value": "7"}]},
    )
    directory.verify_email(created["id"], "perso@gmail.com")
    return directory.get(created["id"])


def test_put_replaces_the_address_list_keeping_verified_flags(scim, directory, jean):
    body = user("jean@univ-exemple.fr", emails=["perso@gmail.com", "nouvelle@univ-exemple.fr"])
    response = scim.put(f"/Users/{jean.id}", body)
    assert response.status_code == 200
    assert response.mimetype == SCIM_JSON
    resource = response.get_json()
    assert [e["value"] for e in resource["emails"]] == [
        "jean@univ-exemple.fr", "perso@gmail.com", "nouvelle@univ-exemple.fr"]
    assert resource[EXT]["verifiedEmails"] == ["perso@gmail.com"]
    account = directory.get(jean.id)
    assert account.email("perso@gmail.com").verified is True
    assert account.email("nouvelle@univ-exemple.fr").verified is False
    assert directory.find_by_email("nouvelle@univ-exemple.fr").id == jean.id
    assert directory.find_by_email("old@univ-exemple.fr") is None


def test_put_clears_absent_attributes_but_not_read_only_ones(scim, directory, jean):
    directory.set_password_hash(jean.id, "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")
    resource = scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr")).get_json()
    assert set(resource) == {"schemas", "id", "userName", "emails", "active", EXT, "meta"}
    assert resource[EXT] == {"status": "active"}  # no affiliations, eppn, legacyIds any more
    account = directory.get(jean.id)
    assert (account.given_name, account.display_name) == ("", "")
    assert (account.affiliations, account.legacy_ids) == ((), {})
    assert account.addresses == ("jean@univ-exemple.fr",)
    assert account.password_hash.startswith("$argon2")  # never touched by SCIM
    assert account.status == "active"  # 'active' absent: status kept


def test_put_ignores_read_only_values(scim, directory, jean):
    resource = scim.get(f"/Users/{jean.id}").get_json()
    resource[EXT]["status"] = "disabled"
    resource[EXT]["verifiedEmails"] = ["jean@univ-exemple.fr"]
    resource["meta"] = {"version": 'W/"999"', "created": "1970-01-01T00:00:00Z"}
    response = scim.put(f"/Users/{jean.id}", resource)
    assert response.status_code == 200
    account = directory.get(jean.id)
    assert account.status == "provisioned"
    assert account.verified_addresses == ("perso@gmail.com",)
    assert response.get_json()["meta"]["created"] == jean.created_at


def test_put_of_what_get_returned_changes_nothing(scim, jean, audit_records):
    resource = scim.get(f"/Users/{jean.id}").get_json()
    response = scim.put(f"/Users/{jean.id}", resource)
    assert response.status_code == 200
    assert response.get_json() == resource
    assert response.headers["ETag"] == resource["meta"]["version"]
    assert audit_records == []


def test_put_audits_the_change(scim, jean, audit_records):
    scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", displayName="J. Dupont"))
    (record,) = audit_records
    assert record.getMessage() == "account.updated"
    assert record.service == "cockpit"
    assert record.account_id == jean.id
    assert "display_name" in record.changed


def test_put_can_change_the_primary_address(scim, directory, jean):
    body = user("perso@gmail.com", emails=["jean@univ-exemple.fr"])
    resource = scim.put(f"/Users/{jean.id}", body).get_json()
    assert resource["userName"] == "perso@gmail.com"
    assert directory.get(jean.id).addresses == ("perso@gmail.com", "jean@univ-exemple.fr")


def test_put_with_another_accounts_address_is_409(scim, directory, jean):
    other = scim.create("autre@univ-exemple.fr")
    response = scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", emails=["autre@univ-exemple.fr"]))
    assert_error(response, 409, "uniqueness", "autre@univ-exemple.fr")
    assert directory.get(jean.id).version == jean.version
    assert directory.find_by_email("autre@univ-exemple.fr").id == other["id"]


def test_put_with_another_id_is_400_mutability(scim, directory, jean):
    response = scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", id="something-else"))
    assert_error(response, 400, "mutability", "id")
    assert scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", id=jean.id)).status_code == 200


def test_put_unknown_is_404(scim):
    assert_error(scim.put("/Users/no-such-id", user("jean@univ-exemple.fr")), 404)


@pytest.mark.parametrize(("body", "scim_type", "detail"), [
    (user("jean@univ-exemple.fr", ext={"affiliations": ["teacher"]}), "invalidValue", "affiliations"),
    (user("jean@univ-exemple.fr", emails=["jean@@x"]), "invalidValue", "emails"),
    ({"schemas": [CORE]}, "invalidValue", "userName"),
    ({"userName": "jean@univ-exemple.fr"}, "invalidSyntax", "schemas"),
])
def test_put_invalid_bodies_are_400(scim, directory, jean, body, scim_type, detail):
    assert_error(scim.put(f"/Users/{jean.id}", body), 400, scim_type, detail)
    assert directory.get(jean.id).version == jean.version


def test_put_malformed_json_is_400(scim, jean):
    assert_error(scim.put(f"/Users/{jean.id}", raw=b'{"userName": '), 400, "invalidSyntax")


def test_active_false_disables_and_true_re_enables(scim, directory, jean, audit_records):
    resource = scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", active=False)).get_json()
    assert resource["active"] is False
    assert resource[EXT]["status"] == "disabled"
    assert audit_records[-1].getMessage() == "account.disabled"
    resource = scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", active=True)).get_json()
    assert resource["active"] is True
    assert resource[EXT]["status"] == "provisioned"  # no password yet
    assert audit_records[-1].getMessage() == "account.updated"


def test_re_enabling_an_account_with_a_password_makes_it_active(scim, directory, jean, app):
    directory.set_password_hash(jean.id, app.extensions["gateway.passwords"].hash("un mot de passe long"))
    scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", active=False))
    assert directory.get(jean.id).status == "disabled"
    scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr", active=True))
    assert directory.get(jean.id).status == "active"


def test_if_match(scim, directory, jean):
    current = f'W/"{jean.version}"'
    stale = scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr"), headers={"If-Match": 'W/"1"'})
    assert_error(stale, 412)
    assert directory.get(jean.id).version == jean.version
    ok = scim.put(f"/Users/{jean.id}", user("jean@univ-exemple.fr"), headers={"If-Match": current})
    assert ok.status_code == 200
    assert ok.headers["ETag"] == f'W/"{jean.version + 1}"'
    assert ok.get_json()["meta"]["version"] == ok.headers["ETag"]
    body = user("jean@univ-exemple.fr", displayName="X")
    star = scim.put(f"/Users/{jean.id}", body, headers={"If-Match": "*"})
    assert star.status_code == 200
