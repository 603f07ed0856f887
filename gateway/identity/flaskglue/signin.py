"""The Flask glue of the sign-in rules (:mod:`gateway.identity.signin`): what a view calls.

Here, and only here, the rules meet Flask: the collaborators come from the
app's services, the facts from the request (client address, user agent,
known-device cookie, language) and ``flask.session`` (the pending sign-in under
``"login"``, the code flow under ``"flow"``, the address being added on "Mes
informations" under ``"verify_email"``); a proven sign-in starts the SSO
session under a new id (no fixation), logs Flask-Login's user in and sets the
known-device cookie. Each function calls one rule; the errors are the rules'
(:mod:`gateway.identity.signin.errors`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

from flask import after_this_request, current_app, request, session, url_for
from flask_babel import get_locale
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from ... import services
from ...accounts.emails import mask_email
from ...accounts.directory import Write
from ...accounts.models import Account
from ...logs import audit
from ...mail import send_mail
from .. import devices, history
from ..signin import address as address_step
from ..signin import account_addresses, account_sessions, codes, limits, password, reset
from ..signin.address import Identified
from ..signin.codes import EndedLink
from ..signin.password import Attempt
from ..signin.errors import AccountUnavailable
from ..signin.context import Collaborators, Facts, Flow, Pending, SignedIn
from ..sessions import AUTH
from .current import DESTINATION, client_address, signed_in_session_id
from .logout import end_account_sessions, session_renewed
from .session_interface import ServerSession
from .user import User

PENDING = "login"  # session key: the account chosen at the address step
FLOW = "flow"  # session key: the code flow this browser asked for
CONFIRMING = account_addresses.VERIFY  # session key: the address this browser is adding, its code flow
RESET_SENT = "reset_sent"  # session key: the address this browser last had a reset link mailed to
COLLABORATORS = "gateway.signin.collaborators"  # app.extensions: the rules' collaborators


def absolute(endpoint: str, **values: Any) -> str:
    """An absolute URL from the configured public URL, never from the Host header."""
    return services.settings().public_url.rstrip("/") + url_for(endpoint, **values)


class _Links:
    """The mailed links' URLs, from the login and reset blueprints."""

    def code(self, purpose: str, flow: str, code: str) -> str:
        endpoint = "login.activation_link" if purpose == "activation" else "login.code_link"
        return absolute(endpoint, flow=flow, code=code)

    def reset(self, token: str) -> str:
        return absolute("reset.form", token=token)

    def address(self, flow: str, code: str) -> str:
        return absolute("account.verify_link", flow=flow, code=code)

    def forgot(self) -> str:
        return absolute("login.forgot")


def _end_sessions(account_id: str, except_sid: str | None, reason: str, only_sid: str | None = None) -> int:
    return end_account_sessions(account_id, except_sid=except_sid, only_sid=only_sid, reason=reason)


def collaborators() -> Collaborators:
    """The rules' collaborators, from this app's services (made once per app: they are the app's)."""
    found = current_app.extensions.get(COLLABORATORS)
    if found is None:
        found = current_app.extensions[COLLABORATORS] = Collaborators(
            directory=services.directory(), passwords=services.passwords(), codes=services.codes(),
            throttle=services.throttle(), ratelimits=services.ratelimits(), devices=services.devices(),
            code_settings=services.settings().codes, mail=send_mail, links=_Links(), audit=audit,
            end_sessions=_end_sessions, sessions=services.sessions(),
            secret_key=services.settings().secret_key,
        )
    return cast(Collaborators, found)


def facts() -> Facts:
    """This request's facts, the pending sign-in and code flows read from ``flask.session``."""
    chosen, flow, adding = session.get(PENDING) or {}, session.get(FLOW) or {}, session.get(CONFIRMING) or {}
    return Facts(
        client=client_address(), user_agent=request.headers.get("User-Agent", ""),
        device_cookie=request.cookies.get(devices.COOKIE), lang=str(get_locale() or "fr"),
        pending=Pending(chosen["account"], chosen["email"]) if chosen else None,
        flow=Flow(flow.get("purpose", ""), str(flow.get("id", "")), flow.get("email", "")) if flow else None,
        session_id=signed_in_session_id(),
        confirming=Flow(CONFIRMING, str(adding.get("flow", "")), adding.get("email", "")) if adding else None,
    )


