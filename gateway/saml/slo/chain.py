"""The front-channel single logout chain (checklist G: SLO04, SLO08): its state in Redis, and the hook.

* The logout hook (:func:`logout_hook`) runs once the SSO session has ended.
  When it was this browser's session, it stores a :class:`Chain` in Redis
  (random token, :data:`CHAIN_TTL`) listing every other SAML participant with a
  Redirect or POST SLO endpoint and returns the chain's URL; a participant with
  SOAP SLO only is told over the back channel (:mod:`.backchannel`). A session
  ended with no browser to carry the chain (password reset, "Mes informations",
  disabled account) has every participant told over SOAP instead.
* The chain decides each step itself (:func:`next_step`, :func:`take_answer`: a
  :data:`Step` that the pages, ``/saml/slo/chain`` in :mod:`gateway.saml.views`,
  only render). It sends the browser to
  each SP in turn with the LogoutRequest of :mod:`.messages`; an SP that does not
  answer within :data:`STEP_TIMEOUT` seconds (or that the person skips) is
  marked failed and the chain goes on. At the end, the SP that asked gets its
  LogoutResponse, the browser goes where the logout was asked to return (an
  OIDC relying party's ``post_logout_redirect_uri``), or sees the "déconnecté" page.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from ...identity.logout import EndedSession, Hook, Initiator
from ...identity.parties import Parties
from ...logs import audit
from ...store import Store, key
from ..errors import RequestRejected
from ..idp.build import IdentityProvider
from ..sp.providers import ServiceProvider
from ..sso.response import SUCCESS
from ..wire.bindings import InboundMessage
from .messages import (PARTIAL_LOGOUT, RESPONDER, Outgoing, logout_request, logout_response, receive_response,
                       slo_endpoint)
from .participants import PROTOCOL

log = logging.getLogger("gateway.saml")

#: How long a chain lives in Redis, and how long one SP has to answer before it is skipped.
CHAIN_TTL = 600
STEP_TIMEOUT = 8
CHAIN_PATH = "/saml/slo/chain"


@dataclasses.dataclass
class Chain:
    """One logout in progress, JSON in Redis under a random token."""

    remaining: list[dict[str, Any]]
    #: entityID -> "ok", "failed", or "queued" (told over SOAP, unconfirmed: counts as not "ok").
    results: dict[str, str]
    #: The SP being logged out now: {"sp", "request_id", "sent_at", "binding"}.
    current: dict[str, Any] | None = None
    #: The SP-initiated request: {"sp", "request_id", "relay_state", "asynchronous"}; None otherwise.
    initiator: dict[str, Any] | None = None
    #: Where the browser goes at the end (an absolute URL validated by the protocol that ended the
    #: session: an OIDC RP's post_logout_redirect_uri with its state); None for the "déconnecté" page.
    return_to: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))


def save_chain(store: Store, token: str, chain: Chain) -> None:
    store.redis.set(key("saml", "slo-chain", token), chain.to_json(), ex=CHAIN_TTL)


def load_chain(store: Store, token: str) -> Chain | None:
    if not token or len(token) > 100:
        return None
    raw = store.redis.get(key("saml", "slo-chain", token))
    return Chain(**json.loads(raw)) if raw else None


def drop_chain(store: Store, token: str) -> None:
    store.redis.delete(key("saml", "slo-chain", token))


#: ``tell(entity_id, record)``: queue a SOAP LogoutRequest to that participant; False when it has no
#: SOAP SingleLogoutService (:meth:`gateway.saml.backchannel.BackChannel.tell`).
Tell = Callable[[str, Mapping[str, Any]], bool]


def start_chain(idp: IdentityProvider, store: Store, records: Mapping[str, Mapping[str, Any]],
                initiator: dict[str, Any] | None, tell: Tell, return_to: str | None = None) -> str | None:
    """Store the chain for these SAML participants; its token, or None when there is nothing to do.

    A participant without a Redirect or POST endpoint cannot be reached through the browser: it is
    told over SOAP when its metadata allows ("queued", unconfirmed here), else it counts as failed.
    """
    initiator_sp = initiator["sp"] if initiator else None
    remaining, results = [], {}
    for entity_id in sorted(records):
        if entity_id == initiator_sp:
            continue
        sp = idp.provider(entity_id)
        if sp is None or slo_endpoint(sp) is None:
            results[entity_id] = "queued" if tell(entity_id, records[entity_id]) else "failed"
            continue
        remaining.append({"sp": entity_id, **records[entity_id]})
    log_not_notified(sorted(entity_id for entity_id, result in results.items() if result == "failed"))
    if initiator is None and not remaining:
        return None
    token = secrets.token_urlsafe(24)
    save_chain(store, token, Chain(remaining, results, None, initiator, return_to))
    return token


def log_not_notified(entity_ids: list[str]) -> None:
    """One line for the SPs of an ended session that nothing can tell (operators look for it)."""
    if entity_ids:
        log.info("session ended with %d SAML SP(s) not notified (no usable SLO endpoint): %s",
                 len(entity_ids), ", ".join(entity_ids))


def logout_hook(idp: IdentityProvider, store: Store, parties: Parties, tell: Tell) -> Hook:
    """The ``identity.logout`` hook (SLO04): the chain's continuation URL (a local path), or None.

    Only the browser whose session ended can follow the front-channel chain (``ended.browser``): the chain
    answers the SP that asked (``ended.initiator``) and ends at ``ended.return_to``. A session ended from
    elsewhere (a password reset or change, "Mes informations", a disabled account) has each of its SAML
    participants told over SOAP by ``tell``.
    """

    def saml_single_logout(ended: EndedSession) -> str | None:
        records = parties.of(ended.sid, PROTOCOL)
        if not ended.browser:
            log_not_notified([sp for sp in sorted(records) if not tell(sp, records[sp])])
            return None
        token = start_chain(idp, store, records, chain_initiator(ended.initiator), tell, ended.return_to)
        return f"{CHAIN_PATH}?token={token}" if token else None

    return saml_single_logout


def chain_initiator(initiator: Initiator | None) -> dict[str, Any] | None:
    """The SP-initiated request as the chain keeps it (:attr:`Chain.initiator`); None unless a SAML SP asked."""
    if initiator is None or initiator.protocol != PROTOCOL:
        return None
    return {"sp": initiator.party, "request_id": initiator.request_id, "relay_state": initiator.relay_state,
            "asynchronous": initiator.asynchronous}


@dataclasses.dataclass(frozen=True)
class SendRequest:
    """The next LogoutRequest (``message``) to ``sp``, through the browser."""

    sp: ServiceProvider
    message: Outgoing


@dataclasses.dataclass(frozen=True)
class Wait:
    """The SP being logged out has not answered yet: ask again in ``seconds``."""

    sp_entity_id: str
    seconds: int


@dataclasses.dataclass(frozen=True)
class AnswerInitiator:
    """The end: the LogoutResponse (``message``) to the SP that asked."""

    sp: ServiceProvider
    message: Outgoing


@dataclasses.dataclass(frozen=True)
class ReturnTo:
    """The end: on to where the logout was asked to return."""

    url: str


@dataclasses.dataclass(frozen=True)
class ShowResults:
    """The end, on the "déconnecté" page (:attr:`Chain.results`)."""

    results: dict[str, str]


Step = SendRequest | Wait | AnswerInitiator | ReturnTo | ShowResults


def next_step(idp: IdentityProvider, store: Store, token: str, now: float, skip: bool = False) -> Step | None:
    """What the browser carrying the chain ``token`` does now (SLO04); None when there is no such chain."""
    chain = load_chain(store, token)
    if chain is None:
        return None
    if chain.current is not None:
        waited = now - chain.current["sent_at"]
        if not skip and waited < STEP_TIMEOUT:
            return Wait(chain.current["sp"], int(STEP_TIMEOUT - waited) + 1)
        audit("saml.slo.failed", sp=chain.current["sp"], reason="no answer" if not skip else "skipped")
        chain.results[chain.current["sp"]] = "failed"
        chain.current = None
    while chain.remaining:
        record = chain.remaining.pop(0)
        sp = idp.provider(record["sp"])
        if sp is None or slo_endpoint(sp) is None:
            chain.results[record["sp"]] = "failed"
            continue
        request_id, outgoing = logout_request(idp, sp, record, token, now)
        chain.current = {"sp": sp.entity_id, "request_id": request_id, "sent_at": now,
                         "binding": outgoing.binding}
        save_chain(store, token, chain)
        audit("saml.slo.sent", sp=sp.entity_id, binding=outgoing.binding.rsplit(":", 1)[-1])
        return SendRequest(sp, outgoing)
    return finish(idp, store, token, chain, now)


def finish(idp: IdentityProvider, store: Store, token: str, chain: Chain, now: float) -> Step:
    """The chain's end: the initiator's LogoutResponse (Responder/PartialLogout when a participant did
    not confirm, Core §3.2.2.2) unless asynchronous, else the return URL, else the results page."""
    drop_chain(store, token)
    failed = sorted(sp for sp, result in chain.results.items() if result != "ok")
    initiator = chain.initiator
    audit("saml.slo.completed", initiator=initiator["sp"] if initiator else None, failed=len(failed),
          notified=len(chain.results))
    if initiator and not initiator["asynchronous"]:
        sp = idp.provider(initiator["sp"])
        status, second = (RESPONDER, PARTIAL_LOGOUT) if failed else (SUCCESS, "")
        if sp is not None:
            final = logout_response(idp, sp, initiator["request_id"], status, second,
                                    initiator["relay_state"], now)
            if final is not None:
                return AnswerInitiator(sp, final)
    if chain.return_to:
        return ReturnTo(chain.return_to)
    return ShowResults(chain.results)


def take_answer(idp: IdentityProvider, store: Store, token: str, message: InboundMessage,
                now: float) -> dict[str, Any] | None:
    """Record a participant's LogoutResponse ("ok" or "failed") in the chain ``token`` (its RelayState).

    The participant that answered (:attr:`Chain.current`), or None when that chain waits for no answer.
    """
    chain = load_chain(store, token)
    if chain is None or chain.current is None:
        return None
    current = chain.current
    try:
        answer = receive_response(idp, message, store, now)
        if answer.sp_entity_id != current["sp"] or answer.in_response_to != current["request_id"]:
            raise RequestRejected("LogoutResponse does not answer the request sent", answer.sp_entity_id)
        result = "ok" if answer.success else "failed"
    except RequestRejected as exc:
        audit("saml.slo.rejected", reason=type(exc).__name__, sp=exc.sp_entity_id, detail=exc.detail[:300])
        result = "failed"
    chain.results[current["sp"]] = result
    chain.current = None
    save_chain(store, token, chain)
    audit("saml.slo.answered" if result == "ok" else "saml.slo.failed", sp=current["sp"])
    return current
