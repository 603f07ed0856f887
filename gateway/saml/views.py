"""``/saml/*``: metadata, SSO (Redirect and POST, IdP-initiated), the way back from sign-in, SLO and its
chain, and the error page.

The only module here that reads ``request`` and ``session``. It parses, calls
one function below, and renders: a French error page (400, never a redirect)
for a request that cannot be trusted, or the auto-submitting POST form, with its
own Content-Security-Policy, for a Response (success or error status); for
logout, the step the chain decided (:func:`gateway.saml.slo.chain.next_step`).
"""
from __future__ import annotations

import dataclasses
import functools
import secrets
import time
from datetime import datetime, timezone
from typing import cast
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, make_response, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from werkzeug.wrappers import Response

from .. import services
from ..config import ROOT
from ..identity.flaskglue.current import current_authentication, name_in, page_language, require_login
from ..identity.flaskglue.logout import (end_this_session, follows_this_logout, logged_out_landing,
                                         moving_on_page)
from ..identity.flaskglue.session_interface import open_in_view, session_opened_in_view
from ..identity.logout import Initiator
from ..identity.models import Authentication
from ..identity.names import shown_name
from ..identity.redirects import browser_url, location
from ..logs import audit
from .errors import NoPassive, RequestExpired, RequestRejected, StatusError
from .idp.build import IdentityProvider
from .idp.metadata import AGGREGATE_PATH, CONTENT_TYPE, MetadataPublisher, etag
from .post_page import Words, post_page
from .slo import chain as logout_chain
from .slo import messages as single_logout
from .slo import participants
from .sp.nameids import NameIds
from .sp.providers import ServiceProvider
from .sp.scopes import note_withheld_eppn
from .sso import pending
from .sso.acs import default_endpoint
from .sso.answer import answer, answer_error, answer_unsolicited, needs_sign_in, provider_of, session_digest
from .sso.authn_request import SsoRequest, receive, replay_guard, replayed
from .sso.initiated import Refused, check_target, find_sp
from .wire.bindings import read_post, read_redirect

bp = Blueprint("saml", __name__, static_folder=str(ROOT / "templates" / "saml" / "static"),
               static_url_path="/saml/static")


def idp() -> IdentityProvider:
    return cast(IdentityProvider, current_app.extensions["gateway.saml"])


@bp.get("/saml/metadata")
@bp.get(AGGREGATE_PATH, endpoint="metadata_aggregate", defaults={"aggregate": True})
def metadata(aggregate: bool = False) -> Response:
    """The IdP metadata, signed (A10: application/samlmetadata+xml, ETag, cacheable); at
    /saml/metadata/aggregate inside an md:EntitiesDescriptor, for a local federation (REN02)."""
    publisher = cast(MetadataPublisher, current_app.extensions["gateway.saml.metadata"])
    scopes = idp().settings.scopes
    now = datetime.now(timezone.utc)
    document = publisher.aggregate(scopes, now) if aggregate else publisher.entity(scopes, now)
    response = make_response(document)
    response.mimetype = CONTENT_TYPE
    response.set_etag(etag(document).strip('"'))
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)


@bp.route("/saml/sso", methods=["GET", "POST"])
@session_opened_in_view
def sso() -> Response | tuple[str, int]:
    """SingleSignOnService, HTTP-Redirect (GET) and HTTP-POST (checklist B); the session is read with the
    request's other reads and its replay guard, in one round trip (:func:`participants.load`)."""
    try:
        if request.method == "GET":
            message = read_redirect(request.args.to_dict(flat=False), request.query_string)
        else:
            message = read_post(request.form.to_dict(flat=False))
        sso_request = receive(idp(), message, time.time())
    except RequestRejected as exc:
        open_in_view()
        return rejected(exc)
    state = cast(participants.SsoState, open_in_view(functools.partial(sso_state, sso_request, fresh=True)))
    if not state.fresh:
        return rejected(replayed(sso_request))
    return proceed(sso_request, resuming=None, state=state)


