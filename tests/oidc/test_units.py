"""The oidc package's pieces without HTTP: claims, clients file, client secrets, keys, settings."""
from __future__ import annotations

import base64
import hmac
import json
import time
from pathlib import Path

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc.jwk import RSAKey

from gateway.accounts.models import Account, Email
from gateway.config import ConfigError, load_settings
from gateway.oidc import backchannel, credentials, grants
from gateway.oidc.claims import account_claims, amr, parse_claims_request, release, releasable, subject
from gateway.oidc.clients import Client, client_problems, load_clients, redirect_uri_is_registered
from gateway.oidc.errors import ClientConfigError, SigningKeyError
from gateway.oidc.keys import Keys, import_private_pem, init_directory, read_state, rotate, static_keys
from tests.conftest import DEV_KEY, make_app

GOOD = credentials.hash_secret("s3cret")


def _account(**fields) -> Account:
    values = {"id": "a1", "emails": (Email("a@x.fr", False), Email("b@x.fr", True)), "given_name": "Ana",
              "family_name": "Lopez", **fields}
    return Account(**values)


# -- claims ------------------------------------------------------------------------------------

def test_pairwise_sub_is_stable_per_sector_and_opaque():
    """OIDC10: HMAC of sector and account id; same sector -> same sub; never the account id."""
    key = b"k" * 32
    a = Client("a", redirect_uris=("https://app.sector.fr/cb",), subject_type="pairwise")
    b = Client("b", redirect_uris=("https://other.fr/cb",), subject_type="pairwise",
               sector_identifier="app.sector.fr")
    c = Client("c", redirect_uris=("https://c.fr/cb",), subject_type="pairwise")
    assert subject("a1", a, key) == subject("a1", b, key) != subject("a1", c, key)
    assert subject("a1", a, key) != "a1" and len(subject("a1", a, key)) == 43
    assert subject("a1", Client("p", redirect_uris=("https://p.fr/cb",)), key) == "a1"


def test_email_is_the_primary_verified_address_else_the_first_verified():
    """CLM01: email_verified is true only for a verified address."""
    assert account_claims(_account())["email"] == "b@x.fr"
    assert account_claims(_account())["email_verified"] is True
    unverified = _account(emails=(Email("a@x.fr", False),))
    values = account_claims(unverified)
    assert (values["email"], values["email_verified"]) == ("a@x.fr", False)


def test_claim_types():
    """CLM04: multi-valued -> arrays, booleans -> JSON booleans, single-valued -> strings."""
    values = account_claims(_account(affiliations=("staff",), eppn="ana@x.fr", establishment="{UAI}0751717J"))
    assert values["eduperson_affiliation"] == ["staff"]
    assert values["eduperson_scoped_affiliation"] == ["staff@x.fr"]
    assert values["supann_etablissement"] == ["{UAI}0751717J"] and isinstance(values["email_verified"], bool)
    assert values["name"] == "Ana Lopez" and isinstance(values["eduperson_principal_name"], str)


def test_release_follows_scopes_and_client_policy():
    """OIDC09, CLM02: scope claims; claims-parameter names within the client's scopes; no empty values."""
    client = Client("c", redirect_uris=("https://c.fr/cb",), scopes=("openid", "profile"))
    names = releasable(client, "openid", ["name", "email", "eduperson_affiliation"])
    assert names == ["sub", "name"]
    released = release(_account(), client, ["name", "eduperson_affiliation"], "s")
    assert released == {"sub": "s", "name": "Ana Lopez"}


def test_claims_parameter_parsing():
    raw = '{"userinfo": {"name": {"essential": true}}, "id_token": {"auth_time": null}}'
    assert parse_claims_request(raw) == \
        {"userinfo": ["name"], "id_token": ["auth_time"]}
    for bad in ("[1]", '{"userinfo": 3}', "{nope"):
        with pytest.raises(ValueError):
            parse_claims_request(bad)


def test_amr_values_are_rfc8176():
    assert amr(["pwd"]) == ["pwd"] and amr(["activation"]) == ["otp", "pwd"] and amr(["unknown"]) == []


# -- clients ------------------------------------------------------------------------------------

def test_redirect_uris_compare_exactly_except_loopback_ports():
    """OIDC02, BCP01: exact string match; a loopback http URI may change port only (RFC 8252 §7.3)."""
    client = Client("c", redirect_uris=("https://c.fr/cb", "http://127.0.0.1/native", "http://[::1]:80/n"))
    assert redirect_uri_is_registered(client, "https://c.fr/cb")
    for uri in ("https://c.fr/cb/", "https://C.fr/cb", "https://c.fr/cb?x", "https://c.fr:443/cb",
                "http://c.fr/cb"):
        assert not redirect_uri_is_registered(client, uri), uri
    assert redirect_uri_is_registered(client, "http://127.0.0.1:61234/native")
    assert redirect_uri_is_registered(client, "http://[::1]:5000/n")
    assert not redirect_uri_is_registered(client, "http://127.0.0.1:61234/other")
    assert not redirect_uri_is_registered(client, "http://localhost:61234/native")


