"""The support API, attacked: no token, a SCIM token, a wrong token; and the codes it gives, misused.

Every attack goes over HTTP to the real app (real Redis); refusals are checked
for their JSON error, for what they did not do (no code, no unblocking), and for
being counted per client until that client is refused outright.
"""
from __future__ import annotations

import pytest

from gateway.store import key
from tests.support.conftest import COCKPIT_TOKEN, HELPDESK, bearer
from tests.conftest import PASSWORD
from tests.web.test_protection import browser_from

EMAIL = "camille@univ-exemple.fr"
OTHER = "dominique@univ-exemple.fr"
CALLS = [("GET", f"/support/v1/diagnose?address={EMAIL}", None),
         ("POST", "/support/v1/code", {"address": EMAIL, "operator": "Eve"}),
         ("POST", "/support/v1/unblock", {"address": EMAIL, "operator": "Eve"})]


@pytest.fixture
def camille(make_account):
    return make_account(EMAIL)


def call(client, method: str, path: str, body: dict | None, headers: dict | None = None):
    return client.open(path, method=method, json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=["diagnose", "code", "unblock"])
@pytest.mark.parametrize(("headers", "status", "error"), [
    ({}, 401, "invalid_token"),
    (bearer("a-guessed-token-0123456789abcdef"), 401, "invalid_token"),
    (bearer(COCKPIT_TOKEN), 403, "insufficient_scope"),  # a SCIM token: no support scope
], ids=["no-token", "wrong-token", "scim-token"])
def test_a_request_without_a_support_token_is_refused_and_does_nothing(
        client, camille, audit_events, method, path, body, headers, status, error):
    code_key = key("code-latest", "signin", camille.id)
    response = call(client, method, path, body, headers)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="support"')
    assert "camille" not in response.get_data(as_text=True)  # nothing about the account leaked
    assert client.application.extensions["gateway.store"].redis.get(code_key) is None  # no code given
    denied = [r for r in audit_events if r.getMessage() == "support.denied"]
    assert len(denied) == 1 and not hasattr(denied[0], "token")


def test_failed_tokens_are_counted_until_the_client_is_refused_even_with_the_right_token(app, camille):
    attacker = browser_from(app, "203.0.113.66").client
    for n in range(10):  # limits.scim_auth_per_client: 10 a minute, shared with SCIM
        headers = bearer(COCKPIT_TOKEN) if n % 2 else bearer(f"guess-{n}")
        assert call(attacker, *CALLS[0], headers).status_code in (401, 403)
    refused = call(attacker, *CALLS[0], HELPDESK)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) > 0
    scim = attacker.get("/scim/v2/Users", headers=bearer(COCKPIT_TOKEN))
    assert scim.status_code == 429  # one counter for every API
    assert call(browser_from(app, "198.51.100.7").client, *CALLS[0], HELPDESK).status_code == 200


def test_a_support_token_does_not_open_scim(client):
    response = client.get("/scim/v2/Users", headers=HELPDESK)
    assert response.status_code == 403
    assert response.mimetype == "application/scim+json"


def test_errors_are_json_with_a_clear_code(client, camille, make_account):
    make_account(OTHER, status="disabled")
    unknown = client.get("/support/v1/diagnose?address=nobody@univ-exemple.fr", headers=HELPDESK)
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "unknown_address")
    missing = client.post("/support/v1/code", json={"address": EMAIL}, headers=HELPDESK)
    assert (missing.status_code, missing.get_json()["error"]) == (400, "invalid_request")
    not_json = client.post("/support/v1/unblock", data="address=x", headers=HELPDESK)
    assert (not_json.status_code, not_json.get_json()["error"]) == (400, "invalid_request")
    disabled = client.post("/support/v1/code", json={"address": OTHER, "operator": "Ana"}, headers=HELPDESK)
    assert (disabled.status_code, disabled.get_json()["error"]) == (409, "account_disabled")
    nowhere = client.get("/support/v1/nothing", headers=HELPDESK)
    assert (nowhere.status_code, nowhere.get_json()["error"]) == (404, "not_found")


def give_code(client, address: str = EMAIL) -> str:
    response = client.post("/support/v1/code", json={"address": address, "operator": "Ana Lopes"},
                           headers=HELPDESK)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["code"]