def sso_state(sso_request: SsoRequest, session_id: str | None, *,
              fresh: bool) -> tuple[str | None, participants.SsoState]:
    """What answering ``sso_request`` reads, with the session ``session_id`` (:func:`participants.load`);
    a ``fresh`` request's ID is remembered (SEC05)."""
    guard = replay_guard(sso_request, idp().settings.clock_skew) if fresh else None
    name_ids = cast(NameIds, current_app.extensions["gateway.saml.nameids"])
    return participants.load(services.store(), name_ids, session_id, sso_request.sp_entity_id, guard)


@bp.get("/saml/sso/init")
def initiate() -> Response | tuple[str, int]:
    """IdP-initiated SSO for portal links (checks: :mod:`gateway.saml.sso.initiated`): an unsolicited
    Response to the SP's default ACS, RelayState ``target``; sign in first when nobody is."""
    the_idp = idp()
    entity_id, target = request.args.get("sp", ""), request.args.get("target", "")
    try:
        sp = find_sp(the_idp, entity_id)
        target = check_target(sp, target)
        acs = default_endpoint(sp.acs)
    except RequestRejected as exc:
        return rejected(exc)
    auth = current_authentication()
    if auth is None:
        return require_login(url_for("saml.initiate", sp=entity_id, target=target),
                             app_names=sp.display_names)
    parties = services.parties()
    previous = participants.previous(parties, auth.session_id, sp.entity_id)
    account = services.directory().get(auth.account_id)
    if account is not None:
        note_withheld_eppn(account, sp.entity_id, the_idp.settings.scopes)
    name_ids = cast(NameIds, current_app.extensions["gateway.saml.nameids"])
    try:
        document, participation = answer_unsolicited(the_idp, sp, acs.location, account, auth, name_ids, previous,
                                                     time.time())
    except StatusError as exc:
        audit("saml.sso.initiated.refused", sp=sp.entity_id, status=exc.second, reason=exc.detail)
        return rejected(Refused(exc.detail, sp.entity_id))
    ttl = max(60, services.sessions().ttl_for(session))
    participants.record(parties, auth.session_id, sp.entity_id, participation, ttl)
    audit("saml.sso.issued", sp=sp.entity_id, account=auth.account_id,
          name_id_format=participation.name_id.format, initiated="idp")
    return post_form(sp, acs.location, document, target)


@bp.get("/saml/sso/resume")
def resume() -> Response | tuple[str, int]:
    """Back from the sign-in pages with the saved request's key."""
    token = request.args.get("key", "")
    saved = pending.load(services.store(), token)
    if saved is None:
        return rejected(RequestExpired("no such saved request"))
    return proceed(saved, resuming=token)


@bp.route("/saml/slo", methods=["GET", "POST"])
def slo() -> Response | tuple[str, int]:
    """SingleLogoutService (checklist G): an SP's LogoutRequest, or a participant's LogoutResponse."""
    values = request.args if request.method == "GET" else request.form
    if "SAMLResponse" in values:
        return slo_response()
    try:
        if request.method == "GET":
            message = read_redirect(request.args.to_dict(flat=False), request.query_string)
        else:
            message = read_post(request.form.to_dict(flat=False))
        logout = single_logout.receive_request(idp(), message, services.store(), time.time())
    except RequestRejected as exc:
        return slo_rejected(exc)
    audit("saml.slo.received", sp=logout.sp_entity_id, asynchronous=logout.asynchronous,
          binding=message.binding.rsplit(":", 1)[-1])
    auth = current_authentication()
    if auth is None or not single_logout.matches(services.parties(), auth.session_id, logout):
        # SLO03: never log out someone else; the session (if any) is left alone.
        audit("saml.slo.denied", sp=logout.sp_entity_id,
              reason="no session" if auth is None else "NameID or SessionIndex not issued to this SP")
        sp = idp().provider(logout.sp_entity_id)
        outgoing = None if logout.asynchronous or sp is None else single_logout.logout_response(
            idp(), sp, logout.id, single_logout.REQUESTER, single_logout.UNKNOWN_PRINCIPAL,
            logout.relay_state, time.time())
        if outgoing is None or sp is None:
            return denied_page()
        answer = send(outgoing, sp)
        return off_the_form(answer) if request.method == "POST" else answer
    initiator = Initiator(participants.PROTOCOL, logout.sp_entity_id, logout.id, logout.relay_state,
                          logout.asynchronous)
    url = end_this_session(initiator=initiator, reason="slo").continuation
    if url is None:  # the hook did not run (or failed): the sign-in page says the person is logged out
        return logged_out_landing()
    step = chain_step(url.partition("token=")[2], skip=False)
    return off_the_form(step) if request.method == "POST" else step


