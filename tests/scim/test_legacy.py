"""Legacy identifiers per application over SCIM (issue 11): legacyEppns, qualified legacyIds, 409
uniqueness, a scope refused, the reach of a service, and a GET -> PUT round trip that changes nothing."""
from __future__ import annotations

from .conftest import EXT, assert_error, patch, user

SP = "https://moodle.univ-exemple.fr/shibboleth"
WIKI = "https://wiki.univ.fr/sp"
FORMER_IDP = "https://idp.univ-exemple.fr/idp/shibboleth"
LEGACY = {
    "legacyIds": [{"serviceProvider": SP, "value": "AbC+/x==", "nameQualifier": FORMER_IDP},
                  {"serviceProvider": WIKI, "value": "w-1", "nameQualifier": "https://idp.univ.fr",
                   "spNameQualifier": "https://aff"}],
    "legacyEppns": [{"serviceProvider": SP, "value": "jdupont@univ-exemple.fr"},
                    {"serviceProvider": WIKI, "value": "jean.dupont@univ.fr"}],
}


def test_create_get_put_round_trip(scim, app):
    jean = scim.create("jean@univ-exemple.fr", ext=LEGACY)
    got = scim.get(f"/Users/{jean['id']}").get_json()
    assert got[EXT]["legacyIds"] == LEGACY["legacyIds"] and got[EXT]["legacyEppns"] == LEGACY["legacyEppns"]
    account = app.extensions["gateway.directory"].get(jean["id"])
    assert account.legacy_qualifiers[SP].name_qualifier == FORMER_IDP
    assert account.legacy_eppns[WIKI] == "jean.dupont@univ.fr"
    put = scim.put(f"/Users/{jean['id']}", {k: v for k, v in got.items() if k != "meta"})
    assert put.status_code == 200
    assert app.extensions["gateway.directory"].get(jean["id"]).version == account.version  # unchanged


def test_two_users_cannot_share_a_legacy_eppn_or_a_legacy_value_for_one_sp(scim, app):
    scim.create("jean@univ-exemple.fr", ext=LEGACY)
    taken = scim.post("/Users", user("m@univ-exemple.fr", ext={
        "legacyEppns": [{"serviceProvider": SP, "value": "JDupont@univ-exemple.fr"}]}))
    assert_error(taken, 409, "uniqueness",
                 f"legacyEppns: JDupont@univ-exemple.fr for {SP} already belongs to another account")
    mallory = scim.create("m@univ-exemple.fr")
    stolen = scim.patch(f"/Users/{mallory['id']}", patch(
        {"op": "add", "path": f"{EXT}:legacyIds", "value": [{"serviceProvider": SP, "value": "AbC+/x=="}]}))
    assert_error(stolen, 409, "uniqueness", f"legacyIds: AbC+/x== for {SP} already belongs to another account")
    held = app.extensions["gateway.directory"].get(mallory["id"])
    assert (held.legacy_ids, held.legacy_eppns) == ({}, {})


def test_a_legacy_eppn_out_of_scope_or_malformed_is_refused(scim):
    for entry, detail in (({"serviceProvider": SP, "value": "p@univ-paris.fr"}, "scope 'univ-paris.fr'"),
                          ({"serviceProvider": SP}, "legacyEppns: each entry needs")):
        response = scim.post("/Users", user("m@univ-exemple.fr", ext={"legacyEppns": [entry]}))
        assert_error(response, 400, "invalidValue", detail_has=detail)
    assert scim.get('/Users?filter=userName eq "m@univ-exemple.fr"').get_json()["totalResults"] == 0