def test_client_problems():
    """Every refusal at once: alg none (CONF04), http in production, missing openid, secret without hash."""
    bad = Client("bad id", redirect_uris=("http://app.fr/cb#x",), scopes=("profile",),
                 id_token_signed_response_alg="none", secret_hash="plain")
    found = client_problems(bad, production=True)
    assert any(p.startswith("client_id") for p in found) and any("fragment" in p for p in found)
    assert any("never none" in p for p in found) and any(p.startswith("scopes") for p in found)
    assert any(p.startswith("secret_hash") for p in found)
    good = Client("ok", redirect_uris=("https://a.fr/cb",), secret_hash=GOOD)
    native = Client("n", redirect_uris=("http://127.0.0.1/cb",), token_endpoint_auth_method="none")
    assert client_problems(good, production=True) == client_problems(native, production=True) == []


def test_clients_file_lists_every_problem(tmp_path):
    path = tmp_path / "clients.toml"
    path.write_text('dev_only = true\nsurprise = 1\n'
                    '[[clients]]\nclient_id = "a"\nredirect_uris = "https://a"\n'
                    '[[clients]]\nclient_id = "b"\nredirect_uris = ["https://b.fr/cb"]\ncolour = "red"\n')
    with pytest.raises(ClientConfigError) as info:
        load_clients(path, production=True)
    text = "\n".join(info.value.problems)
    assert "development-only clients file" in text and "surprise" in text
    assert "redirect_uris: expected a list" in text and "colour" in text
    assert load_clients(tmp_path / "missing.toml", production=True) == {}


def test_example_and_dev_clients_files_load():
    root = Path(__file__).resolve().parents[2]
    dev = load_clients(root / "config/dev/oidc-clients.toml", production=False)
    assert set(dev) == {"dev-demo-rp", "dev-demo-spa"}
    example = load_clients(root / "config/oidc-clients.example.toml", production=True)
    assert example and all(not client_problems(c, production=True) for c in example.values())


# -- client secrets ----------------------------------------------------------------------------

def test_client_secrets_are_hashed_with_salt():
    """SEC11: salted HMAC-SHA256, verified in constant time; malformed hashes never match."""
    assert GOOD.startswith("hmac-sha256$") and credentials.looks_like_hash(GOOD)
    assert credentials.verify_secret(GOOD, "s3cret") and not credentials.verify_secret(GOOD, "s3cre")
    assert credentials.hash_secret("s3cret") != GOOD
    salt, digest = GOOD.split("$")[1:]
    for broken in ("", "scrypt$1$8$1$x$y", "md5$x", f"hmac-sha256${salt}",
                   f"hmac-sha256${salt}${digest[:-4]}", f"hmac-sha256$AAAA${digest}", f"sha256${salt}${digest}",
                   GOOD + "$x"):
        assert not credentials.verify_secret(broken, "s3cret") and not credentials.looks_like_hash(broken)
    assert not credentials.verify_secret(GOOD, "")


def test_scrypt_hashes_made_before_still_verify():
    """Clients files written with the previous scheme (scrypt) keep working, wrong secrets still fail."""
    old = credentials.hash_secret_scrypt("s3cret")
    assert old.startswith("scrypt$2048$8$1$") and credentials.looks_like_hash(old)
    for _ in range(2):  # the second time from the per-process memory of verified secrets
        assert credentials.verify_secret(old, "s3cret") and not credentials.verify_secret(old, "s3cre")
    for broken in ("scrypt$1$8$1$x$y", old.replace("$2048$", "$99999999$"), old.replace("$2048$", "$2047$")):
        assert not credentials.verify_secret(broken, "s3cret")
    dev = "scrypt$2048$8$1$aXYPLkXI7B_04XbS9s0oQQ$5czmru4_AFf-zXXI4KaPuZWXDCwFDbUVE4w5rS8zlrA"  # config/dev
    assert credentials.verify_secret(dev, "dev-only-oidc-secret-demo-rp")
    assert not credentials.verify_secret(dev, "dev-only-oidc-secret-demo-rq")


