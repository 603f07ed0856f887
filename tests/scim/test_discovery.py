"""/ServiceProviderConfig, /ResourceTypes, /Schemas (RFC 7644 §4)."""
from __future__ import annotations

from tests.scim.conftest import CORE, EXT, LIST, SCIM_JSON, assert_error

BASE = "http://127.0.0.1:8000/scim/v2"


def test_service_provider_config_says_what_is_supported(scim):
    response = scim.get("/ServiceProviderConfig")
    assert response.status_code == 200
    assert response.mimetype == SCIM_JSON
    body = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["patch"] == {"supported": True}
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert body["bulk"]["supported"] is False
    assert body["changePassword"] == {"supported": False}
    assert body["sort"] == {"supported": False}
    assert body["etag"] == {"supported": True}
    assert [s["type"] for s in body["authenticationSchemes"]] == ["oauthbearertoken"]
    assert body["meta"]["location"] == f"{BASE}/ServiceProviderConfig"


def test_resource_types(scim):
    body = scim.get("/ResourceTypes").get_json()
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 1
    (user_type,) = body["Resources"]
    assert user_type["id"] == "User"
    assert user_type["endpoint"] == "/Users"
    assert user_type["schema"] == CORE
    assert user_type["schemaExtensions"] == [{"schema": EXT, "required": False}]
    single = scim.get("/ResourceTypes/User")
    assert single.status_code == 200
    assert single.get_json() == user_type
    assert_error(scim.get("/ResourceTypes/Group"), 404)


def test_schemas_list_every_supported_attribute(scim):
    body = scim.get("/Schemas").get_json()
    by_id = {s["id"]: s for s in body["Resources"]}
    assert set(by_id) == {CORE, EXT}
    core = {a["name"]: a for a in by_id[CORE]["attributes"]}
    assert set(core) == {"userName", "name", "displayName", "emails", "active"}
    assert core["userName"]["required"] is True
    assert {s["name"] for s in core["emails"]["subAttributes"]} == {"value", "type", "primary"}
    ext = {a["name"]: a for a in by_id[EXT]["attributes"]}
    assert set(ext) == {"affiliations", "establishment", "eppn", "legacyIds", "legacyEppns", "listeRouge",
                        "status",
                        "verifiedEmails"}
    assert ext["status"]["mutability"] == "readOnly"
    assert ext["verifiedEmails"]["mutability"] == "readOnly"
    assert "student" in ext["affiliations"]["canonicalValues"]
    assert {s["name"] for s in ext["legacyIds"]["subAttributes"]} == {"serviceProvider", "value", "nameQualifier",
                                                                      "spNameQualifier"}
    assert {s["name"] for s in ext["legacyEppns"]["subAttributes"]} == {"serviceProvider", "value"}


def test_one_schema_by_urn(scim):
    response = scim.get(f"/Schemas/{EXT}")
    assert response.status_code == 200
    assert response.get_json()["id"] == EXT
    assert response.get_json()["meta"]["location"] == f"{BASE}/Schemas/{EXT}"
    assert scim.get(f"/Schemas/{CORE.upper()}").get_json()["id"] == CORE
    assert_error(scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group"), 404)


def test_discovery_refuses_filters(scim):
    assert_error(scim.get('/Schemas?filter=id eq "x"'), 403)
    assert_error(scim.get('/ResourceTypes?filter=id eq "x"'), 403)


def test_unknown_endpoint_is_a_scim_404(scim):
    response = scim.get("/Groups")
    assert_error(response, 404)
