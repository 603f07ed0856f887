"""oidcc-basic-certification-test-plan, happy-path modules (checklist section L), reproduced locally.

Each test is named after its OpenID Foundation conformance module and checks
that module's pass condition against the live gateway, with a real relying
party (authlib's OAuth2Session) and a person signing in through the real pages.
"""
from __future__ import annotations

import random
from urllib.parse import urlsplit

import requests
from authlib.oidc.core.util import create_half_hash

from tests.oidc.conftest import CALLBACK, EMAIL, SECRETS, code_from, query, sign_in_and_get_tokens

PROFILE = {"name", "given_name", "family_name"}
BASIC = ("rp-basic", SECRETS["rp-basic"])


def test_oidcc_server(browser, rp, live, account):
    """CONF01 (OIDC04, OIDC06, OIDC07, BCP03): the happy code flow, checked as ValidateIdToken does."""
    party = rp("rp-basic")
    attempt = party.authorization()
    url = browser.go(attempt.url)
    assert all(r.status_code in (302, 303) for r in browser.history if r.is_redirect)  # never 307 (BCP03)
    params = party.callback(url, attempt)  # state unchanged, iss = issuer, no fragment
    assert params["code"] and url.startswith(CALLBACK + "?")
    response = requests.post(party.discovery["token_endpoint"], auth=BASIC, timeout=10, data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
        "code_verifier": attempt.verifier})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    token = response.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0 and token["refresh_token"]
    claims = party.verify(token["id_token"], attempt)
    assert claims["iss"] == live.issuer and claims["aud"] == "rp-basic"
    assert claims["at_hash"] == create_half_hash(token["access_token"], "RS256").decode()
    assert claims["auth_time"] <= claims["iat"] and claims["amr"] == ["pwd"] and claims["sid"]
    info = party.userinfo(token)
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"] == account.id


def test_oidcc_idtoken_signature(browser, rp, account):
    """CONF03 (OIDC07, DISC02): RS256 by default, with a kid that resolves in jwks_uri."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    kid = _header(token["id_token"])["kid"]
    published = requests.get(party.discovery["jwks_uri"], timeout=10).json()["keys"]
    assert [k["alg"] for k in published if k["kid"] == kid] == ["RS256"]
    party.verify(token["id_token"])


def test_oidcc_userinfo_get(browser, rp, account):
    """CONF05 (OIDC08): UserInfo by GET with the Bearer header."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    response = party.userinfo(token, "GET")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert response.json()["email"] == EMAIL


