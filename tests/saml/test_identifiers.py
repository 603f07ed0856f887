"""NameIDs and subject identifiers that SPs key their users on (checklist E, REQ10)."""
from __future__ import annotations

import re

import pytest
from saml2.samlp import NameIDPolicy

from gateway.saml.errors import InvalidNameIDPolicy
from gateway.saml.sp.nameids import FORMATS, NameIdPolicy, choose_format
from gateway.saml.sp.policy import SpPolicy
from gateway.saml.sp.providers import ServiceProvider
from tests.conftest import make_app
from tests.saml.conftest import NS, Flow, assertion_of, status_codes, re_person

ALICE = "alice@univ-exemple.fr"
IDP = "http://127.0.0.1:8000/saml/metadata"
MAIN = "https://sp.example.org/shibboleth"
TRANSIENT, PERSISTENT, EMAIL = FORMATS["transient"], FORMATS["persistent"], FORMATS["email"]


def persistent_policy(allow_create: str = "true") -> NameIDPolicy:
    return NameIDPolicy(format=PERSISTENT, allow_create=allow_create)


def sso(flow, sp, email=ALICE, **kwargs):
    request_id, how = sp.request(**kwargs)
    posted = flow.sso(how, email=email)
    return posted, sp.parse(posted.saml_response, request_id)


def test_nid02_persistent_name_id_with_qualifiers_stable_across_sessions(flow, sp, alice, app):
    """NID02 [BRK]: Format persistent, NameQualifier = IdP, SPNameQualifier = SP; the same at every
    sign-in.
    """
    _, first = sso(flow, sp, name_id_policy=persistent_policy())
    assert first.name_id.format == PERSISTENT
    assert first.name_id.name_qualifier == IDP and first.name_id.sp_name_qualifier == MAIN
    _, second = sso(Flow(app.test_client()), sp, name_id_policy=persistent_policy())
    assert second.name_id.text == first.name_id.text


def test_nid02_persistent_differs_per_sp(flow, sp, make_sp, alice):
    _, main = sso(flow, sp, name_id_policy=persistent_policy())
    _, other = sso(flow, make_sp("CBC"), email=None, name_id_policy=persistent_policy())
    assert main.name_id.text != other.name_id.text


def test_nid02_persistent_survives_a_new_secret_key(flow, sp, alice, saml_config, redis_client):
    """NID02, NID07: stored once in Redis (no TTL), never derived from a secret that may rotate."""
    _, before = sso(flow, sp, name_id_policy=persistent_policy())
    rotated = make_app({**saml_config, "secret_key": "another-secret-key-0123456789abcdef-rotated"})
    _, after = sso(Flow(rotated.test_client()), sp, name_id_policy=persistent_policy())
    assert after.name_id.text == before.name_id.text
    assert redis_client.ttl("gw:saml:persistent-id:alice") == -1  # durable, like accounts


def test_req10_persistent_without_allow_create_and_nothing_stored_is_invalid_name_id_policy(flow, sp, alice):
    """REQ10: InvalidNameIDPolicy only when truly impossible: AllowCreate=false and no identifier yet."""
    request_id, how = sp.request(name_id_policy=persistent_policy("false"))
    posted = flow.sso(how, email=ALICE)
    assert status_codes(posted)[-1] == "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
    _, created = sso(flow, sp, email=None, name_id_policy=persistent_policy("true"))
    _, again = sso(flow, sp, email=None, name_id_policy=persistent_policy("false"))
    assert again.name_id.text == created.name_id.text


def test_req10_email_name_id_for_an_sp_allowed_to_get_it(flow, make_sp, alice):
    """REQ10, NID08: emailAddress for the SP configured with email_name_id: the primary verified address."""
    _, result = sso(flow, make_sp("EMAIL"), name_id_policy=NameIDPolicy(format=EMAIL))
    assert result.name_id.format == EMAIL and result.name_id.text == ALICE


def test_req10_email_name_id_refused_to_other_sps(flow, sp, alice):
    """REQ10: Format=emailAddress from an SP not configured for it -> InvalidNameIDPolicy."""
    _, how = sp.request(name_id_policy=NameIDPolicy(format=EMAIL))
    assert status_codes(flow.sso(how, email=ALICE))[-1].endswith(":InvalidNameIDPolicy")


def test_req10_affiliation_sp_name_qualifier_is_refused(flow, sp, alice):
    policy = NameIDPolicy(format=PERSISTENT, allow_create="true",
                          sp_name_qualifier="https://affiliation.example.org")
    _, how = sp.request(name_id_policy=policy)
    assert status_codes(flow.sso(how, email=ALICE))[-1].endswith(":InvalidNameIDPolicy")


def sp_with(name_id_formats=(), **policy) -> ServiceProvider:
    return ServiceProvider(MAIN, (), name_id_formats=tuple(name_id_formats), policy=SpPolicy(**policy))


