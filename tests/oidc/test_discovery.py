"""Discovery and JWKS (checklist DISC01, DISC02, CONF30) and key rotation with ``gateway keys``."""
from __future__ import annotations

import json
import shutil
import time

import pytest
import requests
from authlib.oidc.discovery import OpenIDProviderMetadata
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import KeySet

import gateway.oidc.keys as keys_module
from gateway.cli import cli, keys as _keys_commands  # noqa: F401  registers `gateway keys`
from gateway.oidc.keys import init_directory, prune, read_state
from tests.conftest import DEV_KEY, make_app
from tests.oidc.conftest import sign_in_and_get_tokens

REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
            "subject_types_supported", "id_token_signing_alg_values_supported")


def test_oidcc_discovery_endpoint_verification(live):
    """CONF30 (DISC01): the conditions of oidcc-discovery-endpoint-verification, as assertions."""
    response = requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    meta = response.json()
    assert all(meta.get(name) for name in REQUIRED)
    assert meta["issuer"] == live.issuer  # CheckDiscEndpointIssuer: the URL prefix, byte for byte
    assert meta["jwks_uri"] == live.endpoint("/oidc/jwks")
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["subject_types_supported"]) <= {"public", "pairwise"}
    assert "RS256" in meta["id_token_signing_alg_values_supported"] and "none" not in \
        meta["id_token_signing_alg_values_supported"]
    assert "openid" in meta["scopes_supported"] and all(isinstance(s, str) for s in meta["scopes_supported"])
    assert isinstance(meta["claims_parameter_supported"], bool)
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["frontchannel_logout_supported"] is False  # LOGOUT02: not offered, and said so
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert meta["end_session_endpoint"] == live.endpoint("/oidc/logout")
    assert meta["request_parameter_supported"] is False and meta["request_uri_parameter_supported"] is False
    OpenIDProviderMetadata(meta).validate()  # authlib's RFC 8414 / Discovery §3 checks


def test_discovery_metadata_types(live):
    """RFC 8414 §2 types: URLs are strings, *_supported are arrays of strings, flags are booleans."""
    meta = requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10).json()
    for name, value in meta.items():
        if name.endswith("_supported") and not isinstance(value, bool):
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), name
        if name.endswith(("_endpoint", "_uri")):
            assert value.startswith(live.issuer + "/"), name


def test_endpoints_come_from_public_url_not_the_host_header(live):
    """DISC01: a forged Host header changes nothing (absolute URLs come from public_url, never from the Host header)."""
    meta = requests.get(live.endpoint("/.well-known/openid-configuration"), headers={"Host": "evil.example"},
                        timeout=10).json()
    assert meta["issuer"] == live.issuer and all("evil" not in str(v) for v in meta.values())


def test_all_endpoints_are_https_when_public_url_is(base_config, redis_client):
    """CheckDiscEndpointAllEndpointsAreHttps; the issuer has no trailing slash."""
    app = make_app({**base_config, "public_url": "https://connexion.uness.fr/"})
    meta = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == "https://connexion.uness.fr"
    urls = [v for k, v in meta.items() if k.endswith(("_endpoint", "_uri"))]
    assert urls and all(v.startswith("https://connexion.uness.fr/") for v in urls)


def test_jwks_holds_public_signing_keys_only(live):
    """DISC02 (ValidateServerJWKs): unique kid, use=sig, RSA >= 2048, no private parameter; ES256 too."""
    keys = requests.get(live.endpoint("/oidc/jwks"), timeout=10).json()["keys"]
    assert len({k["kid"] for k in keys}) == len(keys) >= 2
    assert all(k["use"] == "sig" and not {"d", "p", "q", "dp", "dq", "qi"} & set(k) for k in keys)
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        imported = KeySet.import_key_set({"keys": [key]}).keys[0]
        if key["kty"] == "RSA":
            assert imported.raw_value.key_size >= 2048


def test_id_token_kid_is_the_active_key_never_the_next(browser, rp, live, account, keys_dir):
    """DISC02: the published next key never signs before a rotation."""
    _, token = sign_in_and_get_tokens(browser, rp("rp-basic"))
    states = {e["kid"]: e["state"] for e in read_state(keys_dir)["keys"]}
    kid = json.loads(_part(token["id_token"]))["kid"]
    assert states[kid] == "active"


def test_es256_signatures_verify_whatever_the_length_of_r_and_s(live):
    """RFC 7518 §3.4: the ES256 signature is R || S in 32 bytes each, a short R or S left-padded (one
    signature in 128 has one); every one of 500 signatures verifies with joserfc against the JWKS."""
    keys = live.provider.keys.current()
    published = KeySet.import_key_set(keys.jwks(time.time()))
    for n in range(500):
        token = keys.sign({"iss": "x", "sub": str(n)}, "ES256")
        assert len(_b64(token.split(".")[2])) == 64
        assert jwt.decode(token, published, algorithms=["ES256"]).claims["sub"] == str(n)


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _part(token: str) -> bytes:
    return _b64(token.split(".")[0])


@pytest.fixture
def rotating(oidc_config, tmp_path, monkeypatch):
    """A live-like app over its own key folder (the session's one stays untouched)."""
    folder = tmp_path / "keys"
    init_directory(folder, ["RS256"], int(time.time()))
    monkeypatch.setattr(keys_module, "RELOAD_INTERVAL", 0.0)  # workers re-read at once
    config = {**oidc_config, "oidc": {**oidc_config["oidc"], "keys_dir": str(folder)}}
    return folder, config


