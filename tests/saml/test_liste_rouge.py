"""ATT07: supannListeRouge, through the real SSO flow with a pysaml2 SP.

MAIN has no settings (not authorised); EMAIL is authorised (``liste_rouge =
true``) and lists supannListeRouge; CBC lists it without being authorised.
Shibboleth SP 3's default attribute-map does not know supannListeRouge, so the
tests releasing it tell the SP oracle (TST07) that an SP listing it maps it.
"""
from __future__ import annotations

import pytest

from saml2.samlp import NameIDPolicy

from gateway.saml.sp.attributes import LISTE_ROUGE_HIDDEN, account_values, release, released_names
from gateway.saml.sp.nameids import FORMATS, IssuedNameId
from gateway.saml.sp.policy import SpPolicy, parse_policies
from gateway.saml.sp.providers import RESEARCH_AND_SCHOLARSHIP, ServiceProvider
from tests.saml.conftest import FakeSP, status_codes, re_person

ALICE = "alice@univ-exemple.fr"
CONTACT = {"displayName", "cn", "givenName", "sn", "mail"}


MAPPED = "supannListeRouge: an SP whose attributes list it maps it (not in the default attribute-map)"


@pytest.fixture
def saml_config(saml_config, sps):
    listed = ["eduPersonPrincipalName", "mail", "displayName", "supannListeRouge"]
    policies = {**saml_config["saml"]["sp"], sps["CBC"].entity_id: {"attributes": listed, "email_name_id": True,
                                                                     "name_id_format": "email"}}
    policies[sps["EMAIL"].entity_id] = {**policies[sps["EMAIL"].entity_id], "liste_rouge": True,
                                        "attributes": listed}
    return {**saml_config, "saml": {**saml_config["saml"], "sp": policies}}


@pytest.fixture
def released(flow, idp_metadata):
    """The attributes (pysaml2's ava) an SP gets for ``email`` through /saml/sso."""
    def sso(spec, email: str = ALICE) -> dict[str, list[str]]:
        sp = FakeSP(spec, idp_metadata)
        request_id, how = sp.request()
        return sp.parse(flow.sso(how, email=email).saml_response, request_id).ava
    return sso


@pytest.fixture
def rouge(make_account):
    return make_account(ALICE, **re_person(liste_rouge=True))


def test_att07_names_and_mail_are_withheld_from_sps_not_authorised(rouge, released, sps):
    ava = released(sps["MAIN"])
    assert not CONTACT & set(ava)
    assert ava["eduPersonPrincipalName"] == ["alice@uness.fr"]  # identifiers and affiliations still go
    assert ava["eduPersonAffiliation"] == ["student", "member"]
    assert "supannListeRouge" not in ava  # not in the default policy


def test_att07_an_authorised_sp_gets_them_and_supann_liste_rouge(rouge, released, sps, sp_oracles):
    sp_oracles.allow_refusal(MAPPED)
    assert released(sps["EMAIL"]) == {"eduPersonPrincipalName": ["alice@uness.fr"], "mail": [ALICE],
                                      "displayName": ["Alice Martin"], "supannListeRouge": ["TRUE"]}


def test_att07_supann_liste_rouge_where_the_policy_lists_it(rouge, released, sps, sp_oracles):
    """Not authorised: neither mail nor displayName, though listed; supannListeRouge, listed, says why."""
    sp_oracles.allow_refusal(MAPPED)
    assert released(sps["CBC"]) == {"eduPersonPrincipalName": ["alice@uness.fr"],
                                    "supannListeRouge": ["TRUE"]}


def test_att07_a_person_not_on_the_list_is_unchanged(alice, released, sps, sp_oracles):
    assert CONTACT <= set(released(sps["MAIN"]))
    sp_oracles.allow_refusal(MAPPED)
    assert released(sps["CBC"])["supannListeRouge"] == ["FALSE"]


EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def test_att07_no_email_name_id_to_an_sp_not_authorised(rouge, flow, idp_metadata, sps, sp_oracles):
    """CBC may have emailAddress NameIDs (its default), but is not authorised for the liste rouge: asked
    by name -> InvalidNameIDPolicy; by its default -> a transient NameID, never the address."""
    sp_oracles.allow_refusal(MAPPED)
    sp = FakeSP(sps["CBC"], idp_metadata)
    _, how = sp.request(name_id_policy=NameIDPolicy(format=EMAIL_FORMAT))
    assert status_codes(flow.sso(how, email=ALICE))[-1].endswith(":InvalidNameIDPolicy")
    request_id, how = sp.request()
    result = sp.parse(flow.sso(how).saml_response, request_id)
    assert result.name_id.format.endswith(":transient") and ALICE not in result.name_id.text


def test_att07_email_name_id_to_an_authorised_sp(rouge, flow, idp_metadata, sps, sp_oracles):
    sp_oracles.allow_refusal(MAPPED)
    sp = FakeSP(sps["EMAIL"], idp_metadata)
    request_id, how = sp.request(name_id_policy=NameIDPolicy(format=EMAIL_FORMAT))
    assert sp.parse(flow.sso(how, email=ALICE).saml_response, request_id).name_id.text == ALICE


def test_att07_supann_liste_rouge_is_in_no_default_set():
    """Not even for an authorised SP: the default Shibboleth SP attribute-map would drop it."""
    for policy in (SpPolicy(), SpPolicy(liste_rouge=True)):
        assert "supannListeRouge" not in released_names(ServiceProvider("https://sp.example.org/sp", (),
                                                                        policy=policy))


def test_att07_liste_rouge_wins_over_research_and_scholarship(make_account):
    """An R&S SP not authorised gets eppn and the scoped affiliation only."""
    rs = frozenset({RESEARCH_AND_SCHOLARSHIP})
    sp = ServiceProvider("https://rs.example.org/sp", (), entity_categories=rs)
    persistent = IssuedNameId("p", FORMATS["persistent"], "https://idp.example.org", sp.entity_id)
    rouge = make_account(ALICE, **re_person(liste_rouge=True))
    values = account_values(rouge, sp, "uness.fr", persistent, scopes=("uness.fr",))
    assert set(release(sp, values)) == {"eduPersonPrincipalName", "eduPersonScopedAffiliation"}
    assert LISTE_ROUGE_HIDDEN == CONTACT


def test_att07_a_bad_liste_rouge_setting_is_one_line():
    policies, problems = parse_policies({"https://a.example.org/sp": {"liste_rouge": "yes"}})
    assert problems == ["saml.sp.'https://a.example.org/sp'.liste_rouge: true or false, not 'yes'"]
    assert parse_policies({"https://a.example.org/sp": {"liste_rouge": True}})[0][
        "https://a.example.org/sp"] == SpPolicy(liste_rouge=True)
