"""IdP-initiated SSO for portal links: ``GET /saml/sso/init?sp=<entityID>&target=<URL>``.

A portal links to the gateway, which sends the SP an *unsolicited* Response
(Prof §4.1.5: no ``InResponseTo`` anywhere) POSTed to the SP's default
AssertionConsumerService (:func:`~.acs.default_endpoint`), with ``RelayState``
set to ``target``. The SP must be in the metadata and ``target`` must be on the
SP's own host: the same scheme, host and port as one of its ACS URLs (else an
open redirector through the SP). Without a session the person signs in first
and comes back to the same URL (the request carries nothing to save). The
NameID, attributes and signatures are those of SP-initiated SSO (:mod:`.sso`,
:mod:`.response`); the SSO session records the SP for SLO the same way.
"""
from __future__ import annotations

import time
from typing import cast
from urllib.parse import urlsplit

from flask import current_app, request, session, url_for
from flask_babel import lazy_gettext as _l
from lxml import etree
from werkzeug.wrappers import Response

from .. import services
from ..accounts.models import Account
from ..identity.current import current_authentication, require_login
from ..identity.models import Authentication
from ..identity.redirects import browser_url
from ..logs import audit
from . import participants
from .acs import default_endpoint
from .crypto import add_signature_template
from .errors import RequestDenied, RequestRejected, StatusError, UnknownServiceProvider
from .idp import IdentityProvider
from .nameids import NameIdPolicy, NameIds, format_for
from .providers import ServiceProvider
from .response import (  # the building blocks of build_success; only InResponseTo differs
    SUCCESS,
    Addressee,
    AssertionContent,
    _assertion,
    _finish,
    _response,
    _status,
    cipher_for,
    new_id,
    should_encrypt,
)
from .scopes import note_withheld_eppn
from .sso import PASSWORD_PROTECTED_TRANSPORT, Participation, attributes_for
from .xml import SAML, SAML_NS

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
    sp = idp.provider(entity_id) if entity_id else None
    if sp is None:
        raise UnknownTargetService(f"unknown SP {entity_id[:200]!r}")
    return sp


def build_unsolicited(idp: IdentityProvider, sp: ServiceProvider, acs_url: str, content: AssertionContent,
                      now: float) -> bytes:
    """:func:`~.response.build_success` without InResponseTo (Response and SubjectConfirmationData)."""
    to = Addressee(sp, acs_url, "")
    assertion = _assertion(idp, to, content, now)
    for data in assertion.iter(SAML + "SubjectConfirmationData"):
        data.attrib.pop("InResponseTo", None)
    if sp.policy.sign_assertion or sp.want_assertions_signed:
        add_signature_template(assertion, idp.keys.signing.cert, idp.keys.signing.algorithm)
        assertion = idp.signer.sign(assertion, assertion.get("ID", ""))
    if should_encrypt(sp):
        encrypted = etree.Element(SAML + "EncryptedAssertion", nsmap={"saml": SAML_NS})
        encrypted.append(idp.signer.encrypt(assertion, sp.encryption_certs[0], cipher_for(sp)))
        assertion = encrypted
    response = _response(idp, to, now, _status(SUCCESS))
    response.attrib.pop("InResponseTo", None)
    response.append(assertion)
    return _finish(idp, sp, response)


def unsolicited(idp: IdentityProvider, sp: ServiceProvider, acs_url: str, account: Account | None,
                auth: Authentication, name_ids: NameIds, previous: Participation | None,
                now: float) -> tuple[bytes, Participation]:
    """The Response and the participation to record, as :func:`~.sso.answer` for a request with no
    NameIDPolicy and no RequestedAuthnContext. Raises StatusError."""
    if account is None or not account.is_active:
        raise RequestDenied("account unavailable")
    policy = NameIdPolicy()
    name_id = name_ids.issue(account, sp, format_for(account, sp, policy), policy,
                             previous.name_id if previous else None)
    participation = Participation(name_id, previous.session_index if previous else new_id())
    released = attributes_for(idp, sp, account, name_ids, policy)
    content = AssertionContent(name_id, participation.session_index, auth.auth_time,
                               PASSWORD_PROTECTED_TRANSPORT, released)
    return build_unsolicited(idp, sp, acs_url, content, now), participation


def initiate() -> Response | tuple[str, int]:
    """The view of ``GET /saml/sso/init`` (registered by :mod:`.views`)."""
    from .views import idp as current_idp
    from .views import post_form, rejected

    the_idp = current_idp()
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
        document, participation = unsolicited(the_idp, sp, acs.location, account, auth, name_ids, previous,
                                              time.time())
    except StatusError as exc:
        audit("saml.sso.initiated.refused", sp=sp.entity_id, status=exc.second, reason=exc.detail)
        return _refused(exc, sp)
    ttl = max(60, services.sessions().ttl_for(session))
    participants.record(parties, auth.session_id, sp.entity_id, participation, ttl)
    audit("saml.sso.issued", sp=sp.entity_id, account=auth.account_id,
          name_id_format=participation.name_id.format, initiated="idp")
    return post_form(sp, acs.location, document, target)


class Refused(RequestRejected):
    message = _l("La passerelle UNESS ne peut pas vous connecter à ce service avec ce compte.")


def _refused(exc: StatusError, sp: ServiceProvider) -> tuple[str, int]:
    from .views import rejected

    return rejected(Refused(exc.detail, sp.entity_id))