def test_oidcc_server_rotate_keys(rotating, redis_client, monkeypatch):
    """DISC02 (oidcc-server-rotate-keys): `gateway keys rotate` publishes the next key before it signs;
    the old key stays published until its tokens expire, then `prune` removes it."""
    folder, config = rotating
    app = make_app(config)
    provider = app.extensions["gateway.oidc"]
    before = {k["kid"] for k in provider.keys.current().jwks(time.time())["keys"]}
    old_token = provider.sign({"iss": "x", "sub": "s"}, "RS256")
    env = {"GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": DEV_KEY, "GATEWAY_OIDC_KEYS_DIR": str(folder),
           "GATEWAY_REDIS_URL": config["redis"]["url"]}
    for name in [n for n in __import__("os").environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    refused = CliRunner().invoke(cli, ["keys", "rotate", "--alg", "RS256"], env=env)
    assert refused.exit_code == 1 and "wait 86400 s" in refused.output
    done = CliRunner().invoke(cli, ["keys", "rotate", "--alg", "RS256"], env={
        **env, "GATEWAY_OIDC_KEY_PUBLISH_SECONDS": "0"})
    assert done.exit_code == 0, done.output
    time.sleep(0.01)
    after = {k["kid"] for k in provider.keys.current().jwks(time.time())["keys"]}
    states = {e["kid"]: e["state"] for e in read_state(folder)["keys"]}
    assert before < after and len(after) == 3  # old (retired), the former next (active), a new next
    signer = provider.keys.current().signer("RS256").kid
    assert signer in before and states[signer] == "active"  # it was published before it signs
    jwt.decode(old_token, provider.keys.current().verification_keys(time.time()), algorithms=["RS256"])
    new_token = provider.sign({"iss": "x", "sub": "s"}, "RS256")  # the header was cached before the rotation
    assert json.loads(_part(new_token))["kid"] == signer != json.loads(_part(old_token))["kid"]
    published = KeySet.import_key_set(provider.keys.current().jwks(time.time()))
    jwt.decode(new_token, published, algorithms=["RS256"])  # an RP finds the new kid in jwks_uri
    retired = [kid for kid, state in states.items() if state == "retired"]
    assert len(retired) == 1 and prune(folder, int(time.time())) == []
    assert prune(folder, int(time.time()) + 43201) == retired
    assert not (folder / f"{retired[0]}.pem").exists()


def test_a_shared_key_folder_caught_mid_sync_keeps_the_keys_until_the_files_arrive(tmp_path, monkeypatch, caplog):
    """Several nodes (README, "Several nodes"): a node whose copy of the folder has the new keyset.json
    but not yet the key files it names (a sync in progress) keeps signing with the keys it has, then
    follows the rotation once the files are there; never an error on the request path."""
    folder, rotated = tmp_path / "node-b", tmp_path / "node-a"
    init_directory(folder, ["RS256"], int(time.time()))
    monkeypatch.setattr(keys_module, "RELOAD_INTERVAL", 0.0)
    node_b = keys_module.KeyStore(folder)
    before = node_b.current().signer("RS256").kid
    shutil.copytree(folder, rotated)
    done = keys_module.rotate(rotated, "RS256", int(time.time()), retire_after=3600, publish_seconds=0, force=True)
    shutil.copy2(rotated / "keyset.json", folder / "keyset.json")  # the state file arrives first
    with caplog.at_level("WARNING", logger="gateway"):
        assert node_b.current().signer("RS256").kid == before
    assert "previous keys kept" in caplog.text
    for pem in rotated.glob("*.pem"):
        shutil.copy2(pem, folder / pem.name)
    keys = node_b.current()  # keyset.json did not change again: the failed reload is retried
    assert keys.signer("RS256").kid == done.activated != before
    assert {before, done.activated, done.next} == {k["kid"] for k in keys.jwks(time.time())["keys"]}


def test_keys_list_and_client_secret_commands(keys_dir, monkeypatch):
    """`gateway keys list` shows the states; `gateway keys client-secret` prints a secret and its hash."""
    for name in [n for n in __import__("os").environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    env = {"GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": DEV_KEY,
           "GATEWAY_OIDC_KEYS_DIR": str(keys_dir)}
    listed = CliRunner().invoke(cli, ["keys", "list"], env=env)
    assert listed.exit_code == 0 and listed.output.count("active") == 2 and listed.output.count("next") == 2
    made = CliRunner().invoke(cli, ["keys", "client-secret"], env=env)
    secret = made.output.split(": ", 1)[1].split()[0]
    stored = made.output.split('secret_hash = "')[1].split('"')[0]
    from gateway.oidc.credentials import verify_secret

    assert verify_secret(stored, secret) and not verify_secret(stored, secret + "x")


def test_dev_keys_are_refused_in_production(tmp_path):
    """The dev-only key folder (or any key set marked dev_only) is refused in production."""
    from gateway.config import ConfigError, load_settings
    from gateway.oidc.app import key_folder_problems
    from gateway.oidc.settings import DEV_KEYS

    with pytest.raises(ConfigError, match="holds development keys"):  # by its place: a settings check
        load_settings({"GATEWAY_MODE": "production", "GATEWAY_SECRET_KEY": "p" * 40,
                       "GATEWAY_PUBLIC_URL": "https://x.fr", "GATEWAY_OIDC_KEYS_DIR": str(DEV_KEYS)})
    copy = tmp_path / "copy"
    shutil.copytree(DEV_KEYS, copy)
    settings = load_settings({"GATEWAY_MODE": "production", "GATEWAY_SECRET_KEY": "p" * 40,
                              "GATEWAY_PUBLIC_URL": "https://x.fr", "GATEWAY_OIDC_KEYS_DIR": str(copy)})
    assert any("holds development keys" in p for p in key_folder_problems(settings))  # by its key set's mark