def slo_response() -> Response | tuple[str, int]:
    """A participant's LogoutResponse: record it in the chain named by RelayState, then go on."""
    try:
        if request.method == "GET":
            message = read_redirect(request.args.to_dict(flat=False), request.query_string, "SAMLResponse")
        else:
            message = read_post(request.form.to_dict(flat=False), "SAMLResponse")
    except RequestRejected as exc:
        return slo_rejected(exc)
    token = message.relay_state or ""
    if not follows_this_logout(f"{logout_chain.CHAIN_PATH}?token={token}"):  # as slo_chain
        return slo_rejected(RequestExpired("a LogoutResponse for a logout chain this browser did not start"))
    current = logout_chain.take_answer(idp(), services.store(), token, message, time.time())
    if current is None:
        return slo_rejected(RequestExpired("LogoutResponse for no logout in progress"))
    step = chain_step(token, skip=False)
    after_a_form = request.method == "POST" or current.get("binding") == BINDING_HTTP_POST
    return off_the_form(step) if after_a_form else step


@bp.get("/saml/slo/chain")
def slo_chain() -> Response | tuple[str, int]:
    """The front-channel chain: the next participant, or the end (SLO04), in the browser whose logout
    started it only (a chain's link opened elsewhere is refused, and the chain left as it was)."""
    token = request.args.get("token", "")
    if not follows_this_logout(f"{logout_chain.CHAIN_PATH}?token={token}"):
        return slo_rejected(RequestExpired("a logout chain this browser did not start"))
    return chain_step(token, skip=request.args.get("skip") == "1")


def chain_step(token: str, skip: bool) -> Response | tuple[str, int]:
    """The page of the step the chain decided (:func:`gateway.saml.slo.chain.next_step`)."""
    step = logout_chain.next_step(idp(), services.store(), token, time.time(), skip)
    if step is None:
        return slo_rejected(RequestExpired("no such logout in progress"))
    if isinstance(step, logout_chain.Wait):
        return waiting_page(token, step.sp_entity_id, step.seconds)
    if isinstance(step, (logout_chain.SendRequest, logout_chain.AnswerInitiator)):
        return send(step.message, step.sp)
    if isinstance(step, logout_chain.ReturnTo):  # an OIDC RP-Initiated Logout: the RP's post_logout_redirect_uri
        return no_store_redirect(step.url)
    done = [display_name(sp) for sp, result in step.results.items() if result == "ok"]
    unconfirmed = [display_name(sp) for sp, result in step.results.items() if result != "ok"]
    return logged_out_landing(done, unconfirmed)


