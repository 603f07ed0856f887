"""An attacker's review of the SSO path that writes the Response as text and opens its session in one script.

Each test performs the attack against the real app (Flask test client, real Redis, a real pysaml2 SP):
hostile values in every field that reaches the Response's templates, a request ID replayed from another
browser or across a sign-in, cookies of sessions that are not the person's, Redis stopped while the SSO
reads, and a session that outlives the record of the SPs it was handed to (SLO would miss them).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from html import escape
from urllib.parse import urlencode

import pytest
import redis
from saml2 import BINDING_HTTP_POST
from saml2.samlp import NameIDPolicy

from tests.conftest import RedisServer, make_app
from tests.helpers.accounts import create_account
from tests.saml.conftest import (ALICE, NS, SSO, FakeSP, Flow, assertion_of, authn_request_xml, deflate,
                                 re_person, read_form, response_root, sp_metadata)
from tests.saml.test_response_schema import valid
from tests.scim.conftest import Scim, patch

MAIN = "https://sp.example.org/shibboleth"
SESSION, PARTIES = "gw:session:", "gw:session-parties:"

#: Names as a person or a provisioning client may write them: markup, quotes, a CDATA end, a comment,
#: a character reference written out, DEL and NEL, a line separator, right-to-left text, an emoji, and
#: the longest name the directory takes.
HOSTILE_NAMES = {
    "given_name": 'Al"ice\' <saml:Attribute Name="urn:oid:0.9.2342.19200300.100.1.3"> &amp; &#x41; ]]>',
    "family_name": "Mar<!-- x -->tin\x7f\x85\u2028\u202eنيتراM 🦊",
    "display_name": "</saml:AttributeValue></saml:Attribute><saml:Attribute Name=\"x\">" + "é" * 190,
}


#: An SP of the federation whose entityID carries markup, quotes and ampersands, and its ACS URL ampersands
#: (legal in its metadata, written there escaped).
ODD_ENTITY = 'https://odd.example.org/sp?a=1&b="2"&c=<saml:Audience>x</saml:Audience>\''
ODD_ACS = "https://odd.example.org/acs/a&b;c=d"  # quotes and <> a browser would percent-encode


@pytest.fixture
def odd_sp(sps, idp_metadata) -> FakeSP:
    return FakeSP(odd_spec(sps, ODD_ENTITY, ODD_ACS), idp_metadata)


def odd_spec(sps, entity_id: str, acs: str):
    """MAIN's keys, under another entityID and ACS."""
    return dataclasses.replace(sps["MAIN"], entity_id=entity_id, acs=((BINDING_HTTP_POST, acs, 0, None),))


@pytest.fixture
def saml_config(saml_config, sp_dir, sps, tmp_path):
    """The SAML tests' SPs, and the odd one."""
    directory = tmp_path / "sp-metadata"
    shutil.copytree(sp_dir, directory)
    placeholder = odd_spec(sps, "ODD-ENTITY", "ODD-ACS")
    (directory / "odd.xml").write_text(sp_metadata(placeholder).replace("ODD-ENTITY", escape(ODD_ENTITY)).replace(
        "ODD-ACS", escape(ODD_ACS)))
    return {**saml_config, "saml": {**saml_config["saml"], "sp_metadata_dir": str(directory)}}


def session_id(flow: Flow) -> str | None:
    cookie = flow.client.get_cookie("uness_session")
    return None if cookie is None else cookie.value


def redirect(flow: Flow, xml: str):
    return flow.client.get("/saml/sso?" + urlencode({"SAMLRequest": deflate(xml)}))


def assert_refused(response, words: str) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and words in body, body[:400]
    assert "SAMLResponse" not in body and "Traceback" not in body


# -- values written into the Response as text --------------------------------------------------------------

