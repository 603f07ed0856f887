"""SOAP back-channel single logout: telling SPs a session ended when no browser can (G, SLO04).

The front-channel chain (:mod:`.chain`) needs the browser whose session ended.
When a session ends from elsewhere (a password reset or change ends the
person's other sessions, "Mes informations" ends one or all of them, SCIM or
``gateway users disable`` disables the account), and for a participant whose
metadata has SOAP single logout only, :meth:`BackChannel.tell` queues one job per
SP with a ``SingleLogoutService`` of binding SOAP (Shibboleth SP 3 publishes
``/Shibboleth.sso/SLO/SOAP``) on the rq queue ``backchannel``, which the OIDC
back-channel logout uses too. An SP without one cannot be told: that is audited,
and its own session lasts until it expires. The person never waits on an SP.

The job worker (``gateway mail-worker``) builds a fresh LogoutRequest for each
attempt (new ID, IssueInstant and NotOnOrAfter; Destination the SOAP location;
the exact NameID the SP got, as an ``saml:EncryptedID`` when it gets encrypted
assertions (the front-channel chain still sends it in clear), and its
SessionIndex; enveloped RSA-SHA256 signature), POSTs it in
a SOAP 1.1 envelope (Bindings §3.2) through :func:`gateway.outbound.post`
(never following redirects; in production https to a public address only,
checked as the host is resolved), and checks the
LogoutResponse: safe XML, the SP as Issuer, its signature when there is one
(metadata keys only), InResponseTo, Success. A network error or an HTTP 5xx is
tried again after each of ``saml.backchannel_retry_intervals``; any other answer
is final. No TLS client certificate is presented: the SP authenticates the
signed message, which Shibboleth SP accepts as well.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from flask import current_app
from lxml import etree
from rq import get_current_job
from saml2 import BINDING_SOAP

from ... import jobs, outbound
from ...config import Settings
from ...logs import audit
from ..errors import RequestRejected, SamlError, SignatureRejected
from ..idp.build import IdentityProvider
from ..settings import SamlSettings
from ..sp.providers import Endpoint, ServiceProvider
from ..sso.response import SUCCESS, should_encrypt
from ..wire.signatures import has_signature, verify_enveloped
from ..wire.xml import SAML, SAMLP, check_safe, parse, text_of
from .messages import logout_request_element, sign_enveloped

EXTENSION = "gateway.saml.backchannel"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP11 = "{%s}" % SOAP11_NS
#: SOAPAction of the SAML SOAP binding (Bindings §3.2.2.1).
SOAP_ACTION = "http://www.oasis-open.org/committees/security"
#: A job that exhausted its retries stays this long in rq's failed registry.
FAILED_TTL = 7 * 24 * 3600
log = logging.getLogger("gateway.saml")


class BackChannelError(SamlError):
    """One attempt at telling an SP failed."""


class DeliveryFailed(BackChannelError):
    """The SP was not reached, or answered 5xx: rq tries again later."""


class LogoutRefused(BackChannelError):
    """The SP answered, but not a valid Success LogoutResponse to our request: final."""


def soap_endpoint(sp: ServiceProvider, production: bool) -> Endpoint | None:
    """The SP's first SOAP SingleLogoutService the worker may call, if its metadata has one."""
    return next((endpoint for endpoint in sp.slo
                 if endpoint.binding == BINDING_SOAP and callable_location(endpoint.location, production)), None)


def callable_location(url: str, production: bool) -> bool:
    """The rule of :func:`gateway.outbound.endpoint_problem` (as OIDC back-channel logout URIs): https
    to a public host in production, http and loopback in development; never file:, ftp:, data:.

    The location comes from SP metadata, federation aggregates included: the worker must not be
    made to reach anything else.
    """
    return outbound.endpoint_problem(url, production=production) is None


class BackChannel:
    """Queues SOAP LogoutRequests (``app.extensions["gateway.saml.backchannel"]``) on ``job_queue``."""

    def __init__(self, idp: IdentityProvider, settings: Settings, job_queue: jobs.JobQueue) -> None:
        self.idp = idp
        self.settings: SamlSettings = settings.saml
        self.production = settings.is_production
        self.job_queue = job_queue

    def tell(self, entity_id: str, record: Mapping[str, Any]) -> bool:
        """Queue a LogoutRequest to this participant (``record``: what it got, see :mod:`.participants`).

        False, audited, when it has no SOAP SingleLogoutService (or the queue cannot be reached).
        """
        sp = self.idp.provider(entity_id)
        if sp is None or soap_endpoint(sp, self.production) is None:
            audit("saml.slo.backchannel_unreachable", sp=entity_id, reason="no SOAP SingleLogoutService")
            return False
        try:
            self.job_queue.enqueue(
                jobs.LOGOUT, deliver, {"sp": entity_id, "record": dict(record)},
                retry_intervals=self.settings.backchannel_retry_intervals,
                description=f"SAML SOAP logout to {entity_id}", failure_ttl=FAILED_TTL,
                timeout=int(self.settings.backchannel_timeout * 2) + 30,
            )
        except redis.RedisError as exc:
            log.error("SOAP logout to %s not queued: %s", entity_id, exc)
            audit("saml.slo.backchannel_unreachable", sp=entity_id, reason="queue unavailable")
            return False
        audit("saml.slo.backchannel_queued", sp=entity_id)
        return True


