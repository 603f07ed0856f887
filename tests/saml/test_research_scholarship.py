"""ATT06: the REFEDS Research and Scholarship bundle, through the real SSO flow with a pysaml2 SP.

Three R&S SPs (entity category in their md:EntityAttributes) sit beside the
conftest SPs: ``RS`` with no settings, ``RS_REQUESTED`` listing some
md:RequestedAttribute, ``RS_CONFIGURED`` with its own ``attributes``. MAIN (not
R&S) has a restrictive policy.
"""
from __future__ import annotations

import shutil

import pytest
from saml2 import BINDING_HTTP_POST

from gateway.saml.sp.attributes import policy_attributes, released_names
from gateway.saml.sp.policy import RESEARCH_AND_SCHOLARSHIP_BUNDLE, SpPolicy
from gateway.saml.sp.providers import ENTITY_CATEGORY, RESEARCH_AND_SCHOLARSHIP, ServiceProvider
from tests.saml.conftest import FakeSP, SpSpec, make_key, sp_metadata

ALICE = "alice@univ-exemple.fr"
URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
COCO = "http://www.geant.net/uri/dataprotection-code-of-conduct/v1"
#: What pysaml2 hands the SP for the bundle (eduPersonScopedAffiliation: alice's two affiliations).
BUNDLE_AVA = {
    "eduPersonPrincipalName": ["alice@uness.fr"], "mail": [ALICE], "displayName": ["Alice Martin"],
    "givenName": ["Alice"], "sn": ["Martin"],
    "eduPersonScopedAffiliation": ["student@uness.fr", "member@uness.fr"],
}


def tagged(xml: str, categories: tuple[str, ...], requested: tuple[str, ...] = ()) -> str:
    """SP metadata with entity categories (md:Extensions) and md:RequestedAttribute (by urn:oid Name)."""
    values = "".join(f"<saml:AttributeValue>{c}</saml:AttributeValue>" for c in categories)
    extensions = (
        '<md:Extensions><mdattr:EntityAttributes xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">'
        f'<saml:Attribute Name="{ENTITY_CATEGORY}" NameFormat="{URI}">{values}</saml:Attribute>'
        "</mdattr:EntityAttributes></md:Extensions>")
    head, sep, rest = xml.partition(">")  # the EntityDescriptor start tag
    xml = head + sep + extensions + rest
    if requested:
        wanted = "".join(f'<md:RequestedAttribute Name="{name}" NameFormat="{URI}"/>' for name in requested)
        service = (f'<md:AttributeConsumingService index="0"><md:ServiceName xml:lang="fr">Recherche'
                   f'</md:ServiceName>{wanted}</md:AttributeConsumingService>')
        xml = xml.replace("</md:SPSSODescriptor>", service + "</md:SPSSODescriptor>")
    return xml


@pytest.fixture(scope="session")
def rs_sps(tmp_path_factory) -> dict[str, SpSpec]:
    key = make_key(tmp_path_factory.mktemp("rs-keys"), "rs")

    def spec(host: str) -> SpSpec:
        acs = ((BINDING_HTTP_POST, f"https://{host}/acs", 0, None),)
        return SpSpec(f"https://{host}/shibboleth", acs, key, key_use="signing")  # the oracles lack its key

    return {"RS": spec("rs.example.org"), "RS_REQUESTED": spec("rs-requested.example.org"),
            "RS_CONFIGURED": spec("rs-configured.example.org")}


@pytest.fixture(scope="session")
def rs_sp_dir(tmp_path_factory, sp_dir, rs_sps):
    """The conftest SPs plus the R&S ones (RS_CONFIGURED is R&S and CoCo)."""
    directory = tmp_path_factory.mktemp("rs-sp-metadata")
    for path in sp_dir.glob("*.xml"):
        shutil.copy(path, directory)
    mail, eppn = "urn:oid:0.9.2342.19200300.100.1.3", "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"
    affiliation = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"  # not in the bundle: never added by R&S
    (directory / "rs.xml").write_text(tagged(sp_metadata(rs_sps["RS"]), (RESEARCH_AND_SCHOLARSHIP,)))
    (directory / "rs-requested.xml").write_text(tagged(
        sp_metadata(rs_sps["RS_REQUESTED"]), (RESEARCH_AND_SCHOLARSHIP,), (eppn, mail, affiliation)))
    (directory / "rs-configured.xml").write_text(tagged(
        sp_metadata(rs_sps["RS_CONFIGURED"]), (COCO, RESEARCH_AND_SCHOLARSHIP)))
    return directory


