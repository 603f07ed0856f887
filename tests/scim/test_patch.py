"""PATCH /Users/{id} (RFC 7644 §3.5.2): every supported path form, and the failures."""
from __future__ import annotations

import pytest

from tests.scim.conftest import EXT, SCIM_JSON, assert_error, patch

AFFILIATIONS = f"{EXT}:affiliations"


@pytest.fixture
def jean(scim, directory):
    created = scim.create(
        "jean@univ-exemple.fr", emails=["perso@gmail.com"],
        name={"givenName": "Jean", "familyName": "Dupont"}, displayName="Jean Dupont",
        ext={"affiliations": ["student"],
             "legacyIds": [{"serviceProvider": "https://a.example", "value": "1"},
                           {"serviceProvider": "https://b.example", "value": "2"}]},
    )
    directory.verify_email(created["id"], "perso@gmail.com")
    return created["id"]


@pytest.fixture
def apply(scim, jean):
    """PATCH the fixture account; return its resource after a 200."""

    def run(*operations):
        response = scim.patch(f"/Users/{jean}", patch(*operations))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == SCIM_JSON
        assert response.headers["ETag"] == response.get_json()["meta"]["version"]
        return response.get_json()

    return run


def addresses(resource) -> list[tuple[str, bool]]:
    return [(e["value"], e["primary"]) for e in resource["emails"]]


# -- simple and complex attributes -------------------------------------------------

def test_replace_display_name(apply, directory, jean):
    assert apply({"op": "replace", "path": "displayName", "value": "J. D."})["displayName"] == "J. D."
    assert directory.get(jean).display_name == "J. D."
    assert "displayName" not in apply({"op": "remove", "path": "displayName"})


def test_name_sub_attributes(apply, directory, jean):
    resource = apply({"op": "replace", "path": "name.givenName", "value": "Jeanne"},
                     {"op": "remove", "path": "name.familyName"})
    assert resource["name"] == {"givenName": "Jeanne"}
    resource = apply({"op": "add", "path": "name.familyName", "value": "Martin"})
    assert resource["name"] == {"givenName": "Jeanne", "familyName": "Martin"}
    assert directory.get(jean).family_name == "Martin"


def test_name_as_a_complex_value_merges(apply):
    resource = apply({"op": "replace", "path": "name", "value": {"familyName": "Martin"}})
    assert resource["name"] == {"givenName": "Jean", "familyName": "Martin"}
    resource = apply({"op": "replace", "path": "name", "value": {"givenName": None}})
    assert resource["name"] == {"familyName": "Martin"}
    assert "name" not in apply({"op": "remove", "path": "name"})


def test_ops_and_member_names_are_case_insensitive(scim, directory, jean):
    body = {"SCHEMAS": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "operations": [{"OP": "Replace", "Path": "DISPLAYNAME", "Value": "X"},
                           {"op": "ADD", "path": "Name.GivenName", "value": "Y"}]}
    assert scim.patch(f"/Users/{jean}", body).status_code == 200
    account = directory.get(jean)
    assert (account.display_name, account.given_name) == ("X", "Y")


def test_no_path_value_holds_attribute_paths(apply):
    resource = apply({"op": "replace", "value": {"displayName": "Sans chemin", "name.familyName": "Durand",
                                                 AFFILIATIONS: ["staff"]}})
    assert resource["displayName"] == "Sans chemin"
    assert resource["name"]["familyName"] == "Durand"
    assert resource[EXT]["affiliations"] == ["staff"]


# -- active --------------------------------------------------------------------------

def test_active_false_disables_then_true_re_enables(apply, directory, jean, audit_records):
    resource = apply({"op": "replace", "path": "active", "value": False})
    assert resource["active"] is False
    assert directory.get(jean).status == "disabled"
    assert audit_records[-1].getMessage() == "account.disabled"
    assert audit_records[-1].service == "cockpit"
    resource = apply({"op": "replace", "value": {"active": True}})
    assert resource["active"] is True
    assert directory.get(jean).status == "provisioned"


