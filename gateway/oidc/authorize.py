"""The authorization endpoint: validate, hand over to the sign-in pages, answer with a code.

OIDC Core §3.1.2. The request is validated by authlib first (client, exact
redirect URI, response type, scope, PKCE, nonce, prompt). Until the client and
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

from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, OAuth2Payload, OAuth2Request
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
from .keys import ALGORITHMS
from .models import EndUser

if TYPE_CHECKING:
    from .provider import Provider

FRESH, LOGIN = "fresh", "login"


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, params: MultiDict[str, str]) -> None:
        self._params = params

    @property
    def data(self) -> MultiDict[str, str]:
        return self._params

    @cached_property
    def datalist(self) -> dict[str, list[str]]:
        """Every parameter's values; made once (authlib reads it for each check of repeated parameters)."""
        return {k: self._params.getlist(k) for k in self._params}


class AuthorizationRequest(OAuth2Request):  # type: ignore[misc]
    """An authorization request from its parameters (query, form, or kept in Redis)."""

    def __init__(self, uri: str, params: MultiDict[str, str]) -> None:
        super().__init__("GET", uri, headers={})
        self.payload = _Payload(params)

    @property
    def args(self) -> MultiDict[str, str]:
        return self.payload.data

    @property
    def form(self) -> MultiDict[str, str]:
        return MultiDict()


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
    return reserialised(_answer(provider, AuthorizationRequest(provider.url("/oidc/authorize"), params),
                                None, None))


def resume(provider: Provider, handle: str) -> Response:
    """``/oidc/authorize/<handle>``: back from the sign-in pages."""
    record = provider.tokens.pending_request(handle)
    if record is None:
        return error_page(_("Cette demande de connexion a expiré. "
                            "Retournez sur l'application et recommencez."))
    params: MultiDict[str, str] = MultiDict([tuple(p) for p in record["params"]])
    request = AuthorizationRequest(provider.url("/oidc/authorize"), params)
    response = reserialised(_answer(provider, request, handle, record))
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


def _answer(provider: Provider, request: AuthorizationRequest, handle: str | None,
            record: dict[str, Any] | None) -> Response:
    user = current_user()
    try:
        grant = provider.server.get_consent_grant(request=request, end_user=user)
        check_unsupported(grant)
        need = login_needed(provider, grant, user, record)
        if need and "none" in (request.payload.data.get("prompt") or "").split():
            raise LoginRequiredError(redirect_uri=grant.redirect_uri)
    except OAuth2Error as error:
        return error_response(provider, request, error)
    if need:
        handle = handle or save_request(provider, request, user, force=need == FRESH)
        hint = (request.payload.data.get("login_hint") or "")[:254] or None
        return require_login(f"/oidc/authorize/{handle}", force=need == FRESH, login_hint=hint,
                             app_names=[("", grant.client.client_name)])
    if handle is not None and provider.tokens.take_request(handle) is None:
        return error_page(_("Cette demande de connexion a déjà été traitée."))
    assert user is not None
    audit("oidc.authorized", client=grant.client.client_id, account=user.account.id)
    response = provider.server.create_authorization_response(request=request, grant=grant, grant_user=user)
    return cast(Response, response)


def check_unsupported(grant: Any) -> None:
    """Request objects are refused, never ignored (OIDC11); ``claims`` and ``max_age`` must parse."""
    data, uri, state = grant.request.payload.data, grant.redirect_uri, grant.request.payload.state
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


def login_needed(provider: Provider, grant: Any, user: EndUser | None,
                 record: dict[str, Any] | None) -> str | None:
    """LOGIN (no session), FRESH (a new sign-in is required), or None (answer now). OIDC05."""
    if user is None:
        return LOGIN
    auth = user.authentication
    if record is not None:  # coming back from the sign-in pages
        prior = record.get("prior") or ["", 0]
        fresh = auth.session_id != prior[0] or auth.auth_time > int(prior[1])
        return FRESH if record.get("force") and not fresh else None
    data = grant.request.payload.data
    if "login" in (data.get("prompt") or "").split():
        return FRESH
    if data.get("max_age") is not None and provider.now() - auth.auth_time > int(data["max_age"]):
        return FRESH
    hinted = hint_subject(provider, data.get("id_token_hint"))
    if hinted is not None and hinted != provider.subject(user.account.id, grant.client):
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


def save_request(provider: Provider, request: AuthorizationRequest, user: EndUser | None, force: bool) -> str:
    """Keep the validated request while the person signs in; returns its random handle."""
    auth = user.authentication if user else None
    return provider.tokens.save_request({
        "params": [[k, v] for k, v in request.payload.data.items(multi=True)],
        "force": force,
        "prior": [auth.session_id, auth.auth_time] if auth else None,
    })


def error_response(provider: Provider, request: OAuth2Request, error: OAuth2Error) -> Response:
    """Back to a validated redirect URI with ``error``, ``state``, ``iss``; else a page, no redirect."""
    error.state = request.payload.state
    if error.redirect_uri:
        response: Response = provider.server.handle_error_response(request, error)
        response.headers["Location"] = add_params_to_uri(response.headers["Location"], [("iss", provider.issuer)])
        return response
    text = _("L'application qui vous a envoyé ici a fait une demande que la passerelle UNESS ne peut pas "
             "accepter. Prévenez ses responsables si cela se reproduit.")
    return error_page(text, detail=f"{error.error}: {error.description or ''}".strip(": "))


def error_page(text: str, detail: str = "") -> Response:
    """The French error page (templates/oidc/error.html), status 400."""
    title = _("Demande de connexion impossible")
    page = render_template("oidc/error.html", title=title, text=text, detail=detail)
    return Response(page, 400, mimetype="text/html")
