"""Read the gateway's metrics as Prometheus would: scrape the exposition, parse the text format."""
from __future__ import annotations

import urllib.request
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from gateway.metrics.scrape import exposition_app

#: The sample names a family of each type may carry (a family without samples yet still names them).
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "gauge": ("",), "summary": ("", "_count", "_sum", "_created")}


class Scrape:
    """One scrape: every sample by name and labels, and every metric name exported."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset], float] = {}
        self.names: set[str] = set()
        for family in text_string_to_metric_families(text):
            self.names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
            for sample in family.samples:
                self.names.add(sample.name)
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when it is not there (a counter never incremented)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, found), v in self.samples.items() if n == name and wanted <= found)

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(found) for (n, found) in self.samples if n == name]


def scrape(app) -> Scrape:
    """What the metrics listener of ``app`` answers (the same WSGI app, called in process)."""
    response = Client(exposition_app(app)).get("/metrics")
    assert response.status_code == 200
    return Scrape(response.get_data(as_text=True))


def scrape_url(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=30) as response:
        return Scrape(response.read().decode())


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def metric_names_in(expressions: Iterable[str]) -> set[str]:
    """The gateway metric names a PromQL expression uses (every gateway metric starts with ``gateway_``)."""
    import re

    return {name for expr in expressions for name in re.findall(r"\bgateway_[a-z0-9_]+", expr)}