def send(outgoing: single_logout.Outgoing, sp: ServiceProvider) -> Response:
    """A Redirect (302) or the auto-POST form, with a CSP letting it post to that SP, and letting the SP
    redirect back here (its LogoutResponse by HTTP-Redirect: ``form-action`` governs that redirect too)."""
    if outgoing.binding == BINDING_HTTP_REDIRECT:
        return no_store_redirect(outgoing.url)
    response = make_response(post_page(*page_assets(), browser_url(outgoing.url), outgoing.field,
                                       outgoing.value, outgoing.relay_state, post_words(logout=True)))
    response.headers["Content-Security-Policy"] = form_csp(outgoing.url, (*sp.policy.form_action, "'self'"))
    response.headers["Cache-Control"] = "no-store"
    return response


def off_the_form(step: Response | tuple[str, int]) -> Response | tuple[str, int]:
    """The chain's next hop after a form (the SP's, or our POST page's), out of that form's navigation.

    CSP ``form-action`` (ours, or the SP page's) governs every redirect that follows
    a form submission, so a 302 to another origin (the next SP, the initiator's
    LogoutResponse, an OIDC RP) becomes a page of ours that moves on by itself.
    """
    if not isinstance(step, Response) or step.status_code != 302:
        return step
    location = step.headers.get("Location", "")
    if location.startswith("/") or location.startswith(services.settings().public_url + "/"):
        return step
    return moving_on_page(location)


def no_store_redirect(url: str) -> Response:
    """A 302 that no cache keeps (it may carry a signed message, or an RP's state), to ``url`` validated
    and re-serialised (:mod:`gateway.identity.redirects`). Raises UnsafeUrl."""
    response = redirect(location(url), 302)
    response.headers["Cache-Control"] = "no-store"
    return response


def waiting_page(token: str, sp_entity_id: str, seconds: int) -> Response:
    html = render_template("saml/logout_wait.html", sp=display_name(sp_entity_id), seconds=seconds,
                           again=url_for("saml.slo_chain", token=token),
                           skip=url_for("saml.slo_chain", token=token, skip=1))
    response = make_response(html)
    response.headers["Refresh"] = f"{seconds}; url={url_for('saml.slo_chain', token=token)}"
    response.headers["Cache-Control"] = "no-store"
    return response


def denied_page() -> Response:
    """An asynchronous LogoutRequest (SLO06) for no session of this browser: nothing was changed (SLO03)."""
    response = make_response(render_template("saml/logout_denied.html", denied=True))
    response.headers["Cache-Control"] = "no-store"
    return response


def display_name(entity_id: str) -> str:
    """What the person recognises: the SP's mdui:DisplayName in the page's language (else another),
    else its host name; its visible characters only (:func:`gateway.identity.names.shown_name`)."""
    sp = idp().provider(entity_id)
    return shown_name(name_in(dict(sp.display_names) if sp else {}, page_language())
                      or urlsplit(entity_id).hostname or entity_id)


def slo_rejected(exc: RequestRejected) -> tuple[str, int]:
    """A logout message that cannot be trusted: the French page, 400, and no redirect."""
    reference = secrets.token_hex(4)
    audit("saml.slo.rejected", reason=type(exc).__name__, sp=exc.sp_entity_id, detail=exc.detail[:300],
          reference=reference)
    message = _("La demande de déconnexion reçue n'est pas valable (signature absente ou invalide, "
                "demande déjà utilisée ou expirée).")
    return render_template("saml/error.html", message=message, reference=reference), 400


@bp.get("/saml/error")
def error_page() -> str:
    """The metadata's errorURL (A07): where an SP sends people when the IdP failed."""
    text = _("La connexion par la passerelle UNESS n'a pas abouti. Retournez sur le service "
             "et réessayez dans un instant.")
    return render_template("error.html", status=200, title=_("Connexion impossible"), text=text)


