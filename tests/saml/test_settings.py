"""The IdP's settings: keys (A04), dev-only key refused in production, per-SP policy, SP metadata files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway import ROOT
from gateway.config import ConfigError, load_settings
from gateway.saml.settings import SamlSettings
from gateway.saml.sp.policy import parse_policies
from gateway.saml.wire.keys import DEV_CERT, DEV_KEY, pem_block
from tests.conftest import DEV_KEY as SECRET, make_app

PRODUCTION = {"GATEWAY_MODE": "production", "GATEWAY_PUBLIC_URL": "https://connexion.uness.fr",
              "GATEWAY_SECRET_KEY": SECRET}


def problems_of(environ: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    return caught.value.problems


def production_app(redis_server, tmp_path: Path, **saml) -> object:
    config = {"mode": "production", "public_url": "https://connexion.uness.fr", "secret_key": SECRET,
              "redis": {"url": redis_server.url}, "saml": {"sp_metadata_dir": str(tmp_path), **saml}}
    return make_app(config)


def test_dev_key_files_refused_in_production():
    found = problems_of({**PRODUCTION, "GATEWAY_SAML_SIGNING_KEY_FILE": str(DEV_KEY),
                         "GATEWAY_SAML_SIGNING_CERT_FILE": str(DEV_CERT)})
    assert "saml.signing_key: a development secret in production mode" in found
    assert any(p.startswith("saml.signing_key: read from") and "a development file" in p for p in found)


def test_dev_certificate_refused_in_production_even_copied_without_its_marker(tmp_path, redis_server,
                                                                              redis_client):
    (tmp_path / "k.pem").write_text(pem_block(DEV_KEY.read_text()))
    with pytest.raises(ConfigError) as caught:
        production_app(redis_server, tmp_path, signing_key=pem_block(DEV_KEY.read_text()),
                       signing_cert=pem_block(DEV_CERT.read_text()), technical_contact="t@uness.fr")
    assert "saml.signing_cert: the dev-only certificate of config/dev/saml, in production mode" in \
        caught.value.problems


def test_production_without_a_signing_key_turns_the_idp_off(tmp_path, redis_server, redis_client):
    app = production_app(redis_server, tmp_path)
    assert "gateway.saml" not in app.extensions
    assert app.test_client().get("/saml/metadata", base_url="https://connexion.uness.fr").status_code == 404


def test_production_with_a_key(tmp_path, redis_server, redis_client, keys):
    pair = keys["idp-next"]
    cert = Path(pair.cert_file).read_text()
    with pytest.raises(ConfigError) as caught:
        production_app(redis_server, tmp_path, signing_key=pair.key_pem.decode(), signing_cert=cert)
    assert caught.value.problems == ["saml.technical_contact: required in production (md:ContactPerson, A07)"]
    app = production_app(redis_server, tmp_path, signing_key=pair.key_pem.decode(), signing_cert=cert,
                         technical_contact="technique@uness.fr")
    metadata = app.test_client().get("/saml/metadata", base_url="https://connexion.uness.fr")
    assert metadata.status_code == 200 and pair.cert_b64.encode() in metadata.data
    assert b"https://connexion.uness.fr/saml/sso" in metadata.data


def test_production_needs_the_sp_metadata_folder(redis_server, redis_client, keys, tmp_path):
    pair = keys["idp-next"]
    with pytest.raises(ConfigError) as caught:
        production_app(redis_server, tmp_path / "missing", signing_key=pair.key_pem.decode(),
                       signing_cert=Path(pair.cert_file).read_text(), technical_contact="t@uness.fr")
    assert caught.value.problems[0].startswith("saml.sp_metadata_dir: no such folder")


def test_the_default_sp_metadata_folder_exists():
    assert (ROOT / SamlSettings().sp_metadata_dir).is_dir()


@pytest.mark.parametrize("settings, expected", [
    (SamlSettings(crypto_backend="openssl"), "saml.crypto_backend: must be xmlsec or xmlsec1, not 'openssl'"),
    (SamlSettings(session_hours=4), "saml.session_hours: 0 (omitted) or at least 8"),
    (SamlSettings(assertion_lifetime=3600), "saml.assertion_lifetime: between 30 and 600 seconds"),
    (SamlSettings(clock_skew=3600), "saml.clock_skew: between 0 and 600 seconds"),
    (SamlSettings(signing_key="x"), "saml.signing_key and saml.signing_cert: give both or neither"),
    (SamlSettings(display_name={"de": "UNESS"}), "saml.display_name: languages fr and en only"),
    (SamlSettings(metadata_valid_days=60), "saml.metadata_valid_days: between 1 and 28"),
    (SamlSettings(sirtfi=True), "saml.sirtfi: needs saml.security_contact"),
])
def test_saml_settings_problems(settings, expected):
    assert any(p.startswith(expected) for p in settings.problems(production=False))


def test_sp_policy_problems_are_all_listed():
    _, found = parse_policies({
        "https://a.example.org/sp": {"colour": "blue", "attributes": ["mail", "shoeSize"],
                                     "encrypt": "maybe"},
        "https://b.example.org/sp": {"sign_response": False, "sign_assertion": False},
        "https://c.example.org/sp": {"encryption_method": "tripledes-cbc", "name_id_format": "kerberos"},
        "https://d.example.org/sp": "not a table",
    })
    assert "saml.sp.'https://a.example.org/sp'.colour: unknown key" in found
    assert any("attributes: unknown attribute(s) shoeSize" in p for p in found)
    assert any(".encrypt: auto, true or false" in p for p in found)
    assert any("sign_response and sign_assertion cannot both be false" in p for p in found)
    assert any(".encryption_method: auto or one of aes256-gcm" in p for p in found)
    assert any(".name_id_format: transient, persistent or email" in p for p in found)
    assert "saml.sp.'https://d.example.org/sp': must be a table" in found


def test_sp_policy_values():
    policies, found = parse_policies({"https://a.example.org/sp": {
        "attributes": ["mail"], "encrypt": "auto", "encryption_method": "aes256-cbc", "email_name_id": True,
        "form_action": ["https://app.example.org"]}})
    assert found == []
    policy = policies["https://a.example.org/sp"]
    assert policy.attributes == ("mail",) and policy.encrypt is None
    assert policy.encryption_method == "aes256-cbc"
    assert policy.email_name_id and policy.form_action == ("https://app.example.org",)


def test_encrypt_true_needs_an_encryption_key_in_the_metadata(saml_config, redis_client, sps):
    saml = {**saml_config["saml"], "sp": {sps["SIGNED"].entity_id: {"encrypt": True}}}
    config = {**saml_config, "saml": saml}
    with pytest.raises(ConfigError) as caught:
        make_app(config)
    assert "encrypt: true, but its metadata has no encryption key" in caught.value.problems[0]


@pytest.mark.parametrize("content, expected", [
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><md:EntityDescriptor '
     'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">&e;</md:EntityDescriptor>', "refused"),
    ("<md:EntityDescriptor", "refused"),
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
     'entityID="https://x.example.org/sp">'
     '<md:SPSSODescriptor/></md:EntityDescriptor>', "cannot be loaded"),
])
def test_bad_sp_metadata_stops_the_start(tmp_path, base_config, redis_client, content, expected):
    """SEC02: SP metadata goes through defusedxml too; a file pysaml2 cannot load is a configuration error."""
    (tmp_path / "bad.xml").write_text(content)
    with pytest.raises(ConfigError) as caught:
        make_app({**base_config, "saml": {"sp_metadata_dir": str(tmp_path)}})
    assert expected in caught.value.problems[0]


def test_an_entity_id_in_two_files_stops_the_start(tmp_path, base_config, redis_client, sp_dir):
    shutil.copy(sp_dir / "main.xml", tmp_path / "a.xml")
    shutil.copy(sp_dir / "main.xml", tmp_path / "b.xml")
    with pytest.raises(ConfigError) as caught:
        make_app({**base_config, "saml": {"sp_metadata_dir": str(tmp_path)}})
    assert "https://sp.example.org/shibboleth is in both" in caught.value.problems[0]


def test_keys_must_be_strong_and_match(tmp_path, base_config, redis_client, keys):
    """A04: RSA >= 2048 bits, and the certificate of that key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    cert = Path(keys["idp-next"].cert_file).read_text()
    cases = ((weak, "RSA of at least 2048 bits"), (keys["main"].key_pem.decode(), "does not match"))
    for key, expected in cases:
        with pytest.raises(ConfigError) as caught:
            make_app({**base_config, "saml": {"signing_key": key, "signing_cert": cert,
                                              "sp_metadata_dir": str(tmp_path)}})
        assert expected in caught.value.problems[0]