def test_markup_in_every_name_reaches_the_sp_as_data_under_valid_signatures(flow, make_sp, make_account):
    """The names go into the signed Assertion as text: the SP verifies both signatures and reads the names
    exactly; no element was injected (as many Attributes as released, no element inside a value); the
    Response is valid against the SAML schemas."""
    make_account(ALICE, **re_person(**HOSTILE_NAMES))
    signed = make_sp("SIGNED")  # no encryption key: the Assertion can be read as the SP reads it
    request_id, how = signed.request()
    posted = flow.sso(how, email=ALICE)
    assert valid(posted.xml)
    ava = signed.parse(posted.saml_response, request_id).ava
    assert (ava["givenName"], ava["sn"], ava["displayName"]) == tuple(
        [HOSTILE_NAMES[name]] for name in ("given_name", "family_name", "display_name"))
    assertion = response_root(posted).find("saml:Assertion", NS)
    names = [a.get("Name") for a in assertion.iterfind(".//saml:Attribute", NS)]
    assert len(names) == len(set(names)) and "x" not in names
    inside = [child.tag for child in assertion.iterfind(".//saml:AttributeValue/*", NS)]
    assert set(inside) <= {"{%s}NameID" % NS["saml"]}  # eduPersonTargetedID's; the names are text
    assert len(assertion.findall(".//saml:AttributeStatement", NS)) == 1


def test_an_sp_whose_entity_id_and_acs_carry_markup_gets_them_back_exactly(flow, odd_sp, alice, keys):
    """Destination, Recipient, Audience and the persistent NameID's SPNameQualifier are the metadata's values
    exactly; the SP validates the Response (its own entityID as Audience, its ACS as Destination)."""
    request_id, how = odd_sp.request()
    posted = flow.sso(how, email=ALICE)
    assert posted.action == ODD_ACS and response_root(posted).get("Destination") == ODD_ACS
    assertion = assertion_of(posted, keys["main"])
    assert [a.text for a in assertion.iterfind(".//saml:Audience", NS)] == [ODD_ENTITY]
    assert assertion.find(".//saml:SubjectConfirmationData", NS).get("Recipient") == ODD_ACS
    assert odd_sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]
    assert valid(posted.xml)


