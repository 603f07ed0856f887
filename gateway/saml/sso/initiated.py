"""IdP-initiated SSO for portal links: ``GET /saml/sso/init?sp=<entityID>&target=<URL>``, its checks.

A portal links to the gateway, which sends the SP an *unsolicited* Response
(Prof §4.1.5: no ``InResponseTo`` anywhere) POSTed to the SP's default
AssertionConsumerService (:func:`~.acs.default_endpoint`), with ``RelayState``
set to ``target``. The SP must be in the metadata and ``target`` must be on the
SP's own host: the same scheme, host and port as one of its ACS URLs (else an
open redirector through the SP). Without a session the person signs in first
and comes back to the same URL (the request carries nothing to save). The
Response is built as for SP-initiated SSO (:func:`.answer.answer_unsolicited`:
same NameID, attributes and signatures); the SSO session records the SP for SLO
the same way (the view, in :mod:`gateway.saml.views`).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from ...identity.redirects import browser_url
from ..errors import RequestRejected, UnknownServiceProvider
from ..idp.build import IdentityProvider
from ..sp.providers import ServiceProvider

MAX_TARGET = 2048


class BadTarget(RequestRejected):
    message = ("L'adresse de destination demandée n'appartient pas au service visé : "
               "la passerelle UNESS ne peut pas vous y envoyer.")


class UnknownTargetService(UnknownServiceProvider):
    message = "Le service visé par ce lien n'est pas connu de la passerelle UNESS."


def origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the scheme's default port made explicit; None when not an http(s) URL
    browsers and the gateway read alike (:func:`gateway.identity.redirects.browser_url`)."""
    try:
        parts = urlsplit(browser_url(url))
        port = parts.port
    except ValueError:  # UnsafeUrl included
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def check_target(sp: ServiceProvider, target: str) -> str:
    """``target``, re-serialised, when it is on the host of one of the SP's ACS URLs. Raises BadTarget."""
    if not target or len(target) > MAX_TARGET or any(ord(c) < 0x21 for c in target):
        raise BadTarget("target missing, too long or with control characters", sp.entity_id)
    wanted = origin(target)
    if wanted is None or wanted not in {origin(e.location) for e in sp.acs}:
        raise BadTarget(f"target {target[:200]!r} not on the SP's host", sp.entity_id)
    return browser_url(target)


def find_sp(idp: IdentityProvider, entity_id: str) -> ServiceProvider:
    """The SP the link names, from the metadata. Raises UnknownTargetService."""
    sp = idp.provider(entity_id) if entity_id else None
    if sp is None:
        raise UnknownTargetService(f"unknown SP {entity_id[:200]!r}")
    return sp


class Refused(RequestRejected):
    """A status error at IdP-initiated SSO: no request to answer with a status, so the person is told."""

    message = _l("La passerelle UNESS ne peut pas vous connecter à ce service avec ce compte.")

