"""Identity continuity across a restore: ``gateway users export`` -> ``import`` into an empty Redis, and
every SP still sees the same person (README "Identity continuity")."""
from __future__ import annotations

import json

from saml2.samlp import NameIDPolicy

from gateway.saml.sp.nameids import FORMATS
from tests.cli.conftest import cli_environ, invoke, restore_logging, set_environ  # noqa: F401 (fixture)
from tests.conftest import make_app
from tests.saml.conftest import Flow

ALICE = "alice@univ-exemple.fr"
MAIN = "https://sp.example.org/shibboleth"


def sso(flow, sp, email):
    policy = NameIDPolicy(format=FORMATS["persistent"], allow_create="true")
    request_id, how = sp.request(name_id_policy=policy)
    return sp.parse(flow.sso(how, email=email).saml_response, request_id)


def test_same_persistent_name_id_and_targeted_id_after_export_and_import_into_an_empty_redis(
        flow, sp, alice, saml_config, redis_server, empty_redis_url, monkeypatch):
    before = sso(flow, sp, ALICE)
    set_environ(monkeypatch, cli_environ(redis_server.url))
    exported = invoke("users", "export").stdout
    assert json.loads(exported)["saml_persistent_ids"] == {MAIN: before.name_id.text}

    set_environ(monkeypatch, cli_environ(empty_redis_url))
    imported = invoke("users", "import", "-", input=exported)
    assert imported.stdout.strip() == "created 1, updated 0, unchanged 0, rejected 0", imported.stderr

    restored = make_app({**saml_config, "redis": {"url": empty_redis_url}})
    after = sso(Flow(restored.test_client()), sp, ALICE)  # signs in again: the password hash came too
    assert after.name_id.text == before.name_id.text
    for name in ("eduPersonTargetedID", "pairwise-id", "subject-id", "eduPersonPrincipalName"):
        assert after.ava[name] == before.ava[name], name
    assert before.ava["eduPersonTargetedID"] == [before.name_id.text]
