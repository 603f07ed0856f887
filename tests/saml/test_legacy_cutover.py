"""Issue 11 over SAML, with a real pysaml2 SP: what each application already stores comes back.

* the SP's legacy eppn replaces the account's eppn (and scopes its affiliations);
* a legacy persistent id imported with the former IdP's qualifiers is sent with them as the NameID
  even when the SP asks for transient (``legacy_name_id``, on by default), eduPersonTargetedID then
  left out (the SP would see it twice); asked for by name, both carry the qualifiers;
* with ``legacy_name_id = false`` the SP gets the transient NameID it asked for;
* the SLO of a session whose NameID carries the former qualifiers matches that NameID.
"""
from __future__ import annotations

import pytest
from saml2.samlp import NameIDPolicy

from gateway.accounts.models import NameQualifiers
from gateway.saml.sp.nameids import FORMATS, IssuedNameId
from gateway.saml.slo.messages import LogoutRequestIn, matches
from gateway.identity.parties import Parties
from tests.conftest import make_app
from tests.saml.conftest import NS, Flow, assertion_of, re_person

ALICE = "alice@univ-exemple.fr"
GATEWAY = "http://127.0.0.1:8000/saml/metadata"
FORMER_IDP = "https://idp.univ-exemple.fr/idp/shibboleth"
TRANSIENT, PERSISTENT = FORMATS["transient"], FORMATS["persistent"]


@pytest.fixture
def moved(make_account, sps, sp_oracles):
    """Alice as the former IdPs knew her: jdupont@univ-exemple.fr at MAIN (qualified persistent id),
    alice.martin@univ.fr at the SimpleSAMLphp SP (plain persistent id)."""
    main, ssp = sps["MAIN"].entity_id, sps["CBC"].entity_id
    sp_oracles.accept_name_qualifiers(FORMER_IDP)  # the SP configured as the runbook says
    return make_account(ALICE, **re_person(
        eppn="alice@univ-exemple.fr",
        legacy_eppns={main: "jdupont@Univ-Exemple.fr", ssp: "alice.martin@univ.fr"},
        legacy_ids={main: "Kx3/legacy=", ssp: "ssp-0042"},
        legacy_qualifiers={main: NameQualifiers(FORMER_IDP)}))


def sso(flow, sp, email=ALICE, **kwargs):
    request_id, how = sp.request(**kwargs)
    posted = flow.sso(how, email=email)
    return posted, sp.parse(posted.saml_response, request_id)


def test_an_sp_asking_for_transient_gets_the_legacy_persistent_id_with_the_former_qualifiers(flow, sp, moved,
                                                                                             sp_oracles):
    posted, result = sso(flow, sp, name_id_policy=NameIDPolicy(format=TRANSIENT, allow_create="true"))
    assert (result.name_id.format, result.name_id.text) == (PERSISTENT, "Kx3/legacy=")
    assert (result.name_id.name_qualifier, result.name_id.sp_name_qualifier) == (FORMER_IDP, sp.spec.entity_id)
    # The NameID carries the identifier in place of eduPersonTargetedID (Shibboleth SP would join both: X;X).
    assert assertion_of(posted, sp.spec.key).find(
        "saml:AttributeStatement/saml:Attribute[@FriendlyName='eduPersonTargetedID']", NS) is None
    assert result.ava["eduPersonPrincipalName"] == ["jdupont@Univ-Exemple.fr"]  # byte for byte
    assert sorted(result.ava["eduPersonScopedAffiliation"]) == ["member@Univ-Exemple.fr", "student@Univ-Exemple.fr"]
    shibboleth = sp_oracles.verdicts[-1].shibboleth  # what the application behind a Shibboleth SP 3 sees
    assert shibboleth.remote_user == "jdupont@Univ-Exemple.fr"
    assert shibboleth.attributes["persistent-id"] == [f"{FORMER_IDP}!{sp.spec.entity_id}!Kx3/legacy="]


def test_each_sp_gets_its_own_legacy_eppn_and_unspecified_gets_the_legacy_id(flow, make_sp, moved):
    ssp = make_sp("CBC")
    _, result = sso(flow, ssp)  # no NameIDPolicy format: unspecified
    assert (result.name_id.format, result.name_id.text) == (PERSISTENT, "ssp-0042")
    assert (result.name_id.name_qualifier, result.name_id.sp_name_qualifier) == (GATEWAY, ssp.spec.entity_id)
    assert result.ava["eduPersonPrincipalName"] == ["alice.martin@univ.fr"]
    _, email_sp = sso(flow, make_sp("EMAIL"), email=None)  # no legacy eppn there: the account's own
    assert email_sp.ava["eduPersonPrincipalName"] == ["alice@univ-exemple.fr"]


def test_with_legacy_name_id_off_the_sp_gets_the_transient_it_asks_for(saml_config, sps, redis_client, make_sp,
                                                                      moved):
    main = sps["MAIN"].entity_id
    strict = make_app({**saml_config, "saml": {**saml_config["saml"], "sp": {
        **saml_config["saml"]["sp"], main: {"legacy_name_id": False}}}})
    _, result = sso(Flow(strict.test_client()), make_sp("MAIN"),
                    name_id_policy=NameIDPolicy(format=TRANSIENT, allow_create="true"))
    assert result.name_id.format == TRANSIENT and result.name_id.text != "Kx3/legacy="
    _, asked = sso(Flow(strict.test_client()), make_sp("MAIN"),
                   name_id_policy=NameIDPolicy(format=PERSISTENT, allow_create="true"))
    assert (asked.name_id.text, asked.name_id.name_qualifier) == ("Kx3/legacy=", FORMER_IDP)
    assert asked.ava["eduPersonTargetedID"] == ["Kx3/legacy="]


def test_single_logout_matches_the_nameid_with_the_former_qualifiers(flow, sp, moved, app, redis_client):
    """The parties record keeps the issued qualifiers: a LogoutRequest must carry the former IdP's."""
    sso(flow, sp)
    sessions = [key.rsplit(":", 1)[-1] for key in redis_client.scan_iter(match=Parties.key("*"))]
    assert len(sessions) == 1
    parties = Parties(app.extensions["gateway.store"])
    for qualifier, expected in ((FORMER_IDP, True), (GATEWAY, False)):
        name_id = IssuedNameId("Kx3/legacy=", PERSISTENT, qualifier, sp.spec.entity_id)
        request = LogoutRequestIn("_l1", sp.spec.entity_id, name_id, (), None, False)
        assert matches(parties, sessions[0], request) is expected
