"""Prometheus metrics: counters fed by the audit trail, request latency by endpoint group.

One home: :func:`gateway.logs.audit` calls :func:`count` with every security
event, so ``gateway_events_total{event}`` counts them all and a small table
(:data:`_DERIVED`) turns the known fields of some events into labelled
counters (sign-ins by method and result, refusals by rule, mails by fate, SAML
answers per SP, OIDC grants per client). Labels are bounded: names from the
code (events, rules, methods, templates) or from configuration (SP entityIDs,
client ids of SPs and clients already validated); never an account, an
address or an IP. A rejected SAML request names an SP the gateway may not
know, so it is counted with ``sp=""``.

Gauges that cost a Redis or disk read (queue depths, Redis PING, SAML
aggregates, certificate expiry) are computed when Prometheus scrapes
(:mod:`gateway.metrics.scrape`), never on a request.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (``deploy/gunicorn.conf.py``) puts
prometheus-client in multi-process mode: each process writes its own files
there and the scrape sums them. The mail worker writes there too when its
environment names the same folder (``deploy/systemd``).
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask
from prometheus_client import Counter, Histogram, values

#: True when prometheus-client chose its multi-process values (the variable was set before its import).
MULTIPROCESS = values.ValueClass is not values.MutexValue
#: ``app.extensions`` key of the gauge functions packages add with :func:`on_scrape`.
SCRAPE_HOOKS = "gateway.metrics.scrape_hooks"


def on_scrape(app: Flask, gauges: Callable[[Flask], Iterable[Any]]) -> None:
    """``gauges(app)`` yields metric families of a package's own, read when Prometheus scrapes (never on a
    request): the package knows its objects, this module does not reach into them."""
    app.extensions.setdefault(SCRAPE_HOOKS, []).append(gauges)

EVENTS = Counter("gateway_events_total", "Audit events, by name (gateway.logs.EVENTS).", ["event"])
SIGNINS = Counter("gateway_signins_total", "Sign-in steps by method (pwd, code) and result.", ["method", "result"])
REFUSALS = Counter("gateway_limit_refusals_total", "Requests refused by a limit or a delay, by rule.", ["rule"])
CODES = Counter("gateway_codes_total", "One-time codes and links by purpose and fate.", ["purpose", "fate"])
MAILS = Counter("gateway_mails_total", "Mails by template and fate (queued, sent, retrying, failed, refused, expired).",
                ["template", "fate"])
SSO = Counter("gateway_saml_sso_total", "SAML SSO answers by SP and result (issued, status, rejected).",
              ["sp", "result"])
SLO = Counter("gateway_saml_slo_total", "SAML logout results by SP (answered, failed, backchannel_*).",
              ["sp", "result"])
OIDC = Counter("gateway_oidc_grants_total", "OIDC token requests by client, grant type and result.",
               ["client", "grant_type", "result"])
REDIS_UNAVAILABLE = Counter("gateway_redis_unavailable_total",
                            "Requests answered 503 because Redis was away, by cause.", ["cause"])
LATENCY = Histogram("gateway_request_duration_seconds", "Request latency by endpoint group and status class.",
                    ["group", "status"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

#: Endpoint groups by path prefix; everything else is "pages". A small fixed set, never raw paths.
GROUPS = (("/saml/", "saml"), ("/oidc/", "oidc"), ("/.well-known/", "oidc"), ("/scim/", "scim"),
          ("/healthz", "health"))

Labels = tuple[Counter, tuple[str, ...]]


def _signin(result: str, method: str = "pwd") -> Callable[[Mapping[str, Any]], Labels]:
    return lambda f: (SIGNINS, (method, result))


def _methods(fields: Mapping[str, Any]) -> str:
    return "+".join(sorted(str(m) for m in fields.get("methods") or ())) or "pwd"


def _sp(result: str, counter: Counter = SSO) -> Callable[[Mapping[str, Any]], Labels]:
    return lambda f: (counter, (str(f.get("sp") or ""), result))


def _fixed(counter: Counter, *labels: str) -> Callable[[Mapping[str, Any]], Labels]:
    return lambda f: (counter, labels)


#: Event -> the labelled counter it also feeds, from the event's own fields.
_DERIVED: dict[str, Callable[[Mapping[str, Any]], Labels]] = {
    "login.succeeded": lambda f: (SIGNINS, (_methods(f), "succeeded")),
    "login.failed": _signin("failed"),
    "login.unknown_address": _signin("unknown_address", "address"),
    "login.disabled": _signin("disabled", "address"),
    "code.failed": lambda f: (SIGNINS, ("code", "failed")),
    "limit.refused": lambda f: (REFUSALS, (str(f.get("rule", "")),)),
    "activation.failed": _fixed(CODES, "activation", "refused"),
    "activation.completed": _fixed(CODES, "activation", "redeemed"),
    "reset.sent": _fixed(CODES, "reset", "issued"),
    "reset.completed": _fixed(CODES, "reset", "redeemed"),
    "mail.queued": lambda f: (MAILS, (str(f.get("template", "")), "queued")),
    "mail.sent": lambda f: (MAILS, (str(f.get("template", "")), "sent")),
    "mail.failed": lambda f: (MAILS, (str(f.get("template", "")),
                                      "retrying" if f.get("will_retry") else "failed")),
    "mail.refused": lambda f: (MAILS, (str(f.get("template", "")), "refused")),
    "mail.expired": lambda f: (MAILS, (str(f.get("template", "")), "expired")),
    "saml.sso.issued": _sp("issued"),
    "saml.sso.status": _sp("status"),
    "saml.sso.rejected": lambda f: (SSO, ("", "rejected")),
    "saml.slo.answered": _sp("answered", SLO),
    "saml.slo.failed": _sp("failed", SLO),
    "saml.slo.backchannel_sent": _sp("backchannel_sent", SLO),
    "saml.slo.backchannel_failed": _sp("backchannel_failed", SLO),
    "saml.slo.backchannel_unreachable": _sp("backchannel_unreachable", SLO),
    "saml.slo.rejected": lambda f: (SLO, ("", "rejected")),
    "oidc.token_issued": lambda f: (OIDC, (str(f.get("client", "")), str(f.get("grant_type", "")), "issued")),
    "oidc.code_reused": lambda f: (OIDC, (str(f.get("client", "")), "authorization_code", "reused")),
    "oidc.refresh_reused": lambda f: (OIDC, (str(f.get("client", "")), "refresh_token", "reused")),
}


@functools.lru_cache(maxsize=4096)
def _child(metric: Counter | Histogram, labels: tuple[str, ...]) -> Any:
    """``metric.labels(*labels)``, the same object, without prometheus-client's check and lock each time.

    The labels are bounded (see the module's docstring), and the cache too, in case."""
    return metric.labels(*labels)


def count(event: str, fields: Mapping[str, Any]) -> None:
    """Count one audit event (called by :func:`gateway.logs.audit` only). Never raises on odd fields."""
    _child(EVENTS, (event,)).inc()
    derive = _DERIVED.get(event)
    if derive is not None:
        counter, labels = derive(fields)
        _child(counter, labels).inc()


def count_unavailable(cause: str) -> None:
    """One request refused with a 503 because Redis was away (``cause``: an exception class name)."""
    REDIS_UNAVAILABLE.labels(cause).inc()


def group_of(path: str) -> str:
    """The endpoint group of a request path: saml, oidc, scim, health or pages."""
    for prefix, group in GROUPS:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return group
    return "pages"


class TimedRequests:
    """WSGI middleware: observe each request's time to its status line in :data:`LATENCY`."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        group = group_of(environ.get("PATH_INFO", ""))

        def timed_start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            _child(LATENCY, (group, f"{status[:1]}xx")).observe(time.perf_counter() - started)
            return start_response(status, headers, *exc_info)

        return self.app(environ, timed_start_response)


def init_app(app: Flask) -> None:
    """Time every request; make sure the multi-process folder exists (a missing one would fail every count)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if MULTIPROCESS and folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    app.wsgi_app = TimedRequests(app.wsgi_app)  # type: ignore[method-assign]