# -- the steps, as the views call them --------------------------------------------------

def identify(raw: str) -> Identified:
    """Step 1 (:func:`..signin.address.identify`); keeps the pending sign-in in the session."""
    found = address_step.identify(collaborators(), facts(), raw)
    if found.pending is not None:
        session[PENDING] = {"account": found.pending.account_id, "email": found.pending.email}
        _take_support_flow()
    return found


def _take_support_flow() -> None:
    """A code support read out for the address typed here (:func:`.signin.codes.support_flow`): this
    browser takes its flow, so that the code step asks for that code instead of mailing one."""
    flow = codes.support_flow(collaborators(), facts())
    if flow is not None:
        session[FLOW] = {"purpose": flow.purpose, "id": flow.id, "email": flow.email, "support": True}


def support_code_waiting() -> bool:
    """Whether this browser holds a code flow support started (the address step then leads to the code)."""
    return bool((session.get(FLOW) or {}).get("support"))


def pending() -> tuple[Account, str] | None:
    """The active or provisioned account chosen at the address step, with the address typed."""
    found = address_step.pending_account(collaborators(), facts().pending)
    if found is None:
        session.pop(PENDING, None)
    return found


def shown_address(address: str | None) -> str:
    """``address`` as the sign-in pages show it (a template global): masked while the pending sign-in came
    from an ended link's button, since whoever found an old link (a shared PC's history) saw only the
    masked address and must not read it off the next page; else as typed."""
    chosen = session.get(PENDING) or {}
    if address and chosen.get("masked") and chosen.get("email") == address:
        return mask_email(address)
    return address or ""


def forget_pending() -> None:
    for name in (PENDING, FLOW):
        session.pop(name, None)


def password_attempt() -> Attempt | None:
    """The pending sign-in at the password step, with the throttle's verdict
    (:func:`..signin.password.attempt`: one round trip); None (and forgotten) once not pending."""
    found = password.attempt(collaborators(), facts())
    if found is None:
        session.pop(PENDING, None)
    return found


def check_password(tried: Attempt, secret: str, remember: bool) -> Landing:
    """Step 2 (:func:`..signin.password.check_attempt`): once the hash matched, the session is prepared
    under its new id and written by the step's last check, in the same atomic step (one round trip
    after the hash); the session interface then only sets its cookie
    (:meth:`~.session_interface.ServerSession.written`), and the audit hook's history entry of the
    sign-in is written with them (:func:`~gateway.identity.history.written_ahead`). Refused
    (AccountUnavailable, or Redis away), the session is put back as it was: nothing of the sign-in is kept.

    Signing in again as the account already signed in (SAML ForceAuthn, OIDC prompt=login) starts the
    session after the step, as the other ways in do (:func:`start_session`: the parties follow).
    """
    if (session.get(AUTH) or {}).get("account") == tried.account.id:
        return start_session(password.check_attempt(collaborators(), tried, secret, remember))
    opened = cast(ServerSession, session)
    restore, landing = opened.restore_point(), []

    def prepared(account: Account, audited: Mapping[str, Any]) -> list[Write]:
        landing.append(_signed_in_session(account.id, password.METHODS, remember, account))
        entry = {**audited, **history.browser_fields(tried.facts.user_agent, tried.device)}
        return [*services.sessions().writes(opened.sid, dict(opened), new=True, replacing=opened.old_sid),
                *services.history().writes("login.succeeded", entry)]

    try:
        with history.written_ahead("login.succeeded", tried.account.id):
            proven = password.check_attempt(collaborators(), tried, secret, remember, then=prepared)
    except BaseException:
        if landing:
            logout_user()
            restore()
        raise
    opened.written()
    _set_device_cookie(proven.device_cookie)
    return Landing(landing[0], proven.address)


def limit(rule: str, *identifiers: str, account_id: str | None = None, address: str | None = None) -> None:
    """Count one use of ``rule`` for this client (:func:`..signin.limits.limit`). Raises TooManyAttempts."""
    limits.limit(collaborators(), facts(), rule, *identifiers, account_id=account_id, address=address)


def mail_limits(address: str, account_id: str) -> None:
    """The limits before mailing ``address`` (:func:`..signin.limits.mail_limits`). Raises TooManyAttempts."""
    limits.mail_limits(collaborators(), facts(), address, account_id)


