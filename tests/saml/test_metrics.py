"""Metrics of the SAML IdP (issue 13 part 4): SSO answers per SP, certificate expiry, aggregates.

A real pysaml2 SP signs in through the gateway; the exposition is then scraped
and parsed as Prometheus does.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from cryptography import x509
from saml2 import BINDING_HTTP_REDIRECT

from tests.conftest import make_app
from tests.metrics.scrape import delta, metric_names_in, scrape
from tests.saml.conftest import authn_request_xml, redirect_query
from tests.saml.test_aggregates import agg_config, aggregate, fed_key, served, signed  # noqa: F401 - fixtures

ALICE = "alice@univ-exemple.fr"


def test_an_sso_is_counted_for_its_sp(app, flow, sp, alice):
    before = scrape(app)
    request_id, how = sp.request(BINDING_HTTP_REDIRECT)
    posted = flow.sso(how, ALICE)
    assert sp.parse(posted.saml_response, request_id).ava["mail"] == [ALICE]
    after = scrape(app)
    assert delta(before, after, "gateway_saml_sso_total", sp=sp.spec.entity_id, result="issued") == 1
    assert delta(before, after, "gateway_events_total", event="saml.sso.issued") == 1


def test_requests_naming_many_unknown_sps_add_no_series(app, client):
    """An attacker sends AuthnRequests from ever new entityIDs: counted, but under ``sp=""`` only."""
    before = scrape(app)
    for n in range(5):
        xml = authn_request_xml(f"https://attacker{n}.example/sp", request_id=f"_evil{n}")
        assert client.get("/saml/sso?" + redirect_query(xml)).status_code >= 400
    after = scrape(app)
    assert delta(before, after, "gateway_saml_sso_total", sp="", result="rejected") == 5
    assert not any("attacker" in value for labels in after.labels_of("gateway_saml_sso_total")
                   for value in labels.values())


def test_signing_certificate_expiry_is_exported(app):
    keys = app.extensions["gateway.saml"].keys
    expected = x509.load_pem_x509_certificate(keys.signing.cert.pem.encode()).not_valid_after_utc.timestamp()
    assert scrape(app).value("gateway_certificate_expiry_timestamp_seconds", use="saml_signing") == expected


def test_aggregate_age_and_validity_are_exported(served, fed_key, agg_config, aggregate, sps, redis_client):
    served.body = signed([sps["MAIN"].entity_id + "-fed"], fed_key.key_file, days=7)
    app = make_app(agg_config)
    metrics = scrape(app)
    age = metrics.value("gateway_saml_aggregate_age_seconds", url=aggregate.url)
    until = metrics.value("gateway_saml_aggregate_valid_until_timestamp_seconds", url=aggregate.url)
    cached = aggregate.cache_file.stat().st_mtime
    assert 0 <= age < 3600 and cached > 0
    root_valid_until = signed_valid_until(aggregate.cache_file.read_bytes())
    assert until == root_valid_until


def signed_valid_until(document: bytes) -> float:
    import datetime

    from lxml import etree

    value = etree.fromstring(document).get("validUntil")
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# -- the alert rules and the dashboard name what the gateway exports ----------------------------

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = {"GatewayMailQueueStuck", "GatewayRedisUnreachable", "GatewaySigningCertificateExpiresSoon",
          "GatewaySamlAggregateExpiresSoon", "GatewaySignInFailureSpike"}


def exported_names(served, fed_key, agg_config, sps) -> set[str]:
    """Every metric name of a scrape of an app with SAML keys and an aggregate."""
    served.body = signed([sps["MAIN"].entity_id + "-fed"], fed_key.key_file, days=7)
    names = scrape(make_app(agg_config)).names
    assert {"gateway_redis_up", "gateway_job_queue_oldest_age_seconds",
            "gateway_saml_aggregate_valid_until_timestamp_seconds"} <= names
    return names


def test_alert_rules_are_valid_and_use_exported_metrics(served, fed_key, agg_config, sps, redis_client):
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    found = [rule for group in rules["groups"] for rule in group["rules"]]
    assert ALERTS <= {rule["alert"] for rule in found}
    assert all(rule["expr"] and rule["labels"]["severity"] in ("warning", "critical") for rule in found)
    used = metric_names_in(rule["expr"] for rule in found)
    assert used and used <= exported_names(served, fed_key, agg_config, sps), used


def test_dashboard_queries_use_exported_metrics(served, fed_key, agg_config, sps, redis_client):
    dashboard = json.loads((DEPLOY / "grafana" / "uness-gateway.json").read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = metric_names_in(expressions)
    assert len(expressions) >= 10
    assert used <= exported_names(served, fed_key, agg_config, sps), used