@pytest.mark.parametrize("asked, metadata, configured, expected", [
    (None, (), "transient", TRANSIENT),
    ("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", (), "transient", TRANSIENT),
    (PERSISTENT, (), "transient", PERSISTENT),
    (None, (PERSISTENT, TRANSIENT), "transient", PERSISTENT),
    (None, ("urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos", TRANSIENT), "persistent", TRANSIENT),
    (None, (), "persistent", PERSISTENT),
    (TRANSIENT, (PERSISTENT,), "persistent", TRANSIENT),
])
def test_nid03_format_selection_order(asked, metadata, configured, expected):
    """NID03: the request's Format, then the SP metadata's first supported NameIDFormat, then the SP's
    default.
    """
    assert choose_format(sp_with(metadata, name_id_format=configured), NameIdPolicy(asked)) == expected


@pytest.mark.parametrize("asked", [EMAIL, "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"])
def test_nid03_unavailable_format(asked):
    with pytest.raises(InvalidNameIDPolicy):
        choose_format(sp_with(), NameIdPolicy(asked))


# -- legacy identifiers (NID06, NID07) ---------------------------------------------------------------

@pytest.fixture
def legacy(make_account):
    """An imported account: the eppn its university's IdP sent, and the persistent id MAIN already stores."""
    return make_account("jean.dupont@univ-exemple.fr", account_id="jdupont", **re_person(
        eppn="Jean.Dupont@Univ-Exemple.fr", legacy_ids={MAIN: "Kx3/legacy+persistent=id"}))


def test_nid07_legacy_persistent_name_id_released_exactly(flow, sp, legacy):
    """NID07 [BRK]: legacy_ids[SP] is the persistent NameID for that SP, byte for byte."""
    _, result = sso(flow, sp, email="jean.dupont@univ-exemple.fr", name_id_policy=persistent_policy())
    assert result.name_id.text == "Kx3/legacy+persistent=id"
    assert result.name_id.name_qualifier == IDP and result.name_id.sp_name_qualifier == MAIN


def test_nid06_legacy_targeted_id_is_name_id_valued(flow, sp, legacy):
    """NID06 [BRK]: eduPersonTargetedID's value is a saml:NameID (persistent, qualified), not a string."""
    posted, result = sso(flow, sp, email="jean.dupont@univ-exemple.fr", name_id_policy=persistent_policy())
    assertion = assertion_of(posted, sp.spec.key)
    attribute = assertion.find(
        "saml:AttributeStatement/saml:Attribute[@FriendlyName='eduPersonTargetedID']", NS)
    assert attribute.get("Name") == "urn:oid:1.3.6.1.4.1.5923.1.1.1.10"
    value = attribute.find("saml:AttributeValue", NS)
    assert value.get("{http://www.w3.org/2001/XMLSchema-instance}nil") is None
    name_id = value.find("saml:NameID", NS)
    assert name_id.text == "Kx3/legacy+persistent=id" and name_id.get("Format") == PERSISTENT
    assert name_id.get("NameQualifier") == IDP and name_id.get("SPNameQualifier") == MAIN
    assert result.ava["eduPersonTargetedID"] == ["Kx3/legacy+persistent=id"]


def test_nid07_legacy_eppn_byte_identical(flow, sp, legacy):
    """NID07 [BRK]: the eppn the university's IdP sent, case included; scoped affiliation on its scope."""
    _, result = sso(flow, sp, email="jean.dupont@univ-exemple.fr")
    assert result.ava["eduPersonPrincipalName"] == ["Jean.Dupont@Univ-Exemple.fr"]
    assert result.ava["eduPersonScopedAffiliation"] == ["student@Univ-Exemple.fr", "member@Univ-Exemple.fr"]


def test_nid07_eptid_without_legacy_value_is_the_stored_persistent_id(flow, sp, alice):
    _, first = sso(flow, sp)
    _, persistent = sso(flow, sp, email=None, name_id_policy=persistent_policy())
    assert first.ava["eduPersonTargetedID"] == [persistent.name_id.text]


def test_nid04_subject_id_and_pairwise_id(flow, sp, make_sp, alice):
    """NID04: unique@scope, lowercase, [a-z0-9=-] unique part <= 127; pairwise per SP, subject-id per
    person.
    """
    _, main = sso(flow, sp)
    _, other = sso(flow, make_sp("CBC"), email=None)
    pattern = r"[a-z0-9][a-z0-9=-]{0,126}@uness\.fr"
    for result in (main, other):
        assert re.fullmatch(pattern, result.ava["subject-id"][0])
        assert re.fullmatch(pattern, result.ava["pairwise-id"][0])
    assert main.ava["subject-id"] == other.ava["subject-id"]
    assert main.ava["pairwise-id"] != other.ava["pairwise-id"]
    _, again = sso(flow, sp, email=None)
    assert again.ava["pairwise-id"] == main.ava["pairwise-id"]