def test_re_enable_with_password_is_active(apply, directory, jean, app):
    directory.set_password_hash(jean, app.extensions["gateway.passwords"].hash("un mot de passe long"))
    apply({"op": "replace", "path": "active", "value": False})
    apply({"op": "replace", "path": "active", "value": True})
    assert directory.get(jean).status == "active"


# -- userName and emails ---------------------------------------------------------------

def test_replace_user_name_makes_it_the_primary_address(apply, directory, jean):
    resource = apply({"op": "replace", "path": "userName", "value": "Jean.Martin@Univ-Exemple.fr"})
    assert resource["userName"] == "jean.martin@univ-exemple.fr"
    assert addresses(resource) == [("jean.martin@univ-exemple.fr", True), ("jean@univ-exemple.fr", False),
                                   ("perso@gmail.com", False)]
    assert directory.find_by_email("jean.martin@univ-exemple.fr").id == jean
    resource = apply({"op": "replace", "path": "userName", "value": "perso@gmail.com"})
    assert addresses(resource)[0] == ("perso@gmail.com", True)
    assert len(resource["emails"]) == 3


def test_add_an_address(apply, directory, jean):
    new = {"value": "Nouvelle@Univ-Exemple.fr", "type": "work"}
    resource = apply({"op": "add", "path": "emails", "value": [new]})
    assert addresses(resource)[-1] == ("nouvelle@univ-exemple.fr", False)
    assert resource["userName"] == "jean@univ-exemple.fr"
    account = directory.find_by_email("nouvelle@univ-exemple.fr")
    assert account.id == jean
    assert account.email("nouvelle@univ-exemple.fr").verified is False
    assert account.email("perso@gmail.com").verified is True


def test_add_an_existing_address_is_idempotent(apply, directory, jean):
    version = directory.get(jean).version
    resource = apply({"op": "add", "path": "emails", "value": [{"value": "PERSO@gmail.com"}]})
    assert len(resource["emails"]) == 2
    assert directory.get(jean).version == version


def test_add_a_primary_address_changes_user_name(apply):
    new = {"value": "new@univ-exemple.fr", "primary": True}
    resource = apply({"op": "add", "path": "emails", "value": [new]})
    assert resource["userName"] == "new@univ-exemple.fr"
    assert addresses(resource)[0] == ("new@univ-exemple.fr", True)
    assert sum(e["primary"] for e in resource["emails"]) == 1


def test_replace_all_addresses(apply, directory, jean):
    resource = apply({"op": "replace", "path": "emails",
                      "value": [{"value": "perso@gmail.com"}, {"value": "autre@univ-exemple.fr"}]})
    assert addresses(resource) == [("perso@gmail.com", True), ("autre@univ-exemple.fr", False)]
    assert directory.find_by_email("jean@univ-exemple.fr") is None
    assert directory.get(jean).email("perso@gmail.com").verified is True


def test_remove_one_address_by_filter(apply, directory, jean):
    resource = apply({"op": "remove", "path": 'emails[value eq "perso@gmail.com"]'})
    assert addresses(resource) == [("jean@univ-exemple.fr", True)]
    assert directory.find_by_email("perso@gmail.com") is None


def test_remove_the_primary_address_promotes_the_next(apply, directory, jean):
    resource = apply({"op": "remove", "path": 'emails[value eq "JEAN@univ-exemple.fr"]'})
    assert resource["userName"] == "perso@gmail.com"
    assert addresses(resource) == [("perso@gmail.com", True)]
    assert directory.find_by_email("jean@univ-exemple.fr") is None


def test_set_primary_through_the_filter(apply, directory, jean):
    resource = apply({"op": "replace", "path": 'emails[value eq "perso@gmail.com"].primary', "value": True})
    assert resource["userName"] == "perso@gmail.com"
    assert addresses(resource) == [("perso@gmail.com", True), ("jean@univ-exemple.fr", False)]
    assert directory.get(jean).primary_email == "perso@gmail.com"


