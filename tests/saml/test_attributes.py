"""Attributes in Renater's words: names, formats, values, release policy (checklist F, NID05, A03)."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.saml.sp.attribute_names import ATTRIBUTES
from gateway.saml.sp.attributes import released_names
from gateway.saml.sp.policy import RENATER_ATTRIBUTES, SpPolicy
from gateway.saml.sp.providers import ServiceProvider
from tests.saml.conftest import NS, assertion_of, re_person

ALICE = "alice@univ-exemple.fr"
URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#: ATT05, checked by hand against SSP name2oid.php and the Shibboleth SP attribute-map (the golden table).
GOLDEN = {
    "eduPersonPrincipalName": "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "displayName": "urn:oid:2.16.840.1.113730.3.1.241",
    "givenName": "urn:oid:2.5.4.42",
    "sn": "urn:oid:2.5.4.4",
    "cn": "urn:oid:2.5.4.3",
    "eduPersonAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
    "eduPersonScopedAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
    "eduPersonPrimaryAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.5",
    "supannEtablissement": "urn:oid:1.3.6.1.4.1.7135.1.2.1.14",
    "supannListeRouge": "urn:oid:1.3.6.1.4.1.7135.1.2.1.1",
    "eduPersonTargetedID": "urn:oid:1.3.6.1.4.1.5923.1.1.1.10",
    "subject-id": "urn:oasis:names:tc:SAML:attribute:subject-id",
    "pairwise-id": "urn:oasis:names:tc:SAML:attribute:pairwise-id",
}


@pytest.fixture
def attributes(flow, sp, alice):
    _, how = sp.request()
    assertion = assertion_of(flow.sso(how, email=ALICE), sp.spec.key)
    found = assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)
    return {a.get("FriendlyName"): a for a in found}


def test_att05_golden_table():
    assert ATTRIBUTES == GOLDEN


def test_att01_names_and_name_format(attributes):
    """ATT01 [BRK]: Name urn:oid (the URN for subject-id/pairwise-id), NameFormat uri, a FriendlyName."""
    assert set(attributes) == set(RENATER_ATTRIBUTES)
    for friendly, attribute in attributes.items():
        assert attribute.get("Name") == GOLDEN[friendly]
        assert attribute.get("NameFormat") == URI


def test_att02_one_value_per_value_as_xs_string(attributes):
    """ATT02: multi-valued -> one AttributeValue each, no delimiter, xsi:type xs:string."""
    values = attributes["eduPersonAffiliation"].findall("saml:AttributeValue", NS)
    assert [v.text for v in values] == ["student", "member"]
    for value in values:
        assert value.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "xs:string"
    assert [v.text for v in attributes["eduPersonPrimaryAffiliation"]] == ["student"]
    assert [v.text for v in attributes["supannEtablissement"]] == ["{UAI}0751717J"]


def test_att_gateway_scoped_eppn_without_legacy_one(attributes):
    assert [v.text for v in attributes["eduPersonPrincipalName"]] == ["alice@uness.fr"]


@pytest.fixture
def imported(make_account):
    """An account with the gateway's eppn, one with a legacy eppn in a configured scope."""
    make_account(ALICE, **re_person())
    make_account("jean@univ-exemple.fr", **re_person(eppn="jean@univ-exemple.fr"))


def test_a03_every_scope_asserted_is_in_the_metadata(imported, flow, sp, client):
    """A03 [BRK]: eppn, scoped affiliation, subject-id and pairwise-id scopes all appear as shibmd:Scope."""
    from tests.saml.conftest import Flow

    scopes = {s.text for s in etree.fromstring(client.get("/saml/metadata").data).iter(
        "{urn:mace:shibboleth:metadata:1.0}Scope")}
    assert "univ-exemple.fr" in scopes
    for email in (ALICE, "jean@univ-exemple.fr"):
        browser = Flow(client.application.test_client())
        _, how = sp.request()
        assertion = assertion_of(browser.sso(how, email=email), sp.spec.key)
        for name in ("eduPersonPrincipalName", "eduPersonScopedAffiliation", "subject-id", "pairwise-id"):
            attribute = assertion.find(f"saml:AttributeStatement/saml:Attribute[@FriendlyName='{name}']", NS)
            for value in attribute.iterfind("saml:AttributeValue", NS):
                assert value.text.rsplit("@", 1)[1] in scopes, (name, value.text, scopes)


def test_att03_release_policy_from_settings(saml_config, redis_client, sps, make_account):
    """ATT03: the configured list only."""
    from tests.conftest import make_app
    from tests.saml.conftest import FakeSP, Flow

    main = sps["MAIN"]
    config = {**saml_config, "saml": {**saml_config["saml"], "sp": {main.entity_id: {
        "attributes": ["eduPersonPrincipalName", "mail"]}}}}
    app = make_app(config)
    make_account(ALICE)
    flow = Flow(app.test_client())
    sp = FakeSP(main, flow.client.get("/saml/metadata").get_data(as_text=True))
    request_id, how = sp.request()
    assert set(sp.parse(flow.sso(how, email=ALICE).saml_response, request_id).ava) == {
        "eduPersonPrincipalName", "mail"}


def provider(**kwargs) -> ServiceProvider:
    policy = kwargs.pop("policy", SpPolicy())
    return ServiceProvider("https://sp.example.org/sp", (), policy=policy, **kwargs)


def test_att03_requested_only():
    """ATT03: with requested_only, what md:RequestedAttribute lists (by Name or FriendlyName)."""
    sp = provider(policy=SpPolicy(requested_only=True),
                  requested_attributes=frozenset({GOLDEN["mail"], "displayName"}))
    assert released_names(sp) == ["mail", "displayName"]


@pytest.mark.parametrize("requirement, expected", [
    (None, {"subject-id", "pairwise-id"}),
    ("subject-id", {"subject-id"}),
    ("pairwise-id", {"pairwise-id"}),
    ("any", {"pairwise-id"}),
    ("none", set()),
])
def test_nid05_subject_id_requirement(requirement, expected):
    """NID05: the SP's subject-id:req entity attribute decides; nothing extra for "none"."""
    names = set(released_names(provider(subject_id_req=requirement)))
    assert names & {"subject-id", "pairwise-id"} == expected


def test_nid05_requirement_read_from_metadata(tmp_path, base_config, redis_client, keys):
    """subject-id:req in the SP's md:EntityAttributes reaches the release decision."""
    from tests.conftest import make_app

    (tmp_path / "sp.xml").write_text("""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
        xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute"
        xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
        entityID="https://req.example.org/sp"><md:Extensions><mdattr:EntityAttributes>
        <saml:Attribute Name="urn:oasis:names:tc:SAML:profiles:subject-id:req"
          NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
          <saml:AttributeValue>pairwise-id</saml:AttributeValue></saml:Attribute></mdattr:EntityAttributes>
        </md:Extensions><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
        <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
          Location="https://req.example.org/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>""")
    app = make_app({**base_config, "saml": {"sp_metadata_dir": str(tmp_path)}})
    sp = app.extensions["gateway.saml"].providers["https://req.example.org/sp"]
    assert sp.subject_id_req == "pairwise-id"
    assert "subject-id" not in released_names(sp) and "pairwise-id" in released_names(sp)
