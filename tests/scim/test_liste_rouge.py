"""ATT07: ``listeRouge`` of the gateway extension: POST, GET, PUT, PATCH, /Schemas."""
from __future__ import annotations

import pytest

from tests.scim.conftest import EXT, assert_error, patch, user


@pytest.fixture
def rouge(scim):
    return scim.create("rouge@univ-exemple.fr", ext={"listeRouge": True})["id"]


def test_att07_post_and_get(scim, directory, rouge):
    assert directory.get(rouge).liste_rouge
    assert scim.get(f"/Users/{rouge}").get_json()[EXT]["listeRouge"] is True
    other = scim.create("plain@univ-exemple.fr")
    assert "listeRouge" not in other[EXT] and not directory.get(other["id"]).liste_rouge


def test_att07_put_replaces_it(scim, directory, rouge):
    """Left out of a PUT, it is cleared like any readWrite attribute (RFC 7644 §3.5.1)."""
    resource = scim.get(f"/Users/{rouge}").get_json()
    assert scim.put(f"/Users/{rouge}", resource).status_code == 200
    assert directory.get(rouge).liste_rouge
    assert scim.put(f"/Users/{rouge}", user("rouge@univ-exemple.fr")).status_code == 200
    assert not directory.get(rouge).liste_rouge


@pytest.mark.parametrize("operation, expected", [
    ({"op": "replace", "path": f"{EXT}:listeRouge", "value": False}, False),
    ({"op": "remove", "path": f"{EXT}:listeRouge"}, False),
    ({"op": "replace", "path": f"{EXT}:listeRouge", "value": True}, True),
    ({"op": "replace", "value": {f"{EXT}:listeRouge": False}}, False),
])
def test_att07_patch(scim, directory, rouge, operation, expected):
    response = scim.patch(f"/Users/{rouge}", patch(operation))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert directory.get(rouge).liste_rouge is expected
    assert response.get_json()[EXT].get("listeRouge", False) is expected


def test_att07_patch_sets_it_on_an_account(scim, directory):
    created = scim.create("jean@univ-exemple.fr")["id"]
    operation = {"op": "add", "path": f"{EXT}:listeRouge", "value": True}
    response = scim.patch(f"/Users/{created}", patch(operation))
    assert response.status_code == 200 and directory.get(created).liste_rouge


def test_att07_not_a_boolean_is_invalid_value(scim, rouge):
    response = scim.patch(f"/Users/{rouge}", patch({"op": "replace", "path": f"{EXT}:listeRouge",
                                                     "value": "TRUE"}))
    assert_error(response, 400, "invalidValue", "listeRouge")


def test_att07_published_in_schemas(scim):
    body = scim.get("/Schemas").get_json()
    ext = {a["name"]: a for s in body["Resources"] if s["id"] == EXT for a in s["attributes"]}
    assert ext["listeRouge"]["type"] == "boolean" and ext["listeRouge"]["mutability"] == "readWrite"