def proceed(sso_request: SsoRequest, resuming: str | None,
            state: participants.SsoState | None = None) -> Response | tuple[str, int]:
    """Sign in first (or answer NoPassive), else send the Response (REQ08, REQ09). ``state``: what was
    read with the session for a request just received (its ID already remembered), None when resuming."""
    auth = current_authentication()
    if needs_sign_in(sso_request, auth, resuming is not None):
        if sso_request.is_passive:
            return post_status(sso_request, NoPassive("nobody is signed in"))
        if resuming is None:
            prior = session_digest(auth.session_id) if auth else ""
            saved = dataclasses.replace(sso_request, prior_session=prior)
            resuming = pending.save(services.store(), saved, idp().settings.pending_minutes * 60)
        return require_login(url_for("saml.resume", key=resuming), force=sso_request.force_authn,
                             app_names=provider_of(idp(), sso_request).display_names)
    if resuming and pending.consume(services.store(), resuming) is None:
        return rejected(RequestExpired("saved request already used"))
    if state is None:
        state = sso_state(sso_request, cast(Authentication, auth).session_id, fresh=False)[1]
    return deliver(sso_request, cast(Authentication, auth), state)


def deliver(sso_request: SsoRequest, auth: Authentication,
            state: participants.SsoState) -> Response | tuple[str, int]:
    """The Response for the signed-in person (``state``: what was read for it), recorded for SLO."""
    the_idp, parties = idp(), services.parties()
    if state.account is not None:
        note_withheld_eppn(state.account, sso_request.sp_entity_id, the_idp.settings.scopes)
    try:
        document, participation = answer(the_idp, sso_request, state.account, auth, state.name_ids,
                                         state.previous, time.time())
    except StatusError as exc:
        return post_status(sso_request, exc)
    ttl = max(60, services.sessions().ttl_for(session))
    participants.keep(parties, auth.session_id, sso_request.sp_entity_id, participation, state, ttl)
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
    html = post_page(*page_assets(), checked_action(acs_url), "SAMLResponse", document, relay_state,
                     post_words(logout=False))
    return with_form_csp(make_response(html), acs_url, sp)


def post_words(logout: bool) -> Words:
    """What the auto-POST page says, in the page's language."""
    return _words_in(page_language(), logout)


@functools.lru_cache(maxsize=16)  # a few languages, two kinds of page: translated once each per process
def _words_in(lang: str, logout: bool) -> Words:
    """:func:`post_words` for ``lang``, which is the language gettext translates into in this request."""
    if logout:
        return Words(lang, _("Déconnexion en cours"), _("Déconnexion en cours…"),
                     _("JavaScript est désactivé : cliquez sur le bouton pour continuer la déconnexion."),
                     _("Continuer"))
    return Words(lang, _("Connexion en cours"), _("Connexion en cours…"),
                 _("JavaScript est désactivé : cliquez sur le bouton pour continuer vers le service."),
                 _("Continuer"))


def page_assets() -> tuple[str, str]:
    """The POST page's stylesheet and script URLs."""
    return _assets_under(request.script_root)


@functools.lru_cache(maxsize=16)  # one mount point in practice
def _assets_under(script_root: str) -> tuple[str, str]:
    """:func:`page_assets` for a request under ``script_root`` (what ``url_for`` builds them from)."""
    return url_for("static", filename="gateway.css"), url_for("saml.static", filename="post.js")


@functools.lru_cache(maxsize=4096)  # ACS URLs come from metadata only: a bounded set
def checked_action(url: str) -> str:
    """An ACS location (from metadata) validated and re-serialised. Raises UnsafeUrl."""
    return browser_url(url)


def with_form_csp(response: Response, action: str, sp: ServiceProvider) -> Response:
    """This page's own CSP: its script, and a form posting to ``action`` (plus the SP's extra sources)."""
    response.headers["Content-Security-Policy"] = form_csp(action, sp.policy.form_action)
    response.headers["Cache-Control"] = "no-store"
    return response


@functools.lru_cache(maxsize=4096)  # ACS URLs come from metadata only: a bounded set
def form_csp(action: str, extra_sources: tuple[str, ...]) -> str:
    sources = " ".join((csp_source(action), *extra_sources))
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"form-action {sources}; frame-ancestors 'none'; base-uri 'none'")


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
