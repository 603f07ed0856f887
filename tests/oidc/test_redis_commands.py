"""What one code flow of a signed-in person asks of Redis, read with the real server's MONITOR.

The count is behaviour, not time: each step is one round trip (authorize reads
the session with its account in one script, then one script issues the code; the token
request redeems the code in one script and saves the tokens with the session's
RP records in another), so ``make bench`` can hold the flow to a few commands.
"""
from __future__ import annotations

from bench.meter import monitored, sent_and_scripted

from .conftest import sign_in_and_get_tokens


def test_a_code_flow_sends_four_commands_in_four_round_trips(browser, rp, live, account, redis_client):
    party = rp("rp-basic")
    sign_in_and_get_tokens(browser, party)  # signs in; the flows after it are SSO
    sign_in_and_get_tokens(browser, party)  # one SSO flow: Redis has loaded every script (SCRIPT LOAD)
    where = redis_client.connection_pool.connection_kwargs
    with monitored(f"redis://{where['host']}:{where['port']}/{where.get('db', 0)}") as seen:
        attempt, token = sign_in_and_get_tokens(browser, party)
    party.verify(token["id_token"], attempt)
    sent, inside = sent_and_scripted(seen)
    # authorize: the session with its account, issue the code; token: redeem the code, save the tokens
    assert sent == ["EVALSHA", "EVALSHA", "EVALSHA", "EVALSHA"], sent
    # the scripts: the session, the account; nonce, grant, session index (2), code; the code marked
    # spent, its grant, the session, the account; access and refresh tokens, the session's RP records
    # (2 hashes, 2 TTLs)
    assert len(inside) == 2 + 5 + 5 + 6, inside


def test_relying_parties_endpoints_leave_the_persons_session_alone(browser, live, account, redis_client):
    """Discovery, JWKS, userinfo and token are called by relying parties: a call that carries the person's
    cookie (a browser application's, or a forged one) neither reads, refreshes nor changes the session."""
    browser.sign_in()
    assert browser.signed_in()
    where = redis_client.connection_pool.connection_kwargs
    with monitored(f"redis://{where['host']}:{where['port']}/{where.get('db', 0)}") as seen:
        answers = [browser.get("/.well-known/openid-configuration"), browser.get("/oidc/jwks"),
                   browser.get("/oidc/userinfo"),
                   browser.post("/oidc/token", {"grant_type": "authorization_code"}), browser.get("/healthz")]
    assert [a.status_code for a in answers] == [200, 200, 401, 401, 200]
    sent, _ = sent_and_scripted(seen)
    # /healthz's PING (and a new connection's HELLO, PING): no session read, no touch, no write
    assert not [command for command in sent if command not in ("PING", "HELLO", "CLIENT")], sent
    assert not [a.headers["Set-Cookie"] for a in answers if "Set-Cookie" in a.headers]
    assert browser.signed_in()  # the session is still there, under the same cookie