def test_replace_an_address_through_the_filter(apply, directory, jean):
    resource = apply({"op": "replace", "path": 'emails[value eq "perso@gmail.com"].value',
                      "value": "perso2@gmail.com"})
    assert addresses(resource) == [("jean@univ-exemple.fr", True), ("perso2@gmail.com", False)]
    resource = apply({"op": "replace", "path": 'emails[value eq "perso2@gmail.com"]',
                      "value": {"value": "perso3@gmail.com", "type": "work"}})
    assert [e["value"] for e in resource["emails"]] == ["jean@univ-exemple.fr", "perso3@gmail.com"]
    assert directory.find_by_email("perso3@gmail.com").id == jean
    assert directory.find_by_email("perso2@gmail.com") is None


def test_remove_listed_values(apply):
    resource = apply({"op": "remove", "path": "emails", "value": [{"value": "perso@gmail.com"}]})
    assert addresses(resource) == [("jean@univ-exemple.fr", True)]


# -- the extension -----------------------------------------------------------------------

def test_extension_attribute_by_urn_path(apply, directory, jean):
    resource = apply({"op": "add", "path": AFFILIATIONS, "value": ["member", "Student"]})
    assert resource[EXT]["affiliations"] == ["student", "member"]
    resource = apply({"op": "replace", "path": AFFILIATIONS, "value": ["staff"]})
    assert resource[EXT]["affiliations"] == ["staff"]
    resource = apply({"op": "remove", "path": AFFILIATIONS})
    assert "affiliations" not in resource[EXT]
    resource = apply({"op": "replace", "path": f"{EXT}:establishment", "value": "{UAI}0751717J"})
    assert directory.get(jean).establishment == "{UAI}0751717J"


def test_legacy_ids(apply, directory, jean):
    resource = apply({"op": "add", "path": f"{EXT}:legacyIds",
                      "value": [{"serviceProvider": "https://b.example", "value": "20"},
                                {"serviceProvider": "https://c.example", "value": "3"}]})
    assert directory.get(jean).legacy_ids == {"https://a.example": "1", "https://b.example": "20",
                                             "https://c.example": "3"}
    resource = apply({"op": "remove", "path": f'{EXT}:legacyIds[serviceProvider eq "https://a.example"]'})
    assert [i["serviceProvider"] for i in resource[EXT]["legacyIds"]] == [
        "https://b.example", "https://c.example"]
    path = f'{EXT}:legacyIds[serviceProvider eq "https://c.example"].value'
    apply({"op": "replace", "path": path, "value": "30"})
    assert directory.get(jean).legacy_ids["https://c.example"] == "30"


def test_extension_as_a_whole(apply, directory, jean):
    apply({"op": "replace", "path": EXT,
           "value": {"eppn": "jean@univ-exemple.fr", "affiliations": ["faculty"]}})
    account = directory.get(jean)
    assert (account.eppn, account.affiliations) == ("jean@univ-exemple.fr", ("faculty",))
    apply({"op": "add", "value": {EXT: {"establishment": "{UAI}0751717J"}}})
    assert directory.get(jean).establishment == "{UAI}0751717J"
    assert directory.get(jean).eppn == "jean@univ-exemple.fr"


# -- failures ----------------------------------------------------------------------------------

def test_adding_another_accounts_address_is_409(scim, directory, jean):
    scim.create("autre@univ-exemple.fr")
    version = directory.get(jean).version
    response = scim.patch(f"/Users/{jean}", patch({"op": "add", "path": "emails",
                                                   "value": [{"value": "autre@univ-exemple.fr"}]}))
    assert_error(response, 409, "uniqueness", "autre@univ-exemple.fr")
    assert directory.get(jean).version == version


