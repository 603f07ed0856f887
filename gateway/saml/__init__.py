"""SAML 2.0 identity provider (pysaml2 + the xmlsec binding): metadata, SSO, SLO.

The gateway answers legacy Renater SPs (Shibboleth SP 3, SimpleSAMLphp) that
must keep working unmodified. Docstrings cite the spec sections and the IDs of
the protocol checklist (A01, REQ02, RSP05, CRY04, NID07, ATT01, SEC02...).

This package's ``__init__`` imports nothing: :mod:`gateway.config` reads
:mod:`.settings` (the ``[saml]`` section and its checks) without loading pysaml2.
:func:`gateway.saml.app.init_app` builds the IdP and registers the pages
(``create_app`` calls it).

Outside the layers below: ``app.py`` (``init_app``: the IdP built once, its pages, its
logout hook and SOAP back-channel; it imports from every layer, nothing imports it but
``create_app``) and ``settings.py`` (the ``[saml]`` settings and their checks, composed
by :mod:`gateway.config`; it imports nothing of this package).

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
