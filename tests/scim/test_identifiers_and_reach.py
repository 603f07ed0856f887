"""Issue 9 over SCIM: another person's eppn or legacy id (409 uniqueness), a service writing outside its
``scim.reach`` (403), and a client guessing bearer tokens (429 with Retry-After)."""
from __future__ import annotations

import pytest

from tests.conftest import make_app

from .conftest import COCKPIT_TOKEN, EXT, Scim, assert_error, patch, user

SP = "https://sp.univ-exemple.fr/shibboleth"


def test_two_users_cannot_share_an_eppn_or_a_legacy_id(scim, app):
    jean = scim.create("jean@univ-exemple.fr", ext={"eppn": "jd@univ-exemple.fr",
                                                    "legacyIds": [{"serviceProvider": SP, "value": "L1"}]})
    taken = scim.post("/Users", user("m@univ-exemple.fr", ext={"eppn": "JD@univ-exemple.fr"}))
    assert_error(taken, 409, "uniqueness", "eppn: JD@univ-exemple.fr already belongs to another account")
    assert jean["id"] not in taken.get_data(as_text=True)  # the owner is not disclosed
    assert scim.get('/Users?filter=userName eq "m@univ-exemple.fr"').get_json()["totalResults"] == 0
    mallory = scim.create("m@univ-exemple.fr")
    stolen = scim.patch(f"/Users/{mallory['id']}", patch(
        {"op": "add", "path": f"{EXT}:legacyIds", "value": [{"serviceProvider": SP, "value": "L1"}]}))
    assert_error(stolen, 409, "uniqueness", f"legacyIds: L1 for {SP} already belongs to another account")
    assert app.extensions["gateway.directory"].get(mallory["id"]).legacy_ids == {}


@pytest.fixture
def reached(base_config, redis_client):
    """cockpit may write univ-exemple.fr addresses (and its subdomains) and eppn in that scope only."""
    config = {**base_config, "scim": {**base_config["scim"], "reach": {
        "cockpit": {"addresses": ["univ-exemple.fr", "*.univ-exemple.fr"], "scopes": ["univ-exemple.fr"]}}}}
    return make_app(config)


def test_a_service_writes_only_within_its_reach(reached, audit_records):
    cockpit, other = Scim(reached.test_client()), Scim(reached.test_client(), "scim-test-token-other-0123456789abc")
    stranger = other.create("p@univ.fr", ext={"eppn": "p@univ.fr"})
    for response in (
        cockpit.post("/Users", user("a@gmail.com")),
        cockpit.post("/Users", user("a@etu.univ-exemple.fr", ext={"eppn": "a@univ.fr"})),
        cockpit.patch(f"/Users/{stranger['id']}", patch({"op": "replace", "path": "displayName", "value": "x"})),
        cockpit.delete(f"/Users/{stranger['id']}"),
    ):
        assert_error(response, 403)
    mine = cockpit.create("a@etu.univ-exemple.fr", ext={"eppn": "a@univ-exemple.fr"})
    grab = cockpit.patch(f"/Users/{mine['id']}", patch(
        {"op": "add", "path": "emails", "value": [{"value": "p2@univ.fr"}]}))
    assert_error(grab, 403, detail_has="emails: this service may not add an address at univ.fr")
    directory = reached.extensions["gateway.directory"]
    assert directory.get(stranger["id"]).status == "provisioned" and directory.get(stranger["id"]).display_name == ""
    assert directory.count() == 2 and directory.get(mine["id"]).addresses == ("a@etu.univ-exemple.fr",)
    assert sum(r.getMessage() == "scim.out_of_reach" for r in audit_records) >= 5


def test_guessing_bearer_tokens_is_rate_limited_per_client(client, audit_records):
    guesser = {"REMOTE_ADDR": "192.0.2.66"}
    statuses = [client.get("/scim/v2/Users", headers={"Authorization": f"Bearer guess-{n}"},
                           environ_base=guesser).status_code for n in range(20)]
    assert set(statuses[:10]) == {401} and set(statuses[10:]) == {429}
    refused = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {COCKPIT_TOKEN}"},
                         environ_base=guesser)  # even the right token: the client waits
    body = assert_error(refused, 429, detail_has="too many failed authentications")
    assert int(refused.headers["Retry-After"]) > 0 and COCKPIT_TOKEN not in str(body)
    other = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {COCKPIT_TOKEN}"},
                       environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200 and other.get_json()["schemas"] == [
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert any(r.getMessage() == "scim.throttled" for r in audit_records)
