"""Application-level error handling: a French page for people, JSON for APIs.

Errors of each layer form their own tree (``accounts.errors``, and later the
protocol packages). A view catches what it can explain; whatever escapes ends
here, and nobody ever sees a stack trace.

``/scim/*`` answers in SCIM's error JSON (RFC 7644 §3.12), ``/oidc/*`` in
OAuth's (RFC 6749 §5.2), ``/support/*`` in the support API's
(``{"error": code, "detail": ...}``, :func:`support_error`); everything else
gets ``templates/error.html``.

Redis away (:data:`gateway.store.UNAVAILABLE`, wherever it is raised: a view, a
hook, or the session interface, see :mod:`gateway.identity.flaskglue.session_interface`) is an
expected condition: 503 in each caller's shape (the page for people, SAML
endpoints included as they answer browsers; ``temporarily_unavailable`` for
OAuth, RFC 6749 §4.1.2.1; SCIM's error JSON) and one WARNING line per request,
with the path and the error class, never a traceback.
"""
from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from . import metrics
from .identity.redirects import UnsafeUrl
from .store import UNAVAILABLE, NotReplicated

log = logging.getLogger("gateway")

#: French titles and explanations for people, by HTTP status.
MESSAGES = {
    400: (_l("Requête invalide"), _l("La demande reçue est incomplète ou mal formée.")),
    403: (_l("Accès refusé"), _l("Vous n'avez pas accès à cette page.")),
    404: (_l("Page introuvable"), _l("Cette adresse ne correspond à aucune page de la passerelle UNESS.")),
    405: (_l("Méthode non permise"), _l("Cette page ne s'utilise pas ainsi.")),
    413: (_l("Requête trop volumineuse"), _l("La demande envoyée dépasse la taille permise.")),
    429: (_l("Trop de tentatives"), _l("Merci de patienter quelques minutes avant de réessayer.")),
    500: (_l("Erreur inattendue"), _l("Une erreur est survenue de notre côté. Réessayez dans un instant.")),
    503: (_l("Service momentanément indisponible"), _l("La passerelle ne peut pas répondre pour le moment. Réessayez dans un instant.")),
}


#: OIDC endpoints a browser navigates to: Redis away gets them the page, not JSON, for a person reads it.
BROWSER_OIDC_PATHS = ("/oidc/authorize", "/oidc/logout")


def _wants_scim() -> bool:
    return request.path.startswith("/scim/")


def _wants_support_json() -> bool:
    return request.path.startswith("/support/")


#: The support API's error codes by HTTP status, when nothing more precise applies.
SUPPORT_CODES = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope", 404: "not_found",
                 405: "method_not_allowed", 413: "too_large", 429: "too_many_requests",
                 503: "temporarily_unavailable"}


def support_error(status: int, detail: str, code: str | None = None) -> tuple[Response, int]:
    """The support API's error body: ``{"error": code, "detail": text}`` (code by status unless given)."""
    return jsonify(error=code or SUPPORT_CODES.get(status, "server_error"), detail=detail), status


def _wants_oauth_json() -> bool:
    return request.path.startswith("/oidc/")


def scim_error(status: int, detail: str, scim_type: str | None = None) -> tuple[Response, int]:
    """An RFC 7644 §3.12 error body."""
    body: dict[str, object] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        body["scimType"] = scim_type
    response = jsonify(body)
    response.mimetype = "application/scim+json"
    return response, status


def render_error(exc: HTTPException) -> tuple[Response | str, int]:
    status = exc.code or 500
    if _wants_scim():
        return scim_error(status, exc.description or MESSAGES.get(status, MESSAGES[500])[0])
    if _wants_support_json():
        return support_error(status, exc.description or str(MESSAGES.get(status, MESSAGES[500])[0]))
    if _wants_oauth_json():
        code = "server_error" if status >= 500 else "invalid_request"
        if status == 503:
            code = "temporarily_unavailable"  # RFC 6749 §4.1.2.1
        return jsonify(error=code, error_description=exc.description), status
    title, text = MESSAGES.get(status, MESSAGES[500] if status >= 500 else MESSAGES[400])
    return render_template("error.html", title=str(title), text=str(text), status=status), status


def _unexpected(exc: Exception) -> tuple[Response | str, int]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(InternalServerError())


def _redis_down(exc: redis.RedisError) -> tuple[Response | str, int]:
    """503 in the caller's shape; a write the replicas did not confirm says it may have been kept."""
    log_unavailable(type(exc).__name__)
    if request.path.startswith(BROWSER_OIDC_PATHS):
        title, text = MESSAGES[503]
        return render_template("error.html", title=str(title), text=str(text), status=503), 503
    if not isinstance(exc, NotReplicated):
        return render_error(ServiceUnavailable())
    if _wants_scim() or _wants_oauth_json() or _wants_support_json():
        return render_error(ServiceUnavailable(
            "The change was not confirmed by the Redis replicas: it may or may not have been kept. "
            "Read it back before trying again."))
    text = _l("Votre modification n'a pas pu être confirmée : elle a peut-être été enregistrée, "
              "peut-être pas. Vérifiez-la dans un instant avant de recommencer.")
    return render_template("error.html", title=str(MESSAGES[503][0]), text=str(text), status=503), 503


def log_unavailable(cause: str) -> None:
    """The one WARNING line of a request refused because Redis is away (once per request)."""
    if request.environ.get("gateway.unavailable_logged"):
        return
    request.environ["gateway.unavailable_logged"] = True
    metrics.count_unavailable(cause)
    log.warning("redis unavailable on %s %s: %s", request.method, request.path, cause)


def _unsafe_url(exc: UnsafeUrl) -> tuple[str, int]:
    """A URL the gateway was about to send a browser to, refused (:mod:`gateway.identity.redirects`):
    always a page, since it answers a browser's navigation; the reason goes to the log only."""
    log.warning("refused to send a browser to an unsafe URL on %s %s: %s", request.method, request.path,
                exc.reason)
    text = _l("La passerelle UNESS ne vous enverra pas vers l'adresse demandée : elle est mal formée. "
              "Prévenez les responsables de l'application si cela se reproduit.")
    return render_template("error.html", title=str(_l("Redirection refusée")), text=str(text), status=400), 400


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(UnsafeUrl, _unsafe_url)
    for away in UNAVAILABLE:
        app.register_error_handler(away, _redis_down)
    app.register_error_handler(Exception, _unexpected)
