"""SAML 2.0 identity provider (pysaml2 + the xmlsec binding): metadata, SSO, SLO.

The gateway answers legacy Renater SPs (Shibboleth SP 3, SimpleSAMLphp) that
must keep working unmodified. Docstrings cite the spec sections and the IDs of
the protocol checklist (A01, REQ02, RSP05, CRY04, NID07, ATT01, SEC02...).

Sub-packages, from the views down to the wire; each imports only those below it (the
``saml-layers`` contract of setup.cfg, checked by tests/test_layers.py)::

    views            /saml/metadata (+ /aggregate), /saml/sso (+ /resume, /init), /saml/slo
                     (+ /saml/slo/chain), /saml/error: parse, call one function below, render
    slo/             single logout (checklist G)
      messages         LogoutRequest checks, the LogoutRequests and LogoutResponses sent and received
      chain            the front-channel chain through the SPs: its state in Redis, the logout hook,
                       and the state machine deciding each step (next_step) that the views render
      backchannel      single logout over SOAP, queued, when no browser can carry the chain
      participants     which SPs took part in a session, with what NameID and SessionIndex
    cutover.py       what an application sees of a person after it moves here, and the check that
                     every identifier it stores comes back (gateway saml cutover-check; issue 11)
    sso/             single sign-on (checklist B, C, D)
      authn_request    every check of an AuthnRequest (REQ01-REQ14) -> SsoRequest
      acs              choosing the AssertionConsumerService from metadata (REQ02, REQ03)
      pending          requests waiting for sign-in, in Redis
      answer           answering a signed-in person: NameID, attributes, Response (REQ08-REQ11), for an
                       AuthnRequest or IdP-initiated (one function builds both)
      response         building, signing, encrypting the samlp:Response (RSP01-RSP11, CRY01-CRY05)
      initiated        IdP-initiated SSO for portal links: the SP and target checks
    idp/             the gateway's own IdP
      build            the IdP built once per process from the settings; keys, signer, SPs, policies
      metadata         the IdP metadata (A01-A10), signed, in the shape of each trust path (REN02)
      gauges           certificate expiry and aggregate ages, for /metrics
    sp/              the service providers trusted, and what each gets
      providers        an SP as its metadata says (endpoints, keys, entity categories)
      aggregates       remote signed SP aggregates, fetched and checked
      policy           the per-SP settings, [saml.sp."<entityID>"]
      attribute_names  the attributes the gateway can release, by name (ATT05)
      attributes       Renater attributes and release policy (ATT01-ATT07: R&S, liste rouge)
      nameids          NameID formats and identifiers that never change (NID01-NID08)
      scopes           the configured scopes only: asserted and published (A03)
    wire/            the wire format and its cryptography
      bindings         HTTP-Redirect / HTTP-POST decoding, size caps
      signatures       verifying signed requests (REQ04-REQ06, SEC01, SEC03)
      crypto           sign / encrypt, in-process (xmlsec binding) or with the xmlsec1 program
      keys             the IdP's keys and certificates
      xml              safe parsing, namespaces
      schemas          pysaml2's schema validator, built when first used (not at import)
    errors.py        the error tree, split by who must be told (a French page, or a StatusCode)

``saml`` imports ``identity`` (and reads accounts), never ``web`` or ``oidc``.
"""
from __future__ import annotations

import warnings

from flask import Flask

from .wire.schemas import defer_pysaml2_schema

defer_pysaml2_schema()  # before anything imports pysaml2's sigver: ~0.8 s of start-up (wire/schemas.py)

from .. import csrf, jobs, metrics, services  # noqa: E402
from ..identity.logout import on_session_end

with warnings.catch_warnings():
    # pysaml2 7.5 lists cryptography's CFB mode, which recent cryptography moved to "decrepit" and
    # warns about on import: harmless here, and printed by every command otherwise.
    warnings.filterwarnings("ignore", message="CFB has been moved", module="saml2.cryptography.symmetric")
    from . import views
    from .idp import gauges
    from .idp.build import build_identity_provider
    from .idp.metadata import MetadataPublisher
    from .slo.backchannel import EXTENSION as BACKCHANNEL
    from .slo.backchannel import BackChannel
    from .slo.chain import logout_hook
    from .sp.nameids import NameIds


def init_app(app: Flask) -> None:
    """Build the IdP once (pysaml2 Server, keys, SP metadata) and register ``/saml/*``.

    Off (no routes) in production mode without a signing key. Raises ConfigError.
    """
    settings = services.settings(app)
    idp = build_identity_provider(settings)
    if idp is None:
        return
    store = services.store(app)
    app.extensions["gateway.saml"] = idp
    metrics.on_scrape(app, gauges.gauges)  # aggregate ages and certificate expiry, at scrape time
    app.extensions["gateway.saml.nameids"] = NameIds(store, idp.entity_id)
    app.extensions["gateway.saml.metadata"] = MetadataPublisher(idp)
    app.register_blueprint(views.bp)
    if idp.aggregates is not None:  # remote SP aggregates: a cheap check, the work in a thread
        app.before_request(idp.aggregates.tick)
    for view in (views.sso, views.slo):  # cross-site POSTs from SPs carry no CSRF token (SEC07)
        csrf.exempt(app, view)
    channel = BackChannel(idp, settings, jobs.service(app))  # SOAP logout when no browser can carry the chain
    app.extensions[BACKCHANNEL] = channel
    on_session_end(app, logout_hook(idp, store, services.parties(app), channel.tell))