def code_sent(purpose: str) -> bool:
    """Whether this browser has a ``purpose`` code to type: one it asked for, or one support gave."""
    _take_support_flow()
    return codes.code_sent(facts(), purpose)


def still_valid_since(purpose: str) -> float | None:
    """When this browser's ``purpose`` code was mailed, while it works (:func:`.signin.codes`)."""
    return codes.still_valid_since(collaborators(), facts(), purpose)


def link_elsewhere(purpose: str, flow: str) -> str | None:
    return codes.link_elsewhere(collaborators(), facts(), purpose, flow)


def send_code(purpose: str, account: Account, address: str) -> None:
    """Mail a code (:func:`..signin.codes.send_code`); this browser keeps the flow."""
    flow = codes.send_code(collaborators(), facts(), purpose, account, address)
    session[FLOW] = {"purpose": flow.purpose, "id": flow.id, "email": flow.email, "mail": flow.message_id}


def sign_in_with_code(flow: str, code: str, remember: bool, confirmed: bool = False) -> Landing:
    return start_session(codes.sign_in_with_code(collaborators(), facts(), flow, code, remember, confirmed))


def activate(flow: str, code: str, secret: str, remember: bool, confirmed: bool = False) -> Landing:
    return start_session(codes.activate(collaborators(), facts(), flow, code, secret, remember, confirmed))


def ended_link(purpose: str, ref: str) -> EndedLink | None:
    """A mailed link (a code flow, or a reset token for purpose reset) that no longer works, or None."""
    if purpose == reset.RESET_LINK:
        return reset.ended_reset(collaborators(), ref)
    return codes.ended_link(collaborators(), purpose, ref)


def continue_after(ended: EndedLink) -> str:
    """The way on from an ended link: its account becomes the pending sign-in (its address shown masked,
    :func:`shown_address`, unless this browser typed it), and unless it is an activation already done
    (on to the password), a new code (or reset link) is mailed.

    Returns the step to show: password, activation, signin or reset. Raises TooManyAttempts.
    """
    assert ended.account is not None
    chosen = session.get(PENDING) or {}
    typed_here = chosen.get("email") == ended.address and not chosen.get("masked")  # a waiting tab
    session[PENDING] = {"account": ended.account.id, "email": ended.address, "masked": not typed_here}
    if ended.kind == "activated":
        return "password"
    if ended.purpose == reset.RESET_LINK:
        send_reset(ended.account, ended.address)
        return "reset"
    purpose = "activation" if ended.account.status == "provisioned" else "signin"
    send_code(purpose, ended.account, ended.address)
    return purpose


def send_reset(account: Account, address: str) -> None:
    """Mail a reset link (:func:`..signin.reset.send_reset`); this browser remembers it asked for
    one to ``address``. Raises TooManyAttempts."""
    reset.send_reset(collaborators(), facts(), account, address)
    session[RESET_SENT] = address


def reset_sent_here(address: str) -> bool:
    """Whether this browser had a reset link mailed to ``address`` (typing someone's address shows
    nothing of their mails)."""
    return bool(address) and session.get(RESET_SENT) == address


def link_still_valid_since(account: Account, address: str) -> float | None:
    """When the reset link this browser asked for ``address`` was mailed, while it still works."""
    if not reset_sent_here(address):
        return None
    return reset.link_still_valid_since(collaborators(), account, address)


def reset_target(token: str) -> Account | None:
    return reset.reset_target(collaborators(), token)


def reset_password(token: str, secret: str, remember: bool) -> Landing:
    return start_session(reset.reset_password(collaborators(), facts(), token, secret, remember))


def change_password(account: Account, current: str, new: str) -> Account:
    """"Mes informations" (:func:`..signin.reset.change_password`): every other session ends."""
    return reset.change_password(collaborators(), facts(), account, current, new)


# -- "Mes informations": addresses and other sessions -------------------------------------

def confirming() -> Flow | None:
    """The address this browser is adding, and its code flow (kept in ``flask.session``)."""
    return facts().confirming


def add_address(account: Account, raw: str) -> str:
    """Mail a code to a new address (:func:`..signin.account_addresses.add_address`); returns it
    normalised."""
    return _keep_confirming(account_addresses.add_address(collaborators(), facts(), account, raw))


