"""A03, issue 9: the gateway speaks only for the configured scopes, whatever a SCIM client writes.

The attack of the review: a SCIM client sets ``eppn = president@univ-paris.fr`` on
an account it provisions; the metadata then declared ``univ-paris.fr`` and the
SSO asserted it. Now the write is refused, the metadata does not move, and an
eppn written before the rule is withheld from every Response.
"""
from __future__ import annotations



from tests.saml.conftest import NS, Flow, assertion_of, re_person
from tests.scim.conftest import EXT, Scim, assert_error, patch
from tests.scim.conftest import audit_records  # noqa: F401  (a fixture shared with the SCIM tests)

ALICE = "alice@univ-exemple.fr"


def asserted(client, sp, email: str = ALICE) -> dict[str, list[str]]:
    _, how = sp.request()
    assertion = assertion_of(Flow(client.application.test_client()).sso(how, email=email), sp.spec.key)
    return {a.get("FriendlyName"): [v.text for v in a.iterfind("saml:AttributeValue", NS)]
            for a in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)}


def test_scim_client_cannot_make_the_gateway_speak_for_another_domain(make_account, client, sp):
    make_account(ALICE, **re_person(eppn="alice@univ-exemple.fr"))
    before = client.get("/saml/metadata").data
    scim = Scim(client)
    body = patch({"op": "replace", "path": f"{EXT}:eppn", "value": "president@univ-paris.fr"})
    assert_error(scim.patch("/Users/alice", body), 400, "invalidValue",
                 "eppn: scope 'univ-paris.fr' is not one the gateway may assert")
    created = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", EXT],
                                   "userName": "m@univ-exemple.fr", EXT: {"eppn": "president@univ-paris.fr"}})
    assert_error(created, 400, "invalidValue")
    assert client.get("/saml/metadata").data == before
    assert b"univ-paris.fr" not in before
    values = asserted(client, sp)
    assert values["eduPersonPrincipalName"] == ["alice@univ-exemple.fr"]


def test_an_old_eppn_out_of_scope_is_withheld_and_audited(make_account, client, sp, redis_client, audit_records):
    """An account written before the rule: no eppn and no scoped affiliation in its scope, an audit line."""
    make_account(ALICE, **re_person())
    redis_client.hset("gw:user:alice", "eppn", "president@univ-paris.fr")
    values = asserted(client, sp)
    assert "eduPersonPrincipalName" not in values and "eduPersonScopedAffiliation" not in values
    assert not any("univ-paris.fr" in (v or "") for found in values.values() for v in found)
    assert values["eduPersonAffiliation"] == ["student", "member"]  # the rest is still released
    withheld = [r for r in audit_records if r.getMessage() == "saml.sso.eppn_withheld"]
    assert [(r.account, r.scope) for r in withheld] == [("alice", "univ-paris.fr")]
    assert b"univ-paris.fr" not in client.get("/saml/metadata").data
