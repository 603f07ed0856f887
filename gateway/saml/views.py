"""``/saml/*``: metadata, SSO (Redirect and POST), the way back from sign-in, and the error page.

The only module here that reads ``request`` and ``session``. It parses, calls
one function below, and renders: a French error page (400, never a redirect)
for a request that cannot be trusted, or the auto-submitting POST form, with its
own Content-Security-Policy, for a Response (success or error status).
"""
from __future__ import annotations

import dataclasses
import secrets
import time
from datetime import datetime, timezone
from typing import cast
from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, render_template, request, session, url_for
from werkzeug.wrappers import Response

from .. import ROOT, services
from ..identity.current import current_authentication, require_login
from ..identity.models import Authentication
from ..logs import audit
from . import participants, pending
from .authn_request import SsoRequest, receive
from .bindings import read_post, read_redirect
from .errors import NoPassive, RequestExpired, RequestRejected, StatusError
from .idp import IdentityProvider
from .metadata import CONTENT_TYPE, build_metadata, etag
from .nameids import NameIds
from .providers import ServiceProvider
from .response import encode
from .scopes import Scopes
from .sso import answer, answer_error, needs_sign_in, provider_of, session_digest

bp = Blueprint("saml", __name__, static_folder=str(ROOT / "templates" / "saml" / "static"),
               static_url_path="/saml/static")


def idp() -> IdentityProvider:
    return cast(IdentityProvider, current_app.extensions["gateway.saml"])


@bp.get("/saml/metadata")
def metadata() -> Response:
    """The IdP metadata (A10: application/samlmetadata+xml, ETag, cacheable)."""
    scopes = cast(Scopes, current_app.extensions["gateway.saml.scopes"])
    document = build_metadata(idp(), scopes.current(), datetime.now(timezone.utc))
    response = make_response(document)
    response.mimetype = CONTENT_TYPE
    response.set_etag(etag(document).strip('"'))
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)


@bp.route("/saml/sso", methods=["GET", "POST"])
def sso() -> Response | tuple[str, int]:
    """SingleSignOnService, HTTP-Redirect (GET) and HTTP-POST (checklist B)."""
    try:
        if request.method == "GET":
            message = read_redirect(request.args.to_dict(flat=False), request.query_string)
        else:
            message = read_post(request.form.to_dict(flat=False))
        sso_request = receive(idp(), message, services.store(), time.time())
    except RequestRejected as exc:
        return rejected(exc)
    return proceed(sso_request, resuming=None)


@bp.get("/saml/sso/resume")
def resume() -> Response | tuple[str, int]:
    """Back from the sign-in pages with the saved request's key."""
    token = request.args.get("key", "")
    saved = pending.load(services.store(), token)
    if saved is None:
        return rejected(RequestExpired("no such saved request"))
    return proceed(saved, resuming=token)


@bp.route("/saml/slo", methods=["GET", "POST"])
def slo() -> tuple[str, int]:
    """SingleLogoutService: published (A02), answered by gateway/saml/slo.py in the next step."""
    text = "La déconnexion unique SAML n'est pas encore disponible sur la passerelle UNESS."
    return render_template("error.html", status=501, title="Déconnexion unique indisponible", text=text), 501


@bp.get("/saml/error")
def error_page() -> str:
    """The metadata's errorURL (A07): where an SP sends people when the IdP failed."""
    text = ("La connexion par la passerelle UNESS n'a pas abouti. Retournez sur le service "
            "et réessayez dans un instant.")
    return render_template("error.html", status=200, title="Connexion impossible", text=text)


def proceed(sso_request: SsoRequest, resuming: str | None) -> Response | tuple[str, int]:
    """Sign in first (or answer NoPassive), else send the Response (REQ08, REQ09)."""
    auth = current_authentication()
    if needs_sign_in(sso_request, auth, resuming is not None):
        if sso_request.is_passive:
            return post_status(sso_request, NoPassive("nobody is signed in"))
        if resuming is None:
            prior = session_digest(auth.session_id) if auth else ""
            saved = dataclasses.replace(sso_request, prior_session=prior)
            resuming = pending.save(services.store(), saved, idp().settings.pending_minutes * 60)
        return require_login(url_for("saml.resume", key=resuming), force=sso_request.force_authn)
    if resuming and pending.consume(services.store(), resuming) is None:
        return rejected(RequestExpired("saved request already used"))
    return deliver(sso_request, cast(Authentication, auth))


def deliver(sso_request: SsoRequest, auth: Authentication) -> Response:
    """The Response for the signed-in person, recorded for SLO."""
    the_idp, parties = idp(), services.parties()
    previous = participants.previous(parties, auth.session_id, sso_request.sp_entity_id)
    account = services.directory().get(auth.account_id)
    name_ids = cast(NameIds, current_app.extensions["gateway.saml.nameids"])
    try:
        document, participation = answer(the_idp, sso_request, account, auth, name_ids, previous, time.time())
    except StatusError as exc:
        return post_status(sso_request, exc)
    ttl = max(60, services.sessions().ttl_for(session))
    participants.record(parties, auth.session_id, sso_request.sp_entity_id, participation, ttl)
    audit("saml.sso.issued", sp=sso_request.sp_entity_id, account=auth.account_id,
          name_id_format=participation.name_id.format)
    sp = provider_of(the_idp, sso_request)
    return post_form(sp, sso_request.acs_url, document, sso_request.relay_state)


def post_status(sso_request: SsoRequest, error: StatusError) -> Response:
    """An error status POSTed to the validated ACS (RSP10)."""
    audit("saml.sso.status", sp=sso_request.sp_entity_id, status=error.second, reason=error.detail)
    document = answer_error(idp(), sso_request, error, time.time())
    return post_form(provider_of(idp(), sso_request), sso_request.acs_url, document, sso_request.relay_state)


def post_form(sp: ServiceProvider, acs_url: str, document: bytes, relay_state: str | None) -> Response:
    """The auto-submitting form (RSP01), with a CSP letting it post to the ACS only."""
    html = render_template("saml/post.html", action=acs_url, saml_response=encode(document),
                           relay_state=relay_state)
    response = make_response(html)
    sources = " ".join((csp_source(acs_url), *sp.policy.form_action))
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"form-action {sources}; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def rejected(exc: RequestRejected) -> tuple[str, int]:
    """The French error page, 400, no redirect (REQ02, REQ07); the reason goes to the audit log only."""
    reference = secrets.token_hex(4)
    audit("saml.sso.rejected", reason=type(exc).__name__, sp=exc.sp_entity_id, detail=exc.detail[:300],
          reference=reference)
    return render_template("saml/error.html", message=exc.message, reference=reference), 400


def csp_source(url: str) -> str:
    """``url`` as a CSP source expression: scheme, host, port and path (no query); the origin if odd."""
    parts = urlsplit(url)
    source = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if any(c in source for c in " ;,'\"") or not parts.netloc:
        return f"{parts.scheme}://{parts.netloc}".translate({ord(c): None for c in " ;,'\""})
    return source
