"""Metrics of the sign-in pages (issue 13 part 4), read by scraping as Prometheus does.

Each test acts over HTTP (Flask test client, real Redis and SMTP sink), then
scrapes and compares with the scrape taken before: counters are process-wide.
"""
from __future__ import annotations

from tests.metrics.scrape import delta, scrape
from tests.conftest import PASSWORD
from tests.web.test_protection import ATTACKER_IP, EMAIL, browser_from


def test_the_public_site_has_no_metrics(client):
    for path in ("/metrics", "/metrics/", "/healthz/../metrics"):
        response = client.get(path)
        assert response.status_code == 404
        assert b"gateway_events_total" not in response.data


def test_sign_ins_are_counted_by_method_and_result(app, make_account):
    make_account(EMAIL)
    before = scrape(app)
    ok = browser_from(app, "192.0.2.10")
    assert ok.sign_in(EMAIL).status_code == 302 and ok.signed_in()
    wrong = browser_from(app, "192.0.2.11")
    wrong.sign_in(EMAIL, PASSWORD + "!")
    wrong.sign_in(EMAIL, PASSWORD + "?")
    browser_from(app, "192.0.2.12").submit("/login", {"email": "nobody@univ-exemple.fr"})
    after = scrape(app)
    assert delta(before, after, "gateway_signins_total", method="pwd", result="succeeded") == 1
    assert delta(before, after, "gateway_signins_total", method="pwd", result="failed") == 2
    assert delta(before, after, "gateway_signins_total", method="address", result="unknown_address") == 1
    assert delta(before, after, "gateway_events_total", event="login.failed") == 2
    # no account, address or IP in any label
    text = " ".join(str(labels) for labels in after.labels_of("gateway_signins_total"))
    assert EMAIL not in text and "192.0.2." not in text and "camille" not in text


def test_a_refusal_by_a_limit_is_counted_by_rule(app, make_account):
    make_account(EMAIL)
    attacker = browser_from(app, ATTACKER_IP)
    before = scrape(app)
    statuses = [attacker.submit("/login", {"email": EMAIL}).status_code for _ in range(12)]
    after = scrape(app)
    assert statuses[:10] == [302] * 10 and 302 not in statuses[10:]  # address_per_address_client: 10 a minute
    refused = delta(before, after, "gateway_limit_refusals_total", rule="address_per_address_client")
    assert refused == 2
    assert delta(before, after, "gateway_events_total", event="limit.refused") == 2


def test_mails_are_counted_by_template_and_fate(app, make_account, mailbox):
    make_account(EMAIL)
    browser = browser_from(app, "192.0.2.20")
    before = scrape(app)
    browser.submit("/login", {"email": EMAIL})
    assert browser.submit("/login/code/send", form_page="/login/password").status_code in (302, 303)
    mailbox.deliver()
    after = scrape(app)
    assert mailbox.code(EMAIL)
    queued = {labels["template"] for labels in after.labels_of("gateway_mails_total") if labels["fate"] == "queued"}
    template = next(t for t in queued if delta(before, after, "gateway_mails_total", template=t, fate="queued"))
    assert delta(before, after, "gateway_mails_total", template=template, fate="queued") == 1
    assert delta(before, after, "gateway_mails_total", template=template, fate="sent") == 1


def test_request_latency_is_observed_per_endpoint_group(app, client):
    before = scrape(app)
    client.get("/healthz")
    client.get("/login")
    client.get("/saml/sso")  # no SAMLRequest: an error page, still the saml group
    client.get("/no/such/page/12345")
    after = scrape(app)
    count = "gateway_request_duration_seconds_count"
    assert delta(before, after, count, group="health", status="2xx") == 1
    assert delta(before, after, count, group="pages", status="2xx") == 1
    assert delta(before, after, count, group="pages", status="4xx") == 1
    assert after.total(count, group="saml") - before.total(count, group="saml") == 1
    groups = {labels["group"] for labels in after.labels_of(count)}
    assert groups <= {"pages", "saml", "oidc", "scim", "health"}