def test_an_address_with_ampersand_and_quote_is_the_email_name_id_exactly(flow, make_sp, make_account):
    """The emailAddress NameID and the mail attribute carry an address whose local part holds '&', an
    apostrophe, braces and '/': the SP reads it back exactly under a valid signature."""
    address = "o'neil&co{x}/y=z@univ-exemple.fr"
    make_account(address, account_id="oneil", **re_person())
    email_sp = make_sp("EMAIL")
    request_id, how = email_sp.request(name_id_policy=NameIDPolicy(
        format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"))
    posted = flow.sso(how, email=address)
    result = email_sp.parse(posted.saml_response, request_id)
    assert result.name_id.text == address and result.ava["mail"] == [address]
    assert valid(posted.xml)


def test_an_imported_persistent_id_with_markup_is_the_name_id_and_targeted_id_exactly(
        flow, sp, make_account, keys):
    """A persistent id imported from the former IdP (printable, no space: '<', '&', quotes are allowed) is
    the Subject's NameID and eduPersonTargetedID's NameID as text, under a valid signature; no element of
    it appears in the Assertion."""
    legacy = 'K<x3>&amp;"q\'/+=</saml:NameID><saml:NameID>evil'
    make_account(ALICE, **re_person(legacy_ids={MAIN: legacy}))
    request_id, how = sp.request(name_id_policy=NameIDPolicy(
        format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", allow_create="true"))
    posted = flow.sso(how, email=ALICE)
    result = sp.parse(posted.saml_response, request_id)
    assert result.name_id.text == legacy and result.name_id.sp_name_qualifier == MAIN
    assertion = assertion_of(posted, keys["main"])
    name_ids = assertion.findall(".//saml:NameID", NS)
    assert [n.text for n in name_ids] == [legacy, legacy] and not [c for n in name_ids for c in n]


@pytest.mark.parametrize(("field", "character"), [
    ("display_name", "\ufffe"), ("given_name", "\uffff"), ("family_name", "\ud800"), ("display_name", "\x01")])
def test_a_name_xml_cannot_carry_is_refused_where_it_is_written_and_the_sso_still_works(
        flow, sp, alice, client, field, character):
    """A provisioning client (SCIM) writes a name with a character XML 1.0 cannot hold: refused with SCIM's
    error (before, U+FFFE was stored and every SSO of the person was a 500, a lone surrogate a 500 at once);
    the person's SSO still works and the SP gets the name it got before."""
    scim_path = {"display_name": "displayName", "given_name": "name.givenName",
                 "family_name": "name.familyName"}[field]
    answer = Scim(client).patch(f"/Users/{alice.id}", patch(
        {"op": "replace", "path": scim_path, "value": "Alice" + character}))
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["scimType"] in ("invalidValue", "invalidSyntax")
    request_id, how = sp.request()
    ava = sp.parse(flow.sso(how, email=ALICE).saml_response, request_id).ava
    assert ava["givenName"] == ["Alice"] and ava["sn"] == ["Martin"]


@pytest.mark.parametrize("request_id", ['_a"b', "_a<b", "_a&b", "_a b", "_a\rb", "1abc", "_a]]>"])
def test_an_authn_request_id_that_is_no_xs_id_is_refused_before_anything_is_written(flow, alice, request_id,
                                                                                  redis_client):
    """The AuthnRequest's ID is echoed as InResponseTo: one that is not an xs:ID (quotes, markup, spaces,
    a line break written as a character reference) is refused, and not remembered."""
    flow.sso({"url": SSO + "?" + urlencode({"SAMLRequest": deflate(authn_request_xml(MAIN, "_first"))})},
             email=ALICE)
    escaped = request_id.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace(
        "\r", "&#13;")
    assert_refused(redirect(flow, authn_request_xml(MAIN, escaped)), "")
    assert len(list(redis_client.scan_iter("gw:saml:request-id:*"))) == 1


def test_an_xs_id_in_any_script_is_answered_exactly_under_a_valid_signature(flow, sp, alice):
    """An ID that is an xs:ID but not ASCII (letters of any script, '.', '-') comes back as InResponseTo
    byte for byte, and the SP checks it against its outstanding request."""
    request_id = "_ṣé.ΩЖ-中文_" + "x" * 200
    flow.sso({"url": SSO + "?" + urlencode({"SAMLRequest": deflate(authn_request_xml(MAIN, "_first"))})},
             email=ALICE)
    posted = read_form(redirect(flow, authn_request_xml(MAIN, request_id)))
    assert response_root(posted).get("InResponseTo") == request_id
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]


# -- replay (SEC05): the guard is set in the script that reads the session -------------------------------

def test_a_request_replayed_from_another_browser_is_refused(app, flow, sp, alice, make_account):
    """The guard is global, not the session's: Bob's browser replaying the request Alice's browser used gets
    the 400 page and no Response."""
    _, how = sp.request()
    flow.sso(how, email=ALICE)
    make_account("bob@univ-exemple.fr", **re_person())
    bob = Flow(app.test_client())
    bob.sign_in("bob@univ-exemple.fr")
    assert_refused(bob.send(how), "déjà été utilisée")


def test_a_request_first_sent_before_sign_in_cannot_be_replayed_after_it(app, flow, sp, alice):
    """Remembered before the person signs in: answered once, after the sign-in; sent again by the same
    browser or by another one, refused."""
    request_id, how = sp.request()
    assert sp.parse(flow.sso(how, email=ALICE).saml_response, request_id).ava["mail"] == [ALICE]
    assert_refused(flow.send(how), "déjà été utilisée")
    assert_refused(Flow(app.test_client()).send(how), "déjà été utilisée")


# -- cookies of sessions that are not (or no longer) the person's ------------------------------------------

def test_a_forged_session_id_is_not_adopted_by_sso(flow, sp, alice, redis_client):
    """A cookie carrying an id the gateway never issued (fixation): /saml/sso reads no session under it,
    sends the browser to sign in under a new id, and nothing is ever stored under the forged one."""
    forged = "A" * 43
    flow.client.set_cookie("uness_session", forged)
    request_id, how = sp.request()
    first = flow.send(how)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    assert session_id(flow) != forged  # deleted (nothing to keep yet) or replaced
    posted = read_form(flow.client.get(flow.sign_in(ALICE, start=first.headers["Location"]).headers["Location"]))
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]
    assert session_id(flow) != forged
    assert not redis_client.exists(SESSION + forged) and not redis_client.exists(PARTIES + forged)


def test_the_cookie_of_an_ended_session_gets_no_response(app, flow, sp, alice, redis_client):
    """The id of a session that was logged out, sent again (a copied cookie): no Response, the sign-in page,
    and the ended session is not brought back."""
    flow.sso(sp.request()[1], email=ALICE)
    ended = session_id(flow)
    flow.submit("/logout", page=flow.get("/logout"))
    assert not redis_client.exists(SESSION + ended)
    stolen = Flow(app.test_client())
    stolen.client.set_cookie("uness_session", ended)
    answer = stolen.send(sp.request()[1])
    assert answer.status_code == 302 and "/login?next=" in answer.headers["Location"]
    assert session_id(stolen) != ended and not redis_client.exists(SESSION + ended)


# -- Redis away while the SSO reads ---------------------------------------------------------------------

def test_redis_stopped_under_a_signed_in_sso_gives_the_503_page_and_the_session_survives(
        saml_config, sp, tmp_path, caplog):
    """Redis stops between the sign-in and the next SSO: the 503 page, no stack trace, no Response, no cookie
    set or deleted; once Redis is back, the same session (still signed in) gets its Response."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        app = make_app({**saml_config, "redis": {"url": server.url, "socket_timeout": 1.0}})
        create_account(app.extensions["gateway.directory"], ALICE, **re_person())
        flow = Flow(app.test_client())
        flow.sso(sp.request()[1], email=ALICE)
        before = session_id(flow)
        with redis.Redis(port=server.port) as client:
            client.save()
        server.stop()
        with caplog.at_level(logging.INFO):
            away = flow.send(sp.request()[1])
        body = away.get_data(as_text=True)
        assert away.status_code == 503 and "Service momentanément indisponible" in body
        assert "SAMLResponse" not in body and "Traceback" not in body and "Set-Cookie" not in away.headers
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
        server.start()
        request_id, how = sp.request()
        assert sp.parse(read_form(flow.send(how)).saml_response, request_id).ava["mail"] == [ALICE]
        assert session_id(flow) == before
    finally:
        server.stop()


# -- SLO: the SPs' record lives as long as the session ------------------------------------------------------

def test_a_session_kept_alive_without_sso_keeps_the_record_of_its_sps(flow, sp, alice, redis_client):
    """The SP took part long ago (its record has 30 s left), then the person keeps using the session on
    other pages: each refresh of the session's idle time must keep the SPs' record at least as long, or
    the logout that ends the session would not reach the SP (SLO)."""
    flow.sso(sp.request()[1], email=ALICE)
    sid = session_id(flow)
    redis_client.expire(PARTIES + sid, 30)
    record = json.loads(redis_client.get(SESSION + sid))
    record["_auth"]["last_seen"] -= 120  # the person's last page was two minutes ago
    redis_client.set(SESSION + sid, json.dumps(record), keepttl=True)
    assert flow.get("/account").status_code == 200  # idle time refreshed: the session lives on
    assert redis_client.ttl(PARTIES + sid) >= redis_client.ttl(SESSION + sid) > 30