@pytest.fixture
def saml_config(saml_config, rs_sp_dir, rs_sps, sps):
    policies = {**saml_config["saml"]["sp"],
                sps["MAIN"].entity_id: {"attributes": ["eduPersonPrincipalName"]},
                rs_sps["RS_CONFIGURED"].entity_id: {"attributes": ["eduPersonPrincipalName", "mail"]}}
    return {**saml_config, "saml": {**saml_config["saml"], "sp_metadata_dir": str(rs_sp_dir), "sp": policies}}


@pytest.fixture
def released(flow, idp_metadata, alice):
    """The attributes (pysaml2's ava) an SP gets for alice through /saml/sso."""
    def sso(spec: SpSpec) -> dict[str, list[str]]:
        sp = FakeSP(spec, idp_metadata)
        request_id, how = sp.request()
        return sp.parse(flow.sso(how, email=ALICE).saml_response, request_id).ava
    return sso


def test_att06_entity_categories_are_read_once_with_the_metadata(app, rs_sps, sps):
    providers = app.extensions["gateway.saml"].providers
    assert providers[rs_sps["RS"].entity_id].entity_categories == {RESEARCH_AND_SCHOLARSHIP}
    assert providers[rs_sps["RS_CONFIGURED"].entity_id].is_research_and_scholarship
    assert providers[sps["MAIN"].entity_id].entity_categories == frozenset()


def test_att06_an_rs_sp_without_settings_gets_the_bundle(released, rs_sps):
    """REFEDS R&S §6: eppn (never reassigned: no ePTID), names, mail, scoped affiliation."""
    assert released(rs_sps["RS"]) == BUNDLE_AVA


def test_att06_a_non_rs_sp_with_a_restrictive_policy_does_not(released, sps):
    assert set(released(sps["MAIN"])) == {"eduPersonPrincipalName"}


def test_att06_the_bundle_is_cut_to_requested_attributes(released, rs_sps):
    """Cut to md:RequestedAttribute where present; a requested non-bundle attribute is not added."""
    assert released(rs_sps["RS_REQUESTED"]) == {k: BUNDLE_AVA[k] for k in ("eduPersonPrincipalName", "mail")}


def test_att06_an_explicit_attributes_setting_wins(released, rs_sps):
    assert set(released(rs_sps["RS_CONFIGURED"])) == {"eduPersonPrincipalName", "mail"}


@pytest.mark.parametrize("policy, categories, source", [
    (SpPolicy(), frozenset({RESEARCH_AND_SCHOLARSHIP}), "R&S"),
    (SpPolicy(), frozenset({COCO}), "default"),
    (SpPolicy(attributes=("mail",)), frozenset({RESEARCH_AND_SCHOLARSHIP}), "settings"),
])
def test_att06_where_the_policy_comes_from(policy, categories, source):
    sp = ServiceProvider("https://sp.example.org/sp", (), entity_categories=categories, policy=policy)
    assert policy_attributes(sp)[1] == source


def test_att06_requested_only_and_subject_id_still_apply_to_the_bundle():
    rs = frozenset({RESEARCH_AND_SCHOLARSHIP})
    sp = ServiceProvider("https://sp.example.org/sp", (), entity_categories=rs,
                         requested_attributes=frozenset({"mail"}), subject_id_req="pairwise-id",
                         policy=SpPolicy(requested_only=True))
    assert released_names(sp) == ["mail", "pairwise-id"]
    plain = ServiceProvider("https://sp.example.org/sp", (), entity_categories=rs)
    assert released_names(plain) == list(RESEARCH_AND_SCHOLARSHIP_BUNDLE)  # no subject-id, pairwise-id


def test_att06_check_sp_says_where_the_policy_comes_from(app, rs_sps):
    from gateway.cli.saml import describe_sp

    idp = app.extensions["gateway.saml"]
    lines = describe_sp(idp, idp.providers[rs_sps["RS"].entity_id])
    assert f"entity categories: {RESEARCH_AND_SCHOLARSHIP}" in lines
    assert "  attributes (policy, from R&S): " + ", ".join(RESEARCH_AND_SCHOLARSHIP_BUNDLE) in lines
    assert "  liste_rouge: false" in lines