def test_oidcc_userinfo_post_header(browser, rp, account):
    """CONF05 (OIDC08): UserInfo by POST with the Bearer header."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    response = party.userinfo(token, "POST")
    assert response.status_code == 200 and response.json()["sub"] == account.id


def test_oidcc_userinfo_post_body(browser, rp, account):
    """CONF05 (OIDC08, RFC 6750 §2.2): UserInfo by POST with the token in a form body."""
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    response = requests.post(party.discovery["userinfo_endpoint"], timeout=10,
                             data={"access_token": token["access_token"]})
    assert response.status_code == 200 and response.json()["sub"] == account.id


def test_userinfo_refuses_a_bad_token_with_401_and_www_authenticate(rp, live):
    """OIDC08: an unknown token -> 401 with WWW-Authenticate: Bearer error="invalid_token"."""
    response = requests.get(live.endpoint("/oidc/userinfo"), headers={"Authorization": "Bearer nope"},
                            timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ") and 'error="invalid_token"' in \
        response.headers["WWW-Authenticate"]


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(browser, rp, account):
    """CONF06 (OIDC07): nonce is optional in the code flow; then the ID token has none."""
    party = rp("rp-basic")
    attempt, token = sign_in_and_get_tokens(browser, party, nonce=False)
    assert "nonce" not in party.verify(token["id_token"], attempt)


def _claims_for(browser, party, scope):
    attempt, token = sign_in_and_get_tokens(browser, party, scope=scope)
    id_claims = party.verify(token["id_token"], attempt)
    info = party.userinfo(token)
    assert info.status_code == 200
    return id_claims, info.json(), token


def test_oidcc_scope_profile(browser, rp, account):
    """CONF07 (OIDC09, CLM01): profile claims come from UserInfo, not the ID token, in the code flow."""
    id_claims, info, _ = _claims_for(browser, rp("rp-basic"), "openid profile")
    assert {k: info[k] for k in PROFILE} == {"name": "Camille Martin", "given_name": "Camille",
                                            "family_name": "Martin"}
    assert not PROFILE & set(id_claims) and "email" not in info


def test_oidcc_scope_email(browser, rp, account):
    """CONF07 (OIDC09, CLM01, CLM04): email is the primary verified address; email_verified a boolean."""
    _, info, _ = _claims_for(browser, rp("rp-basic"), "openid email")
    assert info["email"] == EMAIL and info["email_verified"] is True and "name" not in info


def test_oidcc_scope_address(browser, rp, account):
    """CONF07: address is not offered; asked for, it is ignored gracefully (no error, no claim)."""
    _, info, token = _claims_for(browser, rp("rp-basic"), "openid address")
    assert "address" not in info and token["scope"] == "openid"


def test_oidcc_scope_phone(browser, rp, account):
    """CONF07: phone is not offered; asked for, it is ignored gracefully."""
    _, info, _ = _claims_for(browser, rp("rp-basic"), "openid phone")
    assert "phone_number" not in info and set(info) == {"sub"}


def test_oidcc_scope_all(browser, rp, account):
    """CONF07: every standard scope at once -> what exists is returned, nothing fails."""
    _, info, _ = _claims_for(browser, rp("rp-basic"), "openid profile email address phone")
    assert PROFILE | {"email", "email_verified", "sub"} == set(info)


def test_oidcc_ensure_other_scope_order_succeeds(browser, rp, account):
    """CONF08 (OIDC01): scope order and parameter order do not matter (alternate-happy-flow)."""
    party = rp("rp-basic")
    attempt = party.authorization(scope="email profile openid")
    parts = urlsplit(attempt.url)
    pairs = [p.split("=", 1) for p in parts.query.split("&")]
    random.Random(7).shuffle(pairs)
    url = browser.go(parts._replace(query="&".join("=".join(p) for p in pairs)).geturl())
    token = party.token(url, attempt)
    assert party.verify(token["id_token"], attempt)["sub"] == account.id
    assert set(token["scope"].split()) == {"openid", "profile", "email"}


def test_eduperson_and_supann_scopes(browser, rp, account):
    """CLM02, CLM03, CLM04: REFEDS names, arrays for multi-valued values, the establishment under supann."""
    _, info, _ = _claims_for(browser, rp("rp-basic"), "openid eduperson supann")
    assert info["eduperson_principal_name"] == "cmartin@univ-exemple.fr"
    assert info["eduperson_affiliation"] == ["student", "member"]
    assert info["eduperson_scoped_affiliation"] == ["student@univ-exemple.fr", "member@univ-exemple.fr"]
    assert info["supann_etablissement"] == ["{UAI}0751717J"]


def test_scopes_beyond_the_clients_policy_are_not_released(browser, rp, account):
    """CLM02: a client only gets the scopes configured for it (rp-post: openid profile email)."""
    party = rp("rp-post", auth="client_secret_post")
    attempt, token = sign_in_and_get_tokens(browser, party, scope="openid eduperson email")
    assert token["scope"] == "openid email"
    assert "eduperson_affiliation" not in party.userinfo(token).json()


def test_oidcc_display_page(browser, rp, account):
    """CONF09 (OIDC05): display=page causes no error."""
    _, token = sign_in_and_get_tokens(browser, rp("rp-basic"), display="page")
    assert token["id_token"]


def test_oidcc_display_popup(browser, rp, account):
    """CONF09 (OIDC05): display=popup causes no error."""
    _, token = sign_in_and_get_tokens(browser, rp("rp-basic"), display="popup")
    assert token["id_token"]


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(browser, rp, account):
    """CONF15 (OIDC01, RFC 6749 §3.1): unknown parameters are ignored."""
    _, token = sign_in_and_get_tokens(browser, rp("rp-basic"), extra="foobar")
    assert token["id_token"]


def test_oidcc_ensure_request_with_acr_values_succeeds(browser, rp, account):
    """CONF19 (OIDC05, OIDC07): acr_values accepted; no acr is claimed rather than an empty or false one."""
    party = rp("rp-basic")
    attempt, token = sign_in_and_get_tokens(browser, party, acr_values="urn:mace:incommon:iap:silver")
    assert "acr" not in party.verify(token["id_token"], attempt)


def test_oidcc_ensure_post_request_succeeds(browser, rp, account):
    """CONF23 (OIDC01): the authorization request may be POSTed (form-encoded)."""
    party = rp("rp-basic")
    attempt = party.authorization()
    parts = urlsplit(attempt.url)
    url = browser.go(parts._replace(query="").geturl(), method="POST", data=query(attempt.url))
    assert isinstance(url, str)
    token = party.token(url, attempt)
    party.verify(token["id_token"], attempt)


def test_oidcc_server_client_secret_post(browser, rp, account):
    """CONF24 (OIDC06): the happy flow for a client registered with client_secret_post."""
    party = rp("rp-post", auth="client_secret_post")
    attempt, token = sign_in_and_get_tokens(browser, party)
    assert party.verify(token["id_token"], attempt)["aud"] == "rp-post"


def test_oidcc_claims_essential(browser, rp, account):
    """CONF26 (OIDC09): claims={"userinfo": {"name": {"essential": true}}} gives name with scope openid."""
    party = rp("rp-basic")
    attempt, token = sign_in_and_get_tokens(browser, party, scope="openid",
                                            claims='{"userinfo": {"name": {"essential": true}}}')
    assert party.userinfo(token).json() == {"sub": account.id, "name": "Camille Martin"}


def test_claims_parameter_for_the_id_token(browser, rp, account):
    """OIDC Core §5.5: claims asked for the ID token go in the ID token."""
    party = rp("rp-basic")
    attempt, token = sign_in_and_get_tokens(browser, party, claims='{"id_token": {"email": null}}')
    assert party.verify(token["id_token"], attempt)["email"] == EMAIL


def test_oidcc_ensure_request_with_valid_pkce_succeeds(browser, rp, account):
    """CONF29 (PKCE01): a valid S256 PKCE request succeeds for a confidential client too."""
    party = rp("rp-basic")
    attempt = party.authorization(pkce=True)
    assert "code_challenge_method=S256" in attempt.url
    url = browser.go(attempt.url)
    assert party.verify(party.token(url, attempt)["id_token"], attempt)


def test_confidential_client_without_pkce_succeeds(browser, rp, account):
    """PKCE01: PKCE is optional for confidential clients (required for public ones: test_tokens)."""
    party = rp("rp-basic")
    attempt = party.authorization(pkce=False)
    url = browser.go(attempt.url)
    assert "code_challenge" not in attempt.url and party.token(url, attempt)["id_token"]


def test_es256_client_gets_es256_id_tokens(browser, rp, account):
    """Discovery offers ES256; a client registered for it gets ES256 ID tokens with a kid."""
    party = rp("rp-es256")
    attempt, token = sign_in_and_get_tokens(browser, party)
    party.verify(token["id_token"], attempt, alg="ES256")


def test_pairwise_subjects(browser, rp, account):
    """OIDC10: same sector -> same sub; another sector -> another; never the account id."""
    subs = {}
    for client, uri in (("rp-pairwise-a", "https://a.sector.example/cb"),
                        ("rp-pairwise-b", "https://b.sector.example/cb"),
                        ("rp-pairwise-c", "https://c.elsewhere.example/cb")):
        party = rp(client, redirect_uri=uri)
        attempt = party.authorization()
        url = browser.go(attempt.url, stop=uri.rsplit("/", 1)[0])
        subs[client] = party.verify(party.token(url, attempt)["id_token"], attempt)["sub"]
    assert subs["rp-pairwise-a"] == subs["rp-pairwise-b"] != subs["rp-pairwise-c"]
    assert account.id not in subs.values()


def test_legacy_identifier_released_to_its_client(browser, rp, account):
    """A client configured with legacy_id_source gets the identifier its SAML SP already stores."""
    party = rp("rp-legacy")
    attempt, token = sign_in_and_get_tokens(browser, party)
    assert party.verify(token["id_token"], attempt)["uness_legacy_id"] == "legacy-42"
    assert party.userinfo(token).json()["uness_legacy_id"] == "legacy-42"


def test_code_is_short_lived_and_bound_to_its_redirect_uri(browser, rp, account):
    """OIDC06: the redirect_uri at the token endpoint must be the one of the authorization request."""
    party = rp("rp-basic")
    attempt = party.authorization()
    url = browser.go(attempt.url)
    response = requests.post(party.discovery["token_endpoint"], auth=BASIC, timeout=10, data={
        "grant_type": "authorization_code", "code": code_from(url), "code_verifier": attempt.verifier,
        "redirect_uri": "https://rp.example.org/cb2"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def _header(token: str) -> dict:
    import base64
    import json

    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))