@jobs.job("saml.backchannel.deliver")
def deliver(job: Mapping[str, Any]) -> None:
    """The rq job (run by the worker, in app context): one attempt at telling one SP.

    Raises DeliveryFailed so that rq tries again; a refusal is audited and final.
    """
    idp = cast(IdentityProvider, current_app.extensions["gateway.saml"])
    channel = cast(BackChannel, current_app.extensions[EXTENSION])
    settings = channel.settings
    sp = idp.provider(job["sp"])
    endpoint = soap_endpoint(sp, channel.production) if sp is not None else None
    if sp is None or endpoint is None:  # gone from the metadata meanwhile
        audit("saml.slo.backchannel_unreachable", sp=job["sp"], reason="no SOAP SingleLogoutService")
        return
    try:
        send_logout_request(idp, sp, endpoint.location, job["record"], settings.backchannel_timeout,
                            time.time(), channel.production)
    except BackChannelError as exc:
        current = get_current_job()
        retried = isinstance(exc, DeliveryFailed) and bool(current and current.retries_left)
        audit("saml.slo.backchannel_failed", sp=sp.entity_id, error=str(exc)[:300], will_retry=retried)
        if isinstance(exc, DeliveryFailed):
            raise
        return
    audit("saml.slo.backchannel_sent", sp=sp.entity_id)


def send_logout_request(idp: IdentityProvider, sp: ServiceProvider, location: str, record: Mapping[str, Any],
                        timeout: float, now: float, production: bool) -> None:
    """One signed LogoutRequest over SOAP, its answer checked. Raises DeliveryFailed or LogoutRefused."""
    request = logout_request_element(idp, sp, record, location, now, encrypt=should_encrypt(sp))
    request = sign_enveloped(idp, request)
    answer = post_soap(location, soap_envelope(request), timeout, production)
    check_logout_response(sp, answer, request.get("ID", ""))


def soap_envelope(message: etree._Element) -> bytes:
    """``message`` as the one child of a SOAP 1.1 Body, no Header (Bindings §3.2.3)."""
    envelope = etree.Element(SOAP11 + "Envelope", nsmap={"soap11": SOAP11_NS})
    etree.SubElement(envelope, SOAP11 + "Body").append(message)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def post_soap(url: str, body: bytes, timeout: float, production: bool) -> bytes:
    """POST the envelope (:func:`gateway.outbound.post`: no redirect followed, the address checked);
    the answer's body. Raises DeliveryFailed (unreachable, 5xx) or LogoutRefused (refused address, other)."""
    host = urlsplit(url).netloc
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SOAP_ACTION}"', "Accept": "text/xml"}
    try:
        status, answer = outbound.post(url, body, headers, timeout=timeout, production=production)
    except outbound.AddressRefused as exc:
        raise LogoutRefused(str(exc)) from None
    except outbound.Unreachable as exc:
        raise DeliveryFailed(str(exc)) from None
    if status >= 300:
        raise (DeliveryFailed if status >= 500 else LogoutRefused)(f"{host}: HTTP {status}")
    return answer


def check_logout_response(sp: ServiceProvider, answer: bytes, request_id: str) -> None:
    """The SP's LogoutResponse answers ``request_id`` with Success (Core §3.7.3.2). Raises LogoutRefused."""
    root = _body_message(answer)
    if root.tag != SAMLP + "LogoutResponse":
        raise LogoutRefused(f"not a LogoutResponse: {etree.QName(root).localname}")
    issuer = root.find(SAML + "Issuer")
    if issuer is not None and text_of(issuer) != sp.entity_id:
        raise LogoutRefused(f"Issuer {text_of(issuer)[:200]!r}")
    if has_signature(root):
        try:
            verify_enveloped(root, sp.signing_certs)
        except SignatureRejected as exc:
            raise LogoutRefused(exc.detail) from None
    if root.get("InResponseTo") != request_id:
        raise LogoutRefused("InResponseTo does not name the request sent")
    codes = [code.get("Value", "") for code in root.iter(SAMLP + "StatusCode")]
    if not codes or codes[0] != SUCCESS:
        raise LogoutRefused("status " + " / ".join(c.rsplit(":", 1)[-1] for c in codes))


def _body_message(answer: bytes) -> etree._Element:
    """The one element of the SOAP Body, parsed on its own (what is verified is what is read)."""
    try:
        check_safe(answer)
        envelope = parse(answer)
    except (RequestRejected, etree.XMLSyntaxError) as exc:
        raise LogoutRefused(f"not XML: {exc}") from None
    body = envelope.find(SOAP11 + "Body")
    children = [child for child in body if isinstance(child.tag, str)] if body is not None else []
    if envelope.tag != SOAP11 + "Envelope" or len(children) != 1:
        raise LogoutRefused("not a SOAP 1.1 envelope with one message in its Body")
    if children[0].tag == SOAP11 + "Fault":
        raise LogoutRefused(f"SOAP fault: {text_of(children[0].find('faultstring'))[:200]}")
    return parse(etree.tostring(children[0]))