def type_code(app, address: str, code: str, ip: str = "192.0.2.10"):
    """A browser types ``address`` on the sign-in page, then ``code`` on the code step."""
    person = browser_from(app, ip)
    assert person.submit("/login", {"email": address}).headers["Location"].endswith("/login/code")
    return person, person.submit("/login/code", {"code": code})


def test_a_support_code_works_once_and_is_audited_with_the_operator(app, client, camille, audit_events):
    code = give_code(client)
    given = [r for r in audit_events if r.getMessage() == "support.code_given"]
    assert [(r.operator, r.service, r.account) for r in given] == [("Ana Lopes", "helpdesk", camille.id)]
    assert all(code not in str(vars(r)) for r in audit_events)  # the code itself is never logged
    person, answer = type_code(app, EMAIL, code)
    assert answer.status_code == 302 and person.signed_in()
    late = browser_from(app, "203.0.113.66")  # someone who overheard it
    assert late.submit("/login", {"email": EMAIL}).headers["Location"].endswith("/login/password")
    page = late.submit("/login/code", {"code": code, "flow": ""}).get_data(as_text=True)
    assert not late.signed_in()  # the address step leads to the password again: no code is waiting
    assert "Mes informations" not in page


def test_a_support_code_is_refused_after_it_expired(app, client, camille):
    code = give_code(client)
    codes = app.extensions["gateway.codes"]
    now = codes.clock()
    codes.clock = lambda: now + 16 * 60  # support.code_minutes: 15
    person = browser_from(app)
    assert person.submit("/login", {"email": EMAIL}).headers["Location"].endswith("/login/password")
    page = person.submit("/login/code", {"code": code, "flow": ""}).get_data(as_text=True)
    assert not person.signed_in()
    assert "Mes informations" not in page


def test_a_support_code_does_nothing_for_another_address(app, client, camille, make_account):
    make_account(OTHER)
    code = give_code(client, EMAIL)
    other = browser_from(app)
    assert other.submit("/login", {"email": OTHER}).headers["Location"].endswith("/login/password")
    other.submit("/login/code/send", {}, form_page="/login/password")  # a code of its own, mailed
    answer = other.submit("/login/code", {"code": code})
    assert not other.signed_in()
    assert "Code incorrect" in answer.get_data(as_text=True)
    # and the code still works for the address it was given for
    person, done = type_code(app, EMAIL, code)
    assert person.signed_in()


def test_a_support_code_for_a_second_address_of_the_account_is_not_taken_by_the_first(app, client, make_account):
    make_account(EMAIL, "camille.autre@univ-exemple.fr")
    code = give_code(client, "camille.autre@univ-exemple.fr")
    person = browser_from(app)
    assert person.submit("/login", {"email": EMAIL}).headers["Location"].endswith("/login/password")
    assert person.submit("/login/password", {"password": "not it"}).status_code == 200
    assert not person.signed_in()
    person, answer = type_code(app, "camille.autre@univ-exemple.fr", code)
    assert person.signed_in()
    assert person.client.get("/account").status_code == 200
    assert PASSWORD  # the password was never needed


def test_unblock_over_http_lifts_the_delays_and_is_audited_with_the_service(app, client, camille, audit_events):
    person = browser_from(app, "192.0.2.44")
    person.submit("/login", {"email": EMAIL})
    for n in range(6):  # throttle_pair: 5, then a delay
        person.submit("/login/password", {"password": f"wrong {n}"})
    assert "Trop de tentatives" in person.submit("/login/password", {"password": PASSWORD}).get_data(as_text=True)
    diagnosed = client.get(f"/support/v1/diagnose?address={EMAIL}&lang=en", headers=HELPDESK).get_json()
    assert [d["rule"] for d in diagnosed["delays"]] == ["throttle_pair"]
    assert any(line.startswith("Passwords refused from IP address 192.0.2.44") for line in
               (r["text"] for r in diagnosed["reasons"]))
    assert "Why the person can or cannot sign in:" in diagnosed["summary"]
    done = client.post("/support/v1/unblock", json={"address": EMAIL.upper(), "operator": "Ana"}, headers=HELPDESK)
    assert done.status_code == 200 and done.get_json()["lifted"] >= 1
    [record] = [r for r in audit_events if r.getMessage() == "support.unblocked"]
    assert (record.account, record.operator, record.service) == (camille.id, "Ana", "helpdesk")
    assert person.submit("/login/password", {"password": PASSWORD}).status_code == 302
    assert person.signed_in()
