"""``/.well-known/openid-configuration`` and ``/oidc/*``: thin views over the provider.

Each view parses nothing itself: authlib reads the request, the provider
answers. The blueprint is exempt from the site-wide CSRF check (relying parties
POST to it cross-site by design); the one form of ours, the logout
confirmation, checks its own CSRF token.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, abort, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from ..identity.flaskglue.current import current_authentication
from ..identity.flaskglue.logout import logged_out_landing
from ..identity.flaskglue.session_interface import session_unused, session_with_account
from ..identity.names import shown_name
from . import authorize as authorization
from .discovery import metadata
from .endpoints import userinfo as userinfo_claims
from .exchange import token_response
from .provider import Provider, current_provider

if TYPE_CHECKING:
    from authlib.oidc.rpinitiated.end_session import EndSessionRequest

bp = Blueprint("oidc", __name__)
#: Endpoints a browser application (public client) calls from another origin. They, introspection and
#: registration never read the session (:func:`session_unused`): relying parties call them, not browsers.
CORS_ENDPOINTS = {"oidc.discovery", "oidc.jwks", "oidc.token", "oidc.userinfo", "oidc.revoke"}


def _provider() -> Provider:
    return current_provider()


@bp.after_request
def _cors(response: Response) -> Response:
    """No cookies are read by these endpoints, so any origin may call them (OIDC Discovery §4)."""
    if request.endpoint in CORS_ENDPOINTS:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    return response


@bp.get("/.well-known/openid-configuration")
@session_unused
def discovery() -> Response:
    response = jsonify(metadata(_provider()))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/oidc/jwks")
@session_unused
def jwks() -> Response:
    provider = _provider()
    response = jsonify(provider.keys.current().jwks(provider.now()))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/oidc/authorize", methods=["GET", "POST"])
@session_with_account
def authorize() -> Response:
    return authorization.start(_provider())


@bp.get("/oidc/authorize/<handle>")
def resume(handle: str) -> Response:
    return authorization.resume(_provider(), handle)


@bp.post("/oidc/token")
@session_unused
def token() -> Response:
    return token_response(_provider())


@bp.route("/oidc/userinfo", methods=["GET", "POST"])
@session_unused
def userinfo() -> Response:
    return cast(Response, _provider().server.handle_response(*userinfo_claims(_provider())))


@bp.post("/oidc/revoke")
@session_unused
def revoke() -> Response:
    return cast(Response, _provider().server.create_endpoint_response("revocation"))


@bp.post("/oidc/introspect")
@session_unused
def introspect() -> Response:
    return cast(Response, _provider().server.create_endpoint_response("introspection"))


@bp.post("/oidc/register")
@session_unused
def register() -> Response:
    if not _provider().settings.registration_enabled:
        abort(404)
    return cast(Response, _provider().server.create_endpoint_response("client_registration"))


@bp.route("/oidc/register/<client_id>", methods=["GET", "PUT", "DELETE"])
def configure(client_id: str) -> Response:
    if not _provider().settings.registration_enabled:
        abort(404)
    return cast(Response, _provider().server.create_endpoint_response("client_configuration"))


@bp.route("/oidc/logout", methods=["GET", "POST"])
def logout() -> Response | tuple[str, int] | str:
    """RP-Initiated Logout 1.0 (LOGOUT01): confirm when the request may not be the RP's own."""
    provider = _provider()
    confirmed = request.method == "POST" and request.form.get("confirm") == "1"
    if confirmed:
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            return render_template("oidc/error.html", title=_("Page expirée"), text=_(
                "Cette page a expiré. Revenez sur l'application et déconnectez-vous à nouveau.")), 400
        # flask.g: authlib fixes is_post_logout_redirect_uri_legitimate's signature (endpoints.EndSession)
        g.oidc_logout_confirmed = True
    try:
        end = provider.server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        text = _("La demande de déconnexion de l'application n'est pas valable. "
                 "Vous n'avez pas été déconnecté.")
        return render_template("oidc/error.html", title=_("Déconnexion impossible"), detail=error.error,
                               text=text), 400
    if not confirmed and needs_confirmation(provider, end):
        fields = {k: v for k, v in request.values.items() if k not in ("csrf_token", "confirm")}
        client = end.client
        return render_template("oidc/logout_confirm.html", fields=fields,
                               client_name=shown_name(client.client_name or client.client_id)
                               if client else None)
    response = provider.server.create_endpoint_response("end_session", end)
    if response is None:
        return logged_out_landing()
    if confirmed and response.headers.get("Location"):
        # after our own form: a page moves on by itself (CSP form-action, see authorize.continue_page),
        # to the client, or first through the SAML SPs' logout, which leaves the gateway too
        return authorization.continue_page(response, _("Vous êtes déconnecté."))
    return cast(Response, response)


def needs_confirmation(provider: Provider, end: EndSessionRequest) -> bool:
    """Ask the person unless a valid id_token_hint names this very session (§2, §6)."""
    auth = current_authentication()
    if auth is None:
        return False
    claims: dict[str, Any] | None = end.id_token_claims
    return claims is None or claims.get("sid") != provider.session_sid(auth.session_id)
