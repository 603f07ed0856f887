"""The SAML gauges Prometheus reads at scrape time (gateway.metrics.on_scrape): the age and validUntil of
each remote metadata aggregate's cached copy, and the notAfter of each certificate the IdP signs, publishes
or decrypts with. Read from the cache's head and the loaded keys only: nothing fetched, nothing on a request."""
from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from cryptography import x509
from flask import Flask
from prometheus_client.core import GaugeMetricFamily

from ..sp.aggregates import cache_state


def gauges(app: Flask) -> Iterator[GaugeMetricFamily]:
    idp = app.extensions.get("gateway.saml")
    yield from _aggregates(idp)
    yield from _certificates(idp)


def _aggregates(idp: Any) -> Iterator[GaugeMetricFamily]:
    feeds = getattr(idp, "aggregates", None)
    if feeds is None:
        return
    age = GaugeMetricFamily("gateway_saml_aggregate_age_seconds", "Age of the cached copy of each aggregate.",
                            labels=["url"])
    until = GaugeMetricFamily("gateway_saml_aggregate_valid_until_timestamp_seconds",
                              "validUntil of the cached copy of each aggregate (absent without one).",
                              labels=["url"])
    for aggregate in feeds.aggregates:
        state = cache_state(aggregate)
        if state is None:
            continue
        age.add_metric([aggregate.url], state[0])
        if state[1] is not None:
            until.add_metric([aggregate.url], state[1])
    yield from (age, until)


def _certificates(idp: Any) -> Iterator[GaugeMetricFamily]:
    keys = getattr(idp, "keys", None)
    if keys is None:
        return
    family = GaugeMetricFamily("gateway_certificate_expiry_timestamp_seconds",
                               "notAfter of each SAML certificate the gateway signs, publishes or decrypts with.",
                               labels=["use"])
    found = {"saml_signing": keys.signing.cert, "saml_next_signing": keys.next_signing,
             "saml_encryption": keys.encryption.cert if keys.encryption else None,
             "saml_metadata": keys.metadata.cert if keys.metadata else None}
    for use, cert in found.items():
        if cert is not None:
            family.add_metric([use], _not_after(cert.pem))
    yield family


def _not_after(pem: str) -> float:
    after: datetime.datetime = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc
    return after.timestamp()