def send_address_code(account: Account, address: str) -> None:
    """"Renvoyer un code" (:func:`..signin.account_addresses.send_again`)."""
    _keep_confirming(account_addresses.send_again(collaborators(), facts(), account, address))


def _keep_confirming(flow: Flow) -> str:
    session[CONFIRMING] = {"flow": flow.id, "email": flow.email, "mail": flow.message_id}
    return flow.email


def mail_sent_here(purpose: str, address: str) -> str | None:
    """The Message-ID of the mail this browser's own ``purpose`` code flow (activation, signin, or
    :data:`CONFIRMING`) sent to ``address``; None when this browser asked for none (or support read
    its code out): never the mail another browser asked for."""
    kept = session.get(CONFIRMING if purpose == CONFIRMING else FLOW) or {}
    if purpose != CONFIRMING and kept.get("purpose") != purpose:
        return None
    if kept.get("email") != address or not kept.get("mail"):
        return None
    return str(kept["mail"])


def pending_address(account: Account, flow: str) -> str | None:
    return account_addresses.pending_address(collaborators(), account, flow)


def verify_address(account: Account, flow: str, code: str) -> str:
    """Spend the code (:func:`..signin.account_addresses.verify_address`); this browser's flow ends."""
    address = account_addresses.verify_address(collaborators(), facts(), account, flow, code)
    if (session.get(CONFIRMING) or {}).get("flow") == flow:
        session.pop(CONFIRMING)
    return address


def remove_address(account: Account, address: str) -> None:
    """:func:`.signin.account_addresses.remove_address`; stops confirming it in this browser."""
    account_addresses.remove_address(collaborators(), facts(), account, address)
    if (session.get(CONFIRMING) or {}).get("email") == address:
        session.pop(CONFIRMING)


def make_primary(account: Account, address: str) -> None:
    account_addresses.make_primary(collaborators(), facts(), account, address)


def session_ref(sid: str) -> str:
    return account_sessions.session_ref(collaborators(), sid)


def end_session(account: Account, ref: str) -> bool:
    return account_sessions.end_session(collaborators(), facts(), account.id, ref)


def end_other_sessions(account: Account) -> int:
    return account_sessions.end_other_sessions(collaborators(), facts(), account.id)


# -- a proven sign-in becomes a session ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Landing:
    """Where a sign-in leads: the local URL kept before it (``next``, None: none) and the address used
    (the "last address" cookie)."""

    target: str | None
    address: str


def start_session(proven: SignedIn) -> Landing:
    """Start the SSO session under a new id (no fixation) and set the known-device cookie."""
    target = _signed_in_session(proven.account_id, proven.methods, proven.remember, proven.account)
    _set_device_cookie(proven.device_cookie)
    return Landing(target, proven.address)


def _signed_in_session(account_id: str, methods: tuple[str, ...], remember: bool,
                       account: Account | None) -> str | None:
    """``flask.session`` signed in as ``account_id`` under a new id, Flask-Login's user logged in; returns
    the ``next`` URL it kept, taken out of it. ``account``: the account as just confirmed (None: read).

    Signing in again as the same account (SAML ForceAuthn, OIDC prompt=login) carries
    what the protocols recorded over to the new session id. Raises AccountUnavailable (removed).
    """
    target, keep = session.get("next"), {DESTINATION: session[DESTINATION]} if DESTINATION in session else {}
    previous = (session.get(AUTH) or {}).get("account")
    old_sid = getattr(session, "sid", "")
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    session.update(keep)
    if previous == account_id:
        services.parties().move(old_sid, session.sid)  # type: ignore[attr-defined]
        session_renewed(old_sid, session.sid)  # type: ignore[attr-defined]
    services.sessions().authenticate(
        cast(dict[str, Any], session), account_id, methods, remember=remember,
        ip=client_address(), user_agent=request.headers.get("User-Agent", ""),
    )
    account = account or services.directory().get(account_id)
    if account is None:  # removed in between
        raise AccountUnavailable()
    login_user(User(account))
    return target


def _set_device_cookie(value: str) -> None:
    """Set the known-device cookie naming the account on this response (OWASP device cookies)."""
    secure = not services.settings().insecure_http

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(devices.COOKIE, value, max_age=devices.MAX_AGE, httponly=True, secure=secure,
                            samesite="Lax")
        return response
