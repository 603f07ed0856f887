"""``gateway saml check-sp ENTITYID [--user ADDRESS]``, through click's CliRunner with the test Redis
and the SP metadata folder of tests/saml/conftest.py."""
from __future__ import annotations


import pytest

from gateway.accounts.models import Account
from gateway.store import Store

ALICE = "alice@univ-exemple.fr"
FORMAT = "urn:oasis:names:tc:SAML:2.0:nameid-format:"


@pytest.fixture
def run(saml_cli, redis_client, sps):
    return saml_cli(f'[saml.sp."{sps["CBC"].entity_id}"]\n'
                    'attributes = ["mail", "eduPersonTargetedID", "eduPersonPrincipalName"]\n'
                    'name_id_format = "persistent"\nsign_response = false\n', "check-sp")


@pytest.fixture
def camille(make_account, sps) -> Account:
    return make_account("camille@univ-exemple.fr", password=None, given_name="Camille", family_name="Martin",
                        affiliations=("student",), establishment="{UAI}0751717J",
                        eppn="cmartin@univ-exemple.fr", legacy_ids={sps["CBC"].entity_id: "legacy-0001"})


def test_prints_the_metadata_seen(run, sps, keys):
    result = run(sps["MAIN"].entity_id)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"entityID: {sps['MAIN'].entity_id}" in out
    assert "https://sp.example.org/Shibboleth.sso/SAML2/POST  binding=urn:oasis:names:tc:SAML:2.0:bindings:" \
           "HTTP-POST  index=2  isDefault=true" in out
    assert "index=1  isDefault=-" in out and "HTTP-Artifact  index=3" in out
    assert "default (where responses go): https://sp.example.org/Shibboleth.sso/SAML2/POST\n" in out
    import base64
    import hashlib
    digest = hashlib.sha256(base64.b64decode(keys["main"].cert_b64)).hexdigest().upper()
    assert out.count(":".join(digest[i:i + 2] for i in range(0, 64, 2))) == 2  # signing and encryption
    assert "AuthnRequestsSigned: false" in out and "WantAssertionsSigned: false" in out
    assert "settings in force (defaults: no [saml.sp] table):" in out
    assert "encrypt: auto -> encrypted (aes256-gcm)" in out
    assert "name_id_format: transient" in out and "sign_response: true" in out


def test_shows_the_configured_settings(run, sps):
    out = run(sps["CBC"].entity_id).output
    assert "settings in force:" in out
    assert "released: eduPersonPrincipalName (urn:oid:1.3.6.1.4.1.5923.1.1.1.6), mail " in out
    assert "sign_response: false" in out and "name_id_format: persistent" in out
    assert "encrypted (aes256-cbc)" in out  # CRY05: the metadata lists CBC only
    assert "SingleLogoutService:\n  (none)" in out


def test_signed_requests_sp(run, sps):
    out = run(sps["SIGNED"].entity_id).output
    assert "AuthnRequestsSigned: true" in out
    assert out.split("signing keys:\n")[1].split("encryption keys:")[0].count("SHA-256") == 2
    assert "encryption keys:\n  (none)" in out and "encrypt: auto -> not encrypted" in out


def test_user_with_a_legacy_id_gets_it_as_persistent_name_id(run, sps, camille):
    out = run(sps["CBC"].entity_id, "--user", "camille@univ-exemple.fr").output
    assert f"NameID: format={FORMAT}persistent\n  value: legacy-0001  (legacy identifier" in out
    assert "  eduPersonPrincipalName  urn:oid:1.3.6.1.4.1.5923.1.1.1.6\n    cmartin@univ-exemple.fr" in out
    assert "  mail  urn:oid:0.9.2342.19200300.100.1.3\n    camille@univ-exemple.fr" in out
    assert "urn:oid:1.3.6.1.4.1.5923.1.1.1.10\n    NameID format=" + FORMAT + "persistent" in out
    assert "SPNameQualifier=" + sps["CBC"].entity_id + ": legacy-0001" in out
    assert "displayName" not in out.split("attributes:")[-1]


def test_user_without_persistent_id_nothing_is_created(run, sps, camille, redis_client):
    out = run(sps["MAIN"].entity_id, "--user", "camille@univ-exemple.fr").output
    assert f"NameID: format={FORMAT}transient\n  value: (random, one per SSO session and SP)" in out
    assert "eduPersonTargetedID  urn:oid:1.3.6.1.4.1.5923.1.1.1.10\n    (none yet" in out
    assert "pairwise-id  urn:oasis:names:tc:SAML:attribute:pairwise-id\n    (none yet" in out
    assert "  subject-id  urn:oasis:names:tc:SAML:attribute:subject-id\n    " in out
    assert "  eduPersonAffiliation  urn:oid:1.3.6.1.4.1.5923.1.1.1.1\n    student\n" in out
    assert not redis_client.keys("*persistent-id*")  # read-only


def test_user_with_a_stored_persistent_id(run, sps, camille, redis_client):
    from gateway.saml.sp.nameids import NameIds

    stored = NameIds(Store(redis_client), "http://127.0.0.1:8000/saml/metadata").persistent_value(
        camille, sps["MAIN"].entity_id)
    out = run(sps["MAIN"].entity_id, "--user", "camille").output
    assert f"SPNameQualifier={sps['MAIN'].entity_id}: {stored}" in out


@pytest.mark.parametrize("unknown", ["sp", "user"])
def test_unknown_sp_or_address_is_one_line_and_exit_1(run, sps, unknown):
    if unknown == "sp":
        result, expected = run("https://nobody.example.org/sp"), "no SP https://nobody.example.org/sp"
    else:
        result, expected = run(sps["MAIN"].entity_id, "--user", ALICE), f"no account with the address {ALICE}"
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("gateway:")]
    assert len(lines) == 1 and expected in lines[0]
    assert result.stdout == ""
