"""The authorization endpoint: validate, hand over to the sign-in pages, answer with a code.

OIDC Core §3.1.2. The request is validated first
(:func:`~gateway.oidc.grants.validate_authorization`: client, exact redirect
URI, response type, scope, PKCE, nonce, prompt). Until the client and
its redirect URI are known to be good, errors are a French page and never a
redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11; checklist OIDC02, BCP07); after,
they go back to the client with ``error``, ``state`` and ``iss`` (RFC 9207,
OIDC04).

When the person must sign in (no session, ``prompt=login``, ``max_age``
exceeded), the validated request is kept in Redis under a random handle and the
person is sent to ``identity.require_login`` with ``/oidc/authorize/<handle>``
as the page to come back to; that handle is answered once. ``prompt=none``
never shows a page: ``login_required`` goes back to the client (OIDC05).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import InsecureTransportError, InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import LoginRequiredError
from flask import render_template
from flask import request as flask_request
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from .. import services
from ..identity.flaskglue.current import current_account, current_authentication, require_login
from ..identity.redirects import location, refresh_header
from ..logs import audit
from .claims import parse_claims_request
from .endpoints import MAX_JWT_LENGTH
from .errors import RequestNotSupportedError, RequestUriNotSupportedError
from .grants import AuthorizationRequest, issue_code, validate_authorization
from .keys import ALGORITHMS
from .models import EndUser

if TYPE_CHECKING:
    from .provider import Provider

FRESH, LOGIN = "fresh", "login"


def current_user() -> EndUser | None:
    """The signed-in person, if the account is still active."""
    auth = current_authentication()
    if auth is None:
        return None
    account = current_account(auth.account_id, services.directory().get)
    return EndUser(account, auth) if account is not None and account.is_active else None


def start(provider: Provider) -> Response:
    """``GET|POST /oidc/authorize`` (OIDC Core §3.1.2.1: both methods, OIDC01)."""
    params: MultiDict[str, str] = MultiDict(cast(Any, list(flask_request.values.items(multi=True))))
    return reserialised(_answer(provider, params, None, None))


def resume(provider: Provider, handle: str) -> Response:
    """``/oidc/authorize/<handle>``: back from the sign-in pages."""
    record = provider.tokens.pending_request(handle)
    if record is None:
        return error_page(_("Cette demande de connexion a expiré. "
                            "Retournez sur l'application et recommencez."))
    params: MultiDict[str, str] = MultiDict([tuple(p) for p in record["params"]])
    response = reserialised(_answer(provider, params, handle, record))
    if leaves_the_gateway(provider, response):
        return continue_page(response, _("Vous êtes connecté."))
    return response


def reserialised(response: Response) -> Response:
    """The response with its ``Location`` (a registered redirect URI and its parameters, or a page of
    ours) validated and re-serialised (:mod:`gateway.identity.redirects`, RFC 9700 §4.1). Raises UnsafeUrl."""
    if "Location" in response.headers:
        response.headers["Location"] = location(response.headers["Location"])
    return response


def leaves_the_gateway(provider: Provider, response: Response) -> bool:
    """A redirect to a client, not to a page of the gateway."""
    target = response.headers.get("Location", "") if response.status_code in (302, 303) else ""
    return bool(target) and not target.startswith(("/", provider.public_url + "/"))


def continue_page(response: Response, text: str) -> Response:
    """Reach the client with a new navigation, not as the end of the sign-in form's redirect chain.

    The sign-in pages send ``Content-Security-Policy: form-action 'self'``, and
    browsers (Chromium) apply it to every redirect that follows a form
    submission: a 302 from here to the client would be blocked. A page of ours
    moving on with ``Refresh: 0`` (no script, so the page's own CSP allows it;
    a link for the rest) starts a navigation of its own. ``Referrer-Policy:
    no-referrer`` and ``Cache-Control: no-store`` (set for every page) keep the
    code out of Referer headers and caches (RFC 9700 §4.2, §4.3; BCP05). The
    target is validated and re-serialised first. Raises UnsafeUrl.
    """
    target = location(response.headers["Location"])
    body = render_template("oidc/continue.html", location=target, text=text)
    page = Response(body, 200, mimetype="text/html")
    page.headers["Refresh"] = refresh_header(target)
    return page


def _answer(provider: Provider, params: MultiDict[str, str], handle: str | None,
            record: dict[str, Any] | None) -> Response:
    user = current_user()
    try:
        if not provider.secure_transport:
            raise InsecureTransportError()
        request = validate_authorization(provider, params, user)
        check_unsupported(request)
        need = login_needed(provider, request, user, record)
        if need and "none" in (params.get("prompt") or "").split():
            raise LoginRequiredError(redirect_uri=request.redirect_uri)
    except OAuth2Error as error:
        return error_response(provider, params, error)
    if need:
        handle = handle or save_request(provider, params, user, force=need == FRESH)
        hint = (params.get("login_hint") or "")[:254] or None
        return require_login(f"/oidc/authorize/{handle}", force=need == FRESH, login_hint=hint,
                             app_names=[("", request.client.client_name)])
    if handle is not None and provider.tokens.take_request(handle) is None:
        return error_page(_("Cette demande de connexion a déjà été traitée."))
    assert user is not None
    audit("oidc.authorized", client=request.client.client_id, account=user.account.id)
    return authorization_response(provider, request, user)


def authorization_response(provider: Provider, request: AuthorizationRequest, user: EndUser) -> Response:
    """RFC 6749 §4.1.2: the code and ``state`` back to the redirect URI, with RFC 9207's ``iss``
    (OIDC04); a nonce used before goes back as an error instead (LIB03)."""
    try:
        code = issue_code(provider, request, user)
    except OAuth2Error as error:
        return error_response(provider, request.params, error)
    state = request.params.get("state")
    found = [("code", code), ("state", state)] if state else [("code", code)]
    location = add_params_to_uri(request.redirect_uri, [*found, ("iss", provider.issuer)])
    return Response(status=302, headers=[("Location", location)])


def check_unsupported(request: AuthorizationRequest) -> None:
    """Request objects are refused, never ignored (OIDC11); ``claims`` and ``max_age`` must parse."""
    data, uri, state = request.params, request.redirect_uri, request.params.get("state")
    if data.get("request"):
        raise RequestNotSupportedError(redirect_uri=uri, state=state)
    if data.get("request_uri"):
        raise RequestUriNotSupportedError(redirect_uri=uri, state=state)
    try:
        parse_claims_request(data.get("claims"))
        if data.get("max_age") is not None and int(data["max_age"]) < 0:
            raise ValueError("max_age")
    except ValueError as exc:
        raise InvalidRequestError("Invalid 'claims' or 'max_age'.", redirect_uri=uri, state=state) from exc


def login_needed(provider: Provider, request: AuthorizationRequest, user: EndUser | None,
                 record: dict[str, Any] | None) -> str | None:
    """LOGIN (no session), FRESH (a new sign-in is required), or None (answer now). OIDC05."""
    if user is None:
        return LOGIN
    auth = user.authentication
    if record is not None:  # coming back from the sign-in pages
        prior = record.get("prior") or ["", 0]
        fresh = auth.session_id != prior[0] or auth.auth_time > int(prior[1])
        return FRESH if record.get("force") and not fresh else None
    data = request.params
    if "login" in (data.get("prompt") or "").split():
        return FRESH
    if data.get("max_age") is not None and provider.now() - auth.auth_time > int(data["max_age"]):
        return FRESH
    hinted = hint_subject(provider, data.get("id_token_hint"))
    if hinted is not None and hinted != provider.subject(user.account.id, request.client):
        return FRESH
    return None


def hint_subject(provider: Provider, hint: str | None) -> str | None:
    """The ``sub`` of an ``id_token_hint`` this provider signed (expiry ignored); None if unusable."""
    if not hint or len(hint) > MAX_JWT_LENGTH:
        return None
    try:
        keys = provider.keys.current().verification_keys(provider.now())
        token = jwt.decode(hint, keys, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError):
        return None
    if token.claims.get("iss") != provider.issuer:
        return None
    return str(token.claims.get("sub") or "") or None


def save_request(provider: Provider, params: MultiDict[str, str], user: EndUser | None, force: bool) -> str:
    """Keep the validated request while the person signs in; returns its random handle."""
    auth = user.authentication if user else None
    return provider.tokens.save_request({
        "params": [[k, v] for k, v in params.items(multi=True)],
        "force": force,
        "prior": [auth.session_id, auth.auth_time] if auth else None,
    })


def error_response(provider: Provider, params: MultiDict[str, str], error: OAuth2Error) -> Response:
    """Back to a validated redirect URI with ``error``, ``state``, ``iss``; else a page, no redirect."""
    error.state = params.get("state")
    if error.redirect_uri:
        status, _body, headers = error()
        location = add_params_to_uri(dict(headers)["Location"], [("iss", provider.issuer)])
        return Response(status=status, headers=[("Location", location)])
    text = _("L'application qui vous a envoyé ici a fait une demande que la passerelle UNESS ne peut pas "
             "accepter. Prévenez ses responsables si cela se reproduit.")
    return error_page(text, detail=f"{error.error}: {error.description or ''}".strip(": "))


def error_page(text: str, detail: str = "") -> Response:
    """The French error page (templates/oidc/error.html), status 400."""
    title = _("Demande de connexion impossible")
    page = render_template("oidc/error.html", title=title, text=text, detail=detail)
    return Response(page, 400, mimetype="text/html")