def test_secrets_are_compared_in_constant_time(monkeypatch):
    """SEC11: client secrets and PKCE S256 results are compared by hmac.compare_digest, right and wrong alike."""
    compared = []
    real = hmac.compare_digest

    def watching(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", watching)
    assert credentials.verify_secret(GOOD, "s3cret") and not credentials.verify_secret(GOOD, "s3cre")
    assert len(compared) == 2
    verifier = "v" * 43
    challenge = create_s256_code_challenge(verifier)
    assert grants.s256_matches(verifier, challenge) and not grants.s256_matches(verifier, challenge[:-1] + "A")
    assert len(compared) == 4 and compared[2] == (challenge, challenge)


# -- keys ---------------------------------------------------------------------------------------

def test_static_pem_keys(tmp_path):
    rsa = RSAKey.generate_key(2048)
    text = "comment\n" + rsa.as_pem(private=True).decode() + "\n"
    [key] = static_keys(text)
    assert key.alg == "RS256" and key.state == "static" and Keys([key]).signer("RS256") == key
    with pytest.raises(SigningKeyError):
        import_private_pem(_weak_rsa_pem())  # DISC02: RSA >= 2048
    with pytest.raises(SigningKeyError):
        import_private_pem(rsa.as_pem(private=False))  # a public key cannot sign


def _weak_rsa_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_rotation_rules(tmp_path):
    """DISC02: no rotation onto a key published too recently; the retired key stays published a while."""
    now = int(time.time())
    init_directory(tmp_path, ["ES256"], now)
    with pytest.raises(SigningKeyError, match="published 0 s ago"):
        rotate(tmp_path, "ES256", now, 600, 3600)
    done = rotate(tmp_path, "ES256", now + 3600, 600, 3600)
    entries = {e["kid"]: e for e in read_state(tmp_path)["keys"]}
    assert entries[done.retired]["retire_at"] == now + 3600 + 600
    assert entries[done.activated]["state"] == "active"
    keys = Keys([k for k in __import__("gateway.oidc.keys", fromlist=["x"]).load_directory(tmp_path)])
    assert {k.kid for k in keys.published(now + 4000)} == {done.retired, done.activated, done.next}
    assert done.retired not in {k.kid for k in keys.published(now + 4201)}


def test_logout_token_never_has_a_nonce(live):
    """LOGOUT03 (§2.4): a logout token holds exactly iss, aud, iat, exp, jti, events, sub and sid; no nonce."""
    provider = live.provider
    with live.app.app_context():
        token = backchannel.logout_token(provider, provider.query_client("rp-basic"), "sub-1", "sid-1")
    header, claims = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
                      for part in token.split(".")[:2])
    assert header["typ"] == "logout+jwt"
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "events", "sub", "sid"}
    assert (claims["sub"], claims["sid"], claims["aud"]) == ("sub-1", "sid-1", "rp-basic")


# -- settings and start-up ------------------------------------------------------------------------

def _production(**env):
    return load_settings({"GATEWAY_MODE": "production", "GATEWAY_SECRET_KEY": "p" * 40,
                          "GATEWAY_PUBLIC_URL": "https://x.fr", **env})


def test_production_refuses_dev_clients_file_and_pairwise_without_secret(tmp_path, keys_dir):
    from gateway.oidc.app import _load
    from gateway.oidc.settings import DEV_CLIENTS

    with pytest.raises(ConfigError) as refused:
        _production(GATEWAY_OIDC_CLIENTS_FILE=str(DEV_CLIENTS), GATEWAY_OIDC_KEYS_DIR=str(keys_dir))
    assert "oidc.clients_file: a development file, in production mode" in refused.value.problems
    clients = tmp_path / "c.toml"
    clients.write_text(f'[[clients]]\nclient_id = "p"\nredirect_uris = ["https://p.fr/cb"]\n'
                       f'secret_hash = "{GOOD}"\n'
                       'subject_type = "pairwise"\n')
    with pytest.raises(ConfigError, match="pairwise_secret"):
        _load(_production(GATEWAY_OIDC_CLIENTS_FILE=str(clients), GATEWAY_OIDC_KEYS_DIR=str(keys_dir)))


def test_dev_secret_values_are_refused_in_production():
    """The generic rule of gateway.config applies to the new [oidc] secrets."""
    with pytest.raises(ConfigError, match="oidc.pairwise_secret: a development secret"):
        _production(GATEWAY_OIDC_PAIRWISE_SECRET="dev-only-pairwise")


def test_provider_is_off_in_production_without_keys(base_config, redis_client):
    """Like the SAML IdP without its key: no signing key in production -> the OIDC pages answer 404."""
    app = make_app({**base_config, "mode": "production", "public_url": "https://x.fr", "insecure_http": False,
                    "secret_key": DEV_KEY.replace("test", "prod")})
    assert "gateway.oidc" not in app.extensions
    response = app.test_client().get("/.well-known/openid-configuration", base_url="https://x.fr")
    assert response.status_code == 404


def test_lifetimes_must_be_sane():
    with pytest.raises(ConfigError) as refused:
        load_settings({"GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": "d" * 40,
                       "GATEWAY_OIDC_CODE_SECONDS": "900", "GATEWAY_OIDC_ACCESS_TOKEN_SECONDS": "0"})
    assert "oidc.code_seconds: at most 600 (RFC 6749 §4.1.2)" in refused.value.problems
    assert "oidc.access_token_seconds: must be positive" in refused.value.problems


def test_static_keys_from_the_environment_in_production(base_config, redis_client):
    """Production keys may come as PEM text (GATEWAY_OIDC_SIGNING_KEYS or its _FILE) without a key folder."""
    pem = RSAKey.generate_key(2048).as_pem(private=True).decode()
    app = make_app({**base_config, "mode": "production", "public_url": "https://x.fr", "insecure_http": False,
                    "secret_key": DEV_KEY.replace("test", "prod"), "oidc": {"signing_keys": pem}})
    client = app.test_client()
    meta = client.get("/.well-known/openid-configuration", base_url="https://x.fr").get_json()
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    [key] = client.get("/oidc/jwks", base_url="https://x.fr").get_json()["keys"]
    assert key["kid"] == RSAKey.import_key(pem).thumbprint() and "d" not in key
