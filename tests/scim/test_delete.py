"""DELETE /Users/{id} disables the account; nothing is erased."""
from __future__ import annotations

from gateway.identity.logout import on_session_end
from gateway.identity.sessions import new_session_id
from tests.scim.conftest import EXT, SCIM_JSON, assert_error, user


def test_delete_disables(scim, directory, audit_records):
    created = scim.create("jean@univ-exemple.fr", emails=["perso@gmail.com"], displayName="Jean")
    response = scim.delete(f"/Users/{created['id']}")
    assert response.status_code == 204
    assert response.get_data() == b""
    account = directory.get(created["id"])
    assert account.status == "disabled"
    assert account.display_name == "Jean"
    assert directory.find_by_email("perso@gmail.com").id == created["id"]
    record = audit_records[-1]
    assert record.getMessage() == "account.disabled"
    assert (record.service, record.account_id) == ("cockpit", created["id"])


def test_disabled_user_is_still_readable_and_listed(scim):
    created = scim.create("jean@univ-exemple.fr")
    scim.delete(f"/Users/{created['id']}")
    resource = scim.get(f"/Users/{created['id']}").get_json()
    assert resource["active"] is False
    assert resource[EXT]["status"] == "disabled"
    assert scim.get("/Users").get_json()["totalResults"] == 1


def test_delete_twice_is_harmless(scim, audit_records):
    created = scim.create("jean@univ-exemple.fr")
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert [r.getMessage() for r in audit_records] == ["account.created", "account.disabled"]


def test_disabled_user_can_be_re_enabled(scim, directory):
    created = scim.create("jean@univ-exemple.fr")
    scim.delete(f"/Users/{created['id']}")
    scim.put(f"/Users/{created['id']}", user("jean@univ-exemple.fr", active=True))
    assert directory.get(created["id"]).status == "provisioned"


def test_delete_unknown_is_404(scim):
    assert_error(scim.delete("/Users/nobody"), 404)


def test_delete_if_match(scim, directory):
    created = scim.create("jean@univ-exemple.fr")
    assert_error(scim.delete(f"/Users/{created['id']}", headers={"If-Match": 'W/"7"'}), 412)
    assert directory.get(created["id"]).status == "provisioned"
    assert scim.delete(f"/Users/{created['id']}", headers={"If-Match": 'W/"1"'}).status_code == 204


def test_every_response_is_scim_json(scim, client):
    created = scim.create("jean@univ-exemple.fr")
    responses = [
        scim.get(f"/Users/{created['id']}"),
        scim.delete(f"/Users/{created['id']}"),
        scim.request("POST", f"/Users/{created['id']}", user("x@y.fr")),  # 405
        scim.get("/Nothing"),  # 404
        client.get("/scim/v2/Users"),  # 401
    ]
    assert [r.status_code for r in responses] == [200, 204, 405, 404, 401]
    for response in responses:
        assert response.mimetype == SCIM_JSON
    for response in responses[2:]:
        assert response.get_json()["status"] == str(response.status_code)


def test_delete_ends_every_session_of_the_account(scim, app):
    """A disabled account's SSO sessions end, and the protocols' logout hooks run for each."""
    created = scim.create("camille@univ-exemple.fr")
    sessions = app.extensions["gateway.sessions"]
    ended: list[str] = []
    on_session_end(app, lambda session: ended.append((session.sid, session.browser, session.reason)))
    sid, data = new_session_id(), {}
    sessions.authenticate(data, created["id"], ("pwd",), remember=False, ip="127.0.0.1", user_agent="test")
    sessions.save(sid, data, new=True)
    sessions.index(created["id"], sid)
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert sessions.load(sid) is None and ended == [(sid, False, "account.disabled")]