@pytest.mark.parametrize(("operation", "scim_type", "detail"), [
    ({"op": "remove"}, "noTarget", "path"),
    ({"op": "remove", "path": 'emails[value eq "nobody@x.fr"]'}, "noTarget", "emails"),
    ({"op": "replace", "path": 'emails[value eq "nobody@x.fr"].primary', "value": True},
     "noTarget", "emails"),
    ({"op": "replace", "path": "nickName", "value": "JJ"}, "invalidPath", "nickName"),
    ({"op": "replace", "path": "name.middleName", "value": "P"}, "invalidPath", "middleName"),
    ({"op": "replace", "path": "emails.primary", "value": True}, "invalidPath", "emails"),
    ({"op": "replace", "path": "displayName[value eq \"x\"]", "value": "y"}, "invalidPath", "filter"),
    ({"op": "replace", "path": "urn:example:other:User:x", "value": 1}, "invalidPath", "schema"),
    ({"op": "replace", "path": "emails[value eq]", "value": 1}, "invalidFilter", "emails"),
    ({"op": "replace", "path": "name..givenName", "value": "x"}, "invalidPath", ""),
    ({"op": "replace", "path": "id", "value": "other-id"}, "mutability", "id"),
    ({"op": "remove", "path": "id"}, "mutability", "id"),
    ({"op": "replace", "path": "meta.version", "value": "x"}, "mutability", "meta"),
    ({"op": "replace", "path": f"{EXT}:status", "value": "active"}, "mutability", "status"),
    ({"op": "add", "path": f"{EXT}:verifiedEmails", "value": ["jean@univ-exemple.fr"]},
     "mutability", "verified"),
    ({"op": "replace", "path": AFFILIATIONS, "value": ["wizard"]}, "invalidValue", "affiliations"),
    ({"op": "add", "path": "emails", "value": [{"value": "pas une adresse"}]}, "invalidValue", "emails"),
    ({"op": "replace", "path": "userName", "value": "pas une adresse"}, "invalidValue", "userName"),
    ({"op": "remove", "path": "userName"}, "invalidValue", "userName"),
    ({"op": "remove", "path": "emails"}, "invalidValue", "emails"),
    ({"op": "replace", "path": "active", "value": "false"}, "invalidValue", "active"),
    ({"op": "replace"}, "invalidValue", "value"),
    ({"op": "replace", "path": "displayName"}, "invalidValue", "value"),
    ({"op": "move", "path": "displayName", "value": "x"}, "invalidSyntax", "op"),
    ({"op": "add", "path": "displayName", "value": "x", "from": "y"}, "invalidSyntax", "from"),
    ({"op": "add", "path": "emails", "value": [{"value": "a@b.fr", "label": "x"}]}, "invalidSyntax", "label"),
])
def test_bad_operations_are_400(scim, directory, jean, operation, scim_type, detail):
    version = directory.get(jean).version
    response = scim.patch(f"/Users/{jean}", patch(operation))
    assert_error(response, 400, scim_type, detail)
    assert directory.get(jean).version == version


def test_replacing_id_with_its_own_value_is_allowed(apply, jean):
    assert apply({"op": "replace", "path": "id", "value": jean})["id"] == jean


def test_one_bad_operation_leaves_the_account_untouched(scim, directory, jean):
    before = directory.get(jean)
    response = scim.patch(f"/Users/{jean}", patch({"op": "replace", "path": "displayName", "value": "X"},
                                                  {"op": "replace", "path": "nickName", "value": "JJ"}))
    assert_error(response, 400, "invalidPath")
    assert directory.get(jean) == before


@pytest.mark.parametrize(("body", "detail"), [
    ({"Operations": [{"op": "remove", "path": "displayName"}]}, "schemas"),
    ({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": []}, "schemas"),
    (patch(), "Operations"),
    ({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": "remove"}, "Operations"),
    (patch("remove displayName"), "operation"),
    ([], "PatchOp"),
])
def test_malformed_patch_messages_are_400_invalid_syntax(scim, jean, body, detail):
    assert_error(scim.patch(f"/Users/{jean}", body), 400, "invalidSyntax", detail)


def test_patch_malformed_json_is_400(scim, jean):
    assert_error(scim.patch(f"/Users/{jean}", raw=b'{"Operations": [}'), 400, "invalidSyntax")


def test_patch_unknown_user_is_404(scim):
    assert_error(scim.patch("/Users/nobody", patch({"op": "remove", "path": "displayName"})), 404)


def test_patch_if_match(scim, directory, jean):
    operation = patch({"op": "replace", "path": "displayName", "value": "X"})
    assert_error(scim.patch(f"/Users/{jean}", operation, headers={"If-Match": 'W/"1"'}), 412)
    version = directory.get(jean).version
    response = scim.patch(f"/Users/{jean}", operation, headers={"If-Match": f'W/"{version}"'})
    assert response.status_code == 200
