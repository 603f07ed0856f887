"""What an SSO asks of Redis, read with the real server's MONITOR, and what the one script it sends keeps.

``/saml/sso`` opens its session itself once it has read the AuthnRequest, with
everything the answer needs, in one script (:func:`gateway.saml.slo.participants.load`):
the request ID remembered (SEC05), the session record, its account, what the SP already
got in it and its persistent identifier. The count is behaviour, not time.
"""
from __future__ import annotations

import json

from bench.meter import monitored, sent_and_scripted
from tests.saml.conftest import ALICE, read_form

PARTIES = "gw:session-parties:"


def monitor(redis_client):
    where = redis_client.connection_pool.connection_kwargs
    return monitored(f"redis://{where['host']}:{where['port']}/{where.get('db', 0)}")


def session_id(flow) -> str:
    return flow.client.get_cookie("uness_session").value


def test_an_sso_for_a_signed_in_person_sends_one_command(flow, sp, alice, redis_client):
    flow.sso(sp.request()[1], email=ALICE)  # signs in; the SP is recorded for SLO
    flow.sso(sp.request()[1])  # Redis has loaded the script (SCRIPT LOAD)
    request_id, how = sp.request()
    with monitor(redis_client) as seen:
        posted = read_form(flow.send(how))
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]
    sent, inside = sent_and_scripted(seen)
    assert sent == ["EVALSHA"], sent  # no session GET of its own, no write: same NameID, same record
    # the request ID (SET NX), the session, its account, its parties, the SP's persistent id, their TTL
    assert inside == ["SET", "GET", "HGETALL", "HGETALL", "HGET", "TTL"], inside


def test_the_sps_record_outlives_the_session_and_is_renewed_when_it_would_not(flow, sp, alice, redis_client):
    """SLO needs the SP's NameID and SessionIndex for as long as the session lives: an SSO that changes
    nothing writes nothing, but a record that would end before the session gets its TTL back."""
    first_id, how = sp.request()
    first = sp.parse(flow.sso(how, email=ALICE).saml_response, first_id)
    sid = session_id(flow)
    assert redis_client.ttl(PARTIES + sid) >= redis_client.ttl("gw:session:" + sid) > 0
    redis_client.expire(PARTIES + sid, 30)  # as if the last SSO was long ago, the session used since
    again_id, how = sp.request()
    again = sp.parse(flow.sso(how).saml_response, again_id)
    assert redis_client.ttl(PARTIES + sid) >= redis_client.ttl("gw:session:" + sid) > 30
    assert again.session_info()["session_index"] == first.session_info()["session_index"]


def test_a_replayed_request_is_refused_although_its_session_is_read_with_it(flow, sp, alice, redis_client):
    """SEC05: the replay guard, set in the same script as the session is read, still refuses a second
    use of the request's ID, and nothing is posted."""
    flow.sso(sp.request()[1], email=ALICE)
    _, how = sp.request()
    read_form(flow.send(how))
    replayed = flow.send(how)
    assert replayed.status_code == 400
    assert b"SAMLResponse" not in replayed.data
    assert redis_client.hlen(PARTIES + session_id(flow)) == 1


def test_a_session_past_its_lifetime_sends_the_person_to_sign_in_and_its_request_still_works(
        flow, sp, alice, redis_client):
    """A record left in Redis by a session past its idle time (its TTL set under longer settings) is no
    session: the request read with it is remembered once, the person signs in, and the SP gets its Response."""
    flow.sso(sp.request()[1], email=ALICE)
    sid = session_id(flow)
    record = json.loads(redis_client.get("gw:session:" + sid))
    record["_auth"]["last_seen"] -= 24 * 3600
    record["_auth"]["auth_time"] -= 3600
    redis_client.set("gw:session:" + sid, json.dumps(record), keepttl=True)
    request_id, how = sp.request()
    first = flow.send(how)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    assert not redis_client.exists("gw:session:" + sid)  # ended, as the session interface ends it
    response = flow.sign_in(ALICE, start=first.headers["Location"])
    posted = read_form(flow.client.get(response.headers["Location"]))
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]


def test_a_session_whose_reads_failed_is_neither_saved_nor_ended(flow, sp, alice, redis_client):
    """The SSO's script fails (here on a parties record of the wrong type): the error page, no stack
    trace, no Response; the session, never opened, is left as it was (the person is still signed in)."""
    flow.sso(sp.request()[1], email=ALICE)
    sid = session_id(flow)
    redis_client.delete(PARTIES + sid)
    redis_client.set(PARTIES + sid, "not a hash", ex=60)
    failed = flow.send(sp.request()[1])
    assert failed.status_code == 500 and b"SAMLResponse" not in failed.data and b"Traceback" not in failed.data
    assert "Set-Cookie" not in failed.headers
    assert redis_client.exists("gw:session:" + sid)
    redis_client.delete(PARTIES + sid)
    assert flow.signed_in()
