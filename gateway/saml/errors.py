"""What can go wrong with a SAML request, as data.

Two branches, by who must hear about it::

    SamlError
    ├── RequestRejected            the request cannot be trusted or answered: a French page, 400,
    │   │                          and never a redirect (REQ02, REQ07, RSP10 "ACS not validated")
    │   ├── MalformedRequest       not a SAML AuthnRequest we can read (REQ01)
    │   │   └── UnsafeXml          a DTD, an entity, a bomb (SEC02, SEC13)
    │   ├── UnknownServiceProvider the Issuer has no SPSSODescriptor in the metadata (REQ07)
    │   ├── AcsNotAllowed          the ACS URL or index is not in the SP's metadata (REQ02)
    │   ├── UnsupportedBinding     the response binding asked for cannot be used (REQ03)
    │   ├── SignatureRejected      missing where required, or not verifiable (REQ04, REQ05, REQ06)
    │   ├── WrongDestination       Destination is not this endpoint (REQ07)
    │   ├── StaleRequest           IssueInstant outside the clock skew (REQ07, RSP09)
    │   ├── ReplayedRequest        this request ID was already received (SEC05)
    │   └── RequestExpired         the saved request is gone (sign-in took too long)
    └── StatusError                the request is valid and its ACS known: a samlp:Response with this
        │                          status goes to the SP (RSP10, Core §3.2.2.2)
        ├── NoPassive              IsPassive and nobody signed in (REQ09)
        ├── InvalidNameIDPolicy    the NameID asked for cannot be given (REQ10)
        ├── NoAuthnContext         the authentication context asked for cannot be met (REQ11)
        ├── RequestUnsupported     e.g. a Subject in the AuthnRequest (REQ14)
        └── RequestDenied          the account cannot use this service now (disabled)

Rejections are raised before the SP and its ACS are trusted; a view shows the
page. Status errors carry the top-level and second-level StatusCode values.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

TOP = "urn:oasis:names:tc:SAML:2.0:status:"


class SamlError(Exception):
    """Base of the SAML IdP's errors."""


class RequestRejected(SamlError):
    """The request gets an error page (400, French or English), nothing goes back to the SP."""

    #: What the person reads (French, translated when shown; the page adds what to do next).
    message = _l("La demande de connexion envoyée par le service n'est pas valable.")

    def __init__(self, detail: str = "", sp_entity_id: str | None = None) -> None:
        super().__init__(detail or self.message)
        #: For the logs only (never shown: it may echo attacker-chosen text).
        self.detail = detail
        self.sp_entity_id = sp_entity_id


class MalformedRequest(RequestRejected):
    message = _l("La demande de connexion reçue est illisible ou incomplète.")


class UnsafeXml(MalformedRequest):
    message = _l("La demande de connexion reçue contient des éléments interdits.")


class UnknownServiceProvider(RequestRejected):
    message = _l("Le service qui vous a envoyé ici n'est pas connu de la passerelle UNESS.")


class AcsNotAllowed(RequestRejected):
    message = _l("Le service demande à recevoir la réponse à une adresse qui n'est pas déclarée "
               "dans ses métadonnées.")


class UnsupportedBinding(RequestRejected):
    message = _l("Le service demande une méthode de réponse que la passerelle UNESS ne propose pas.")


class SignatureRejected(RequestRejected):
    message = _l("La signature de la demande de connexion est absente ou invalide.")


class WrongDestination(RequestRejected):
    message = _l("La demande de connexion était destinée à un autre fournisseur d'identité.")


class StaleRequest(RequestRejected):
    message = _l("La demande de connexion est trop ancienne (ou l'horloge du service est déréglée).")


class ReplayedRequest(RequestRejected):
    message = _l("Cette demande de connexion a déjà été utilisée.")


class RequestExpired(RequestRejected):
    message = _l("Cette demande de connexion a expiré. Retournez sur le service et recommencez.")


class StatusError(SamlError):
    """A samlp:Response with a non-success status goes back to the SP's validated ACS."""

    top = TOP + "Responder"
    second = ""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.second.rsplit(":", 1)[-1])
        #: samlp:StatusMessage (never personal data).
        self.detail = detail


class NoPassive(StatusError):
    second = TOP + "NoPassive"


class InvalidNameIDPolicy(StatusError):
    second = TOP + "InvalidNameIDPolicy"


class NoAuthnContext(StatusError):
    second = TOP + "NoAuthnContext"


class RequestUnsupported(StatusError):
    top = TOP + "Requester"
    second = TOP + "RequestUnsupported"


class RequestDenied(StatusError):
    second = TOP + "RequestDenied"
