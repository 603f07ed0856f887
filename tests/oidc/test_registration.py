"""Dynamic Client Registration: RFC 7591 (register), RFC 7592 (read, update, delete)."""
from __future__ import annotations

import requests

from tests.conftest import make_app
from tests.oidc.conftest import RelyingParty

NEW_CB = "https://new.example.org/cb"
INITIAL = "initial-token-0123456789"
METADATA = {"redirect_uris": ["https://new.example.org/cb"], "client_name": "Nouvelle appli",
            "scope": "openid profile email phone",
            "post_logout_redirect_uris": ["https://new.example.org/bye"],
            "backchannel_logout_uri": "https://new.example.org/bcl"}


def _register(live, metadata=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(live.endpoint("/oidc/register"), json=metadata or METADATA, headers=headers,
                         timeout=10)


def test_register_then_sign_in_with_the_new_client(live, browser, account):
    """RFC 7591 §3.2.1: the new client works at once; its secret is returned once and stored hashed."""
    response = _register(live)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_secret"] and body["registration_access_token"]
    assert body["registration_client_uri"] == live.endpoint(f"/oidc/register/{body['client_id']}")
    assert body["scope"] == "openid profile email phone"
    assert body["client_secret_expires_at"] > body["client_id_issued_at"]
    party = RelyingParty(live, body["client_id"], body["client_secret"], redirect_uri=NEW_CB)
    try:
        attempt = party.authorization()
        url = browser.go(attempt.url, stop="https://new.example.org")
        token = party.token(url, attempt)
        assert token["scope"] == "openid profile email"  # phone is not offered: dropped
        assert party.verify(token["id_token"], attempt)["aud"] == body["client_id"]
    finally:
        party.close()
    stored = live.app.extensions["gateway.store"].redis.get(f"gw:oidc:client:{body['client_id']}")
    assert body["client_secret"] not in stored and body["registration_access_token"] not in stored


def test_read_update_delete(live):
    """RFC 7592 §2.1-2.3 with the registration access token; a wrong token is 401."""
    body = _register(live).json()
    uri = body["registration_client_uri"]
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    assert requests.get(uri, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    read = requests.get(uri, headers=auth, timeout=10)
    assert read.status_code == 200 and read.json()["redirect_uris"] == METADATA["redirect_uris"]
    assert "client_secret" not in read.json()
    update = requests.put(uri, headers=auth, timeout=10, json={
        **METADATA, "client_id": body["client_id"], "redirect_uris": ["https://new.example.org/cb2"]})
    assert update.status_code == 200 and update.json()["redirect_uris"] == ["https://new.example.org/cb2"]
    assert requests.delete(uri, headers=auth, timeout=10).status_code == 204
    assert requests.get(uri, headers=auth, timeout=10).status_code == 401
    assert live.provider.query_client(body["client_id"]) is None


def test_configured_clients_cannot_be_managed(live):
    """RFC 7592: only registered clients have a configuration endpoint."""
    response = requests.get(live.endpoint("/oidc/register/rp-basic"), headers={"Authorization": "Bearer x"},
                            timeout=10)
    assert response.status_code == 401


def test_public_client_registration_gets_no_secret(live):
    """RFC 7591 §3.2.1: token_endpoint_auth_method none -> no client_secret."""
    body = _register(live, {**METADATA, "token_endpoint_auth_method": "none"}).json()
    assert "client_secret" not in body and body["token_endpoint_auth_method"] == "none"


def test_bad_metadata_is_refused(live):
    """OIDC02, BCP01, CONF31 (-regfrag, -sector-bad), SEC06: invalid metadata -> invalid_client_metadata."""
    cases = [
        {"redirect_uris": ["https://new.example.org/cb#frag"]},
        {"redirect_uris": []},
        {"redirect_uris": ["https://new.example.org/cb"], "jwks_uri": "https://new.example.org/jwks"},
        {"redirect_uris": [NEW_CB], "sector_identifier_uri": "https://x.example/s.json"},
        {"redirect_uris": ["https://a.example/cb", "https://b.example/cb"], "subject_type": "pairwise"},
        {"redirect_uris": ["https://new.example.org/cb"], "response_types": ["token"]},
        {"redirect_uris": ["https://new.example.org/cb"], "grant_types": ["password"]},
        {"redirect_uris": ["https://new.example.org/cb"], "token_endpoint_auth_method": "private_key_jwt"},
    ]
    for metadata in cases:
        response = _register(live, metadata)
        assert response.status_code == 400, metadata
        assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri"), metadata


def test_production_needs_an_initial_access_token(oidc_config, redis_client, tmp_path):
    """RFC 7591 §3: in production, registration needs one of the configured initial access tokens.
    (No configured clients: the test ones call back over loopback http, refused in production.)"""
    config = {**oidc_config, "mode": "production", "public_url": "https://connexion.example.fr",
              "insecure_http": False,
              "oidc": {**oidc_config["oidc"], "clients_file": str(tmp_path / "none.toml"),
                       "initial_access_tokens": {"cockpit": INITIAL},
                       "pairwise_secret": "pairwise-secret-0123456789"}}
    client = make_app(config).test_client()
    metadata = {"redirect_uris": ["https://new.example.org/cb"]}
    kw = {"base_url": "https://connexion.example.fr"}
    assert client.post("/oidc/register", json=metadata, **kw).status_code == 400  # access_denied
    wrong = client.post("/oidc/register", json=metadata, headers={"Authorization": "Bearer nope"}, **kw)
    assert wrong.status_code == 401
    good = client.post("/oidc/register", json=metadata, headers={"Authorization": f"Bearer {INITIAL}"}, **kw)
    assert good.status_code == 201
    http = client.post("/oidc/register", json={"redirect_uris": ["http://new.example.org/cb"]},
                       headers={"Authorization": f"Bearer {INITIAL}"}, **kw)
    assert http.status_code == 400 and "https" in http.get_json()["error_description"]


def test_registration_can_be_turned_off(oidc_config, redis_client):
    config = {**oidc_config, "oidc": {**oidc_config["oidc"], "registration_enabled": False}}
    client = make_app(config).test_client()
    assert "registration_endpoint" not in client.get("/.well-known/openid-configuration").get_json()
    assert client.post("/oidc/register", json={"redirect_uris": ["https://x.example/cb"]}).status_code == 404


def test_registered_client_backchannel_uri_is_used(live, browser, account):
    """A registered client with a backchannel_logout_uri is recorded for logout like a configured one."""
    body = _register(live).json()
    party = RelyingParty(live, body["client_id"], body["client_secret"], redirect_uri=NEW_CB)
    try:
        attempt = party.authorization()
        party.token(browser.go(attempt.url, stop="https://new.example.org"), attempt)
    finally:
        party.close()
    cookie = browser.http.cookies.get(live.app.extensions["gateway.settings"].sessions.cookie_name)
    rps, _ = live.provider.tokens.take_session(cookie)
    assert body["client_id"] in rps
