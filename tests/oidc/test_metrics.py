"""Metrics of the OIDC provider (issue 13 part 4): grants per client, a reused code, latency group.

A real relying party runs the code flow against the gateway served live; the
exposition is then scraped and parsed as Prometheus does.
"""
from __future__ import annotations

import requests

from tests.metrics.scrape import delta, scrape
from tests.oidc.conftest import CALLBACK, SECRETS

BASIC = ("rp-basic", SECRETS["rp-basic"])


def test_grants_are_counted_per_client_and_a_replayed_code_too(browser, rp, live, account):
    before = scrape(live.app)
    party = rp("rp-basic")
    attempt = party.authorization()
    params = party.callback(browser.go(attempt.url), attempt)
    exchange = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
                "code_verifier": attempt.verifier}
    first = requests.post(party.discovery["token_endpoint"], auth=BASIC, timeout=10, data=exchange)
    assert first.status_code == 200
    refreshed = requests.post(party.discovery["token_endpoint"], auth=BASIC, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]})
    assert refreshed.status_code == 200
    replay = requests.post(party.discovery["token_endpoint"], auth=BASIC, timeout=10, data=exchange)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    after = scrape(live.app)
    grants = "gateway_oidc_grants_total"
    assert delta(before, after, grants, client="rp-basic", grant_type="authorization_code", result="issued") == 1
    assert delta(before, after, grants, client="rp-basic", grant_type="authorization_code", result="reused") == 1
    assert delta(before, after, grants, client="rp-basic", grant_type="refresh_token", result="issued") == 1
    count = "gateway_request_duration_seconds_count"
    assert after.total(count, group="oidc") - before.total(count, group="oidc") >= 5
