"""Installing the SAML IdP into the app: :func:`init_app`, called by ``gateway.create_app``.

Built once per process from the settings (:mod:`.idp.build`); then the pages
(:mod:`.views`), the gauges of ``/metrics``, the logout hook of
:mod:`gateway.identity.logout` (:mod:`.slo.chain`) and the SOAP back-channel
(:mod:`.slo.backchannel`).
"""
from __future__ import annotations

import warnings

from flask import Flask

from .wire.schemas import defer_pysaml2_schema

defer_pysaml2_schema()  # before anything imports pysaml2's sigver: ~0.8 s of start-up (wire/schemas.py)

from .. import csrf, jobs, metrics, services  # noqa: E402
from ..identity.logout import on_session_end  # noqa: E402

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
