"""``/account``: "Mes informations" — details, addresses, password, active sessions.

The changes are functions (first half of this module) that raise :class:`Refused`
with the message to show; the views (second half) only parse a form, call one
of them, and render or redirect with a confirmation in ``session["notice"]``.
Every change writes an audit line; addresses appear there only as hashes.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from .. import services
from ..accounts.codes import InvalidCode, WrongCode
from ..accounts.emails import normalize_email
from ..accounts.errors import AccountNotFound, AddressTaken, InvalidEmail, LastVerifiedAddress
from ..accounts.models import Account
from ..accounts.passwords import password_problems
from ..identity import flask_signin as signin
from ..identity.current import client_address, signed_in_session_id
from ..identity.logout import end_account_sessions
from ..identity.signin import errors
from ..identity.signin.context import email_hash
from ..logs import audit
from ..mail import send_mail
from .forms import (
    AddEmailForm,
    AddressActionForm,
    ButtonForm,
    ChangePasswordForm,
    SessionActionForm,
    VerifyEmailForm,
)
from .login import policy_messages, too_many, wrong_code

bp = Blueprint("account", __name__)

VERIFY = "verify_email"  # session key and code purpose: the address being confirmed
CODE_EXPIRED = _l("Ce code n'est plus valable. Demandez-en un nouveau.")
ENDED_BY_USER = "session.ended_by_user"  # the audited reason when the person ends sessions here

AFFILIATIONS = {
    "student": _l("Étudiant"), "faculty": _l("Enseignant"), "staff": _l("Personnel"),
    "employee": _l("Salarié"), "member": _l("Membre"), "affiliate": _l("Partenaire"),
    "alum": _l("Ancien étudiant"), "library-walk-in": _l("Lecteur de bibliothèque"),
}
STATUSES = {"active": _l("Actif"), "provisioned": _l("En attente d'activation"), "disabled": _l("Désactivé")}


class Refused(Exception):
    """A change was refused. ``messages`` say why; ``field`` is the form field they belong to."""

    def __init__(self, *messages: str, field: str | None = None) -> None:
        super().__init__(" ".join(str(m) for m in messages))
        self.messages = [str(m) for m in messages]
        self.field = field


def _limited(field: str | None, check: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run one of signin's limit checks; its TooManyAttempts becomes a Refused on ``field``."""
    try:
        check(*args, **kwargs)
    except errors.TooManyAttempts as exc:
        raise Refused(too_many(exc), field=field) from None


def _lang() -> str:
    return str(get_locale() or "fr")


# -- addresses -------------------------------------------------------------------------------

def add_address(account: Account, raw: str) -> str:
    """Mail a code to a new address; it joins the account only once confirmed. Returns it normalised.

    Nothing is written to the directory before the code comes back, so nobody can
    reserve (and so block) someone else's address by typing it here. Another
    account's address is refused with the same words whatever the reason: the
    page never tells whether an address is known to UNESS.
    """
    field = "new_email"
    _limited(field, signin.limit, "address_per_client", account_id=account.id)
    try:
        address = normalize_email(raw)
    except InvalidEmail:
        raise Refused(_("Cette adresse email n'est pas valide."), field=field) from None
    existing = account.email(address)
    if existing and existing.verified:
        raise Refused(_("Cette adresse figure déjà dans votre compte."), field=field)
    owner = services.directory().owner_of(address)
    if owner is not None and owner != account.id:
        raise Refused(_("Cette adresse ne peut pas être ajoutée."), field=field)
    _limited(field, signin.mail_limits, address, account.id)
    _mail_code(account, address)
    return address


def send_verification(account: Account, address: str) -> None:
    """"Renvoyer un code" for an address of the account that is not confirmed yet."""
    email = account.email(address)
    being_added = (session.get(VERIFY) or {}).get("email") == address and email is None
    if not being_added and (email is None or email.verified):
        raise Refused(_("Cette adresse n'est pas en attente de confirmation."))
    _limited(None, signin.mail_limits, address, account.id)
    _mail_code(account, address)


def _mail_code(account: Account, address: str) -> None:
    """A new code for ``address`` (voiding the account's previous one, whatever the browser), by mail."""
    settings = services.settings().codes
    flow, code = services.codes().start_code(
        VERIFY, account.id, settings.email_verification_minutes * 60, settings.signin_code_attempts,
        {"account": account.id, "email": address},
    )
    session[VERIFY] = {"flow": flow, "email": address}
    send_mail(VERIFY, address, _lang(), code=code, minutes=settings.email_verification_minutes,
              link=signin.absolute("account.verify_link", flow=flow, code=code))


def pending_address(account: Account, flow: str) -> str | None:
    """The address a still-open code flow of this account is for (nothing is spent)."""
    data = services.codes().code_data(VERIFY, flow)
    if data is None or data.get("account") != account.id:
        return None
    return str(data["email"])


def verify_address(account: Account, flow: str, code: str) -> str:
    """Spend the code: the address is confirmed. Only this account's flows are tried."""
    _limited("code", signin.limit, "code_per_client", account_id=account.id)
    if pending_address(account, flow) is None:
        raise Refused(CODE_EXPIRED, field="code")
    try:
        data = services.codes().check_code(VERIFY, flow, code)
    except WrongCode as exc:
        raise Refused(wrong_code(exc), field="code") from None
    except InvalidCode:
        raise Refused(CODE_EXPIRED, field="code") from None
    address = str(data["email"])
    try:
        services.directory().add_email(account.id, address, verified=True)
    except AddressTaken:  # another account confirmed it first
        raise Refused(_("Cette adresse ne peut pas être ajoutée."), field="code") from None
    if (session.get(VERIFY) or {}).get("flow") == flow:
        session.pop(VERIFY)
    hashed = email_hash(address)
    if account.email(address) is None:
        audit("email.added", account=account.id, email_hash=hashed, ip=client_address())
    audit("email.verified", account=account.id, email_hash=hashed, ip=client_address())
    return address


def remove_address(account: Account, address: str) -> None:
    """Never the only address, never the last confirmed one; the primary moves to a confirmed one."""
    directory = services.directory()
    try:
        updated = directory.remove_email(account.id, address)
    except LastVerifiedAddress:
        if len(account.emails) == 1:
            raise Refused(_("Vous ne pouvez pas retirer votre seule adresse.")) from None
        raise Refused(_("Vous ne pouvez pas retirer votre dernière adresse confirmée : "
                        "confirmez d'abord une autre adresse.")) from None
    except (AccountNotFound, InvalidEmail):
        raise Refused(_("Cette adresse ne figure pas dans votre compte.")) from None
    audit("email.removed", account=account.id, email_hash=email_hash(address), ip=client_address())
    if (session.get(VERIFY) or {}).get("email") == address:
        session.pop(VERIFY)
    if updated.verified_addresses and not updated.emails[0].verified:
        make_primary(updated, updated.verified_addresses[0])


def make_primary(account: Account, address: str) -> None:
    """Only a confirmed address may become the primary one (where UNESS writes to)."""
    email = account.email(address)
    if email is None:
        raise Refused(_("Cette adresse ne figure pas dans votre compte."))
    if not email.verified:
        raise Refused(_("Confirmez d'abord cette adresse : "
                        "seule une adresse confirmée peut devenir principale."))
    services.directory().set_primary(account.id, address)
    audit("email.primary", account=account.id, email_hash=email_hash(address), ip=client_address())


# -- password --------------------------------------------------------------------------------

def change_password(account: Account, current: str, new: str) -> None:
    """The current password first (wrong tries count like at sign-in), then the policy.

    signin.set_password ends every other session and mails a notification.
    """
    try:
        right = signin.try_password(account, current, step="account.password")
    except errors.TooManyAttempts as exc:
        raise Refused(too_many(exc), field="current") from None
    if not right:
        raise Refused(_("Mot de passe actuel incorrect."), field="current")
    problems = password_problems(new, account.addresses)
    if problems:
        raise Refused(*policy_messages(problems), field="password")
    signin.set_password(account, new)


# -- sessions --------------------------------------------------------------------------------

def session_ref(sid: str) -> str:
    """What the page names a session by: a keyed hash, never the id itself (it is the cookie)."""
    secret = services.settings().secret_key.encode()
    return hmac.new(secret, b"session-ref\x00" + sid.encode(), hashlib.sha256).hexdigest()[:32]


def end_session(account: Account, ref: str) -> bool:
    """End one other session of the account. False (nothing done) for anything else."""
    current = signed_in_session_id()
    for info in services.sessions().list_for(account.id):
        if info.session_id != current and hmac.compare_digest(session_ref(info.session_id), ref):
            return end_account_sessions(account.id, except_sid=current, only_sid=info.session_id,
                                        reason=ENDED_BY_USER) == 1
    return False


def end_other_sessions(account: Account) -> int:
    return end_account_sessions(account.id, except_sid=signed_in_session_id(), reason=ENDED_BY_USER)


_BROWSERS = (("Edg", "Edge"), ("OPR/", "Opera"), ("Opera", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
             ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"), ("Chromium/", "Chromium"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("CrOS", "ChromeOS"), ("Macintosh", "macOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


def device_name(user_agent: str) -> str:
    """"Firefox sur Windows": a short readable form of a User-Agent header."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return str(_("%(browser)s sur %(system)s", browser=browser, system=system))
    return browser or system or _("Appareil inconnu")


def _when(timestamp: int) -> str:
    """In the person's language, in Flask-Babel's configured time zone."""
    return str(format_datetime(datetime.fromtimestamp(timestamp, timezone.utc), "medium"))


def session_rows(account: Account) -> list[dict[str, Any]]:
    """The account's live sessions for the table, this browser's first."""
    current = getattr(session, "sid", "")
    rows = [{"device": device_name(s.user_agent), "ip": s.ip or "—", "signed_in": _when(s.auth_time),
             "last_seen": _when(s.last_seen), "remember": s.remember, "current": s.session_id == current,
             "form": SessionActionForm(formdata=None, ref=session_ref(s.session_id))}
            for s in services.sessions().list_for(account.id)]
    return sorted(rows, key=lambda row: not row["current"])


# -- pages -----------------------------------------------------------------------------------

def _page(error: str | None = None, **forms: Any) -> str:
    """"Mes informations", with the forms given (bound, with their errors) or empty ones."""
    account: Account = current_user.account
    return render_template(
        "account/overview.html", account=account, error=error, notice=session.pop("notice", None),
        affiliations=[str(AFFILIATIONS.get(a, a)) for a in account.affiliations],
        status=STATUSES.get(account.status, account.status),
        addresses=[(e, AddressActionForm(formdata=None, address=e.address)) for e in account.emails],
        pending=_pending_addition(account),
        sessions=session_rows(account), actions=ButtonForm(formdata=None),
        add_form=forms.get("add_form") or AddEmailForm(formdata=None),
        password_form=forms.get("password_form") or ChangePasswordForm(formdata=None),
    )


def _pending_addition(account: Account) -> tuple[str, AddressActionForm] | None:
    """The address this browser is adding, while its code is still open."""
    adding = session.get(VERIFY) or {}
    address = adding.get("email")
    if not address or account.email(address) or pending_address(account, adding.get("flow", "")) is None:
        return None
    return address, AddressActionForm(formdata=None, address=address)


def _done(message: str, endpoint: str = "account.overview") -> Response:
    session["notice"] = message
    return redirect(url_for(endpoint))


def _errors(form: Any, exc: Refused) -> None:
    getattr(form, exc.field or "").errors.extend(exc.messages)


@bp.get("/account")
@login_required
def overview() -> str:
    return _page()


@bp.post("/account/emails")
@login_required
def add_email() -> Response | str:
    form = AddEmailForm()
    if form.validate_on_submit():
        try:
            address = add_address(current_user.account, form.new_email.data)
        except Refused as exc:
            _errors(form, exc)
        else:
            return _done(_("Un code de confirmation a été envoyé à %(email)s.", email=address),
                         "account.verify")
    return _page(add_form=form)


@bp.route("/account/emails/verify", methods=["GET", "POST"])
@login_required
def verify() -> Response | str:
    """The code of the address being confirmed; only this POST spends it."""
    form = VerifyEmailForm(flow=(session.get(VERIFY) or {}).get("flow"))
    if form.validate_on_submit():
        try:
            address = verify_address(current_user.account, form.flow.data or "", form.code.data)
        except Refused as exc:
            _errors(form, exc)
        else:
            return _done(_("Adresse confirmée : %(email)s.", email=address))
    elif request.method == "GET" and not form.flow.data:
        return redirect(url_for("account.overview"))
    return _verify_page(form)


@bp.get("/account/emails/verify/<flow>")
@login_required
def verify_link(flow: str) -> str:
    """The mailed link only fills in the form (mail scanners open links): nothing is spent."""
    form = VerifyEmailForm(formdata=None, flow=flow, code=request.args.get("code", ""))
    return _verify_page(form, from_link=True)


def _verify_page(form: VerifyEmailForm, from_link: bool = False) -> str:
    account: Account = current_user.account
    address = pending_address(account, form.flow.data or "")
    # "Renvoyer un code" also once the code is void: the address this browser is confirming
    target = address or (session.get(VERIFY) or {}).get("email", "")
    known = account.email(target)
    again = AddressActionForm(formdata=None, address=target) if target and not (known and known.verified) else None
    return render_template(
        "account/verify.html", form=form, email=address, from_link=from_link, again=again,
        minutes=services.settings().codes.email_verification_minutes, notice=session.pop("notice", None),
    )


@bp.post("/account/emails/verify/send")
@login_required
def send_again() -> Response:
    """"Renvoyer un code" (also "Confirmer" next to an address not confirmed yet)."""
    form = AddressActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.overview"))
    try:
        send_verification(current_user.account, form.address.data)
    except Refused as exc:
        session["notice"] = exc.messages[0]
        return redirect(url_for("account.verify" if session.get(VERIFY) else "account.overview"))
    return _done(_("Un nouveau code a été envoyé à %(email)s.", email=form.address.data), "account.verify")


def _address_action(change: Callable[[Account, str], None], confirmation: str) -> Response | str:
    """Apply ``change`` to the address named by the posted form; confirm, or show why not."""
    form = AddressActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.overview"))
    try:
        change(current_user.account, form.address.data)
    except Refused as exc:
        return _page(error=exc.messages[0])
    return _done(confirmation % {"email": form.address.data})


@bp.post("/account/emails/remove")
@login_required
def remove_email() -> Response | str:
    return _address_action(remove_address, _("Adresse retirée : %(email)s."))


@bp.post("/account/emails/primary")
@login_required
def primary_email() -> Response | str:
    return _address_action(make_primary, _("Votre adresse principale est désormais %(email)s."))


@bp.post("/account/password")
@login_required
def password() -> Response | str:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_password(current_user.account, form.current.data, form.password.data)
        except Refused as exc:
            _errors(form, exc)
        else:
            return _done(_("Mot de passe modifié. Vos autres sessions ont été fermées."))
    return _page(password_form=form)


@bp.post("/account/sessions/end")
@login_required
def end() -> Response:
    form = SessionActionForm()
    if form.validate_on_submit() and end_session(current_user.account, form.ref.data):
        return _done(_("La session a été fermée."))
    return _done(_("Cette session n'est plus ouverte."))


@bp.post("/account/sessions/end-others")
@login_required
def end_others() -> Response:
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("account.overview"))
    count = end_other_sessions(current_user.account)
    return _done(ngettext("%(num)d autre session a été fermée.",
                          "%(num)d autres sessions ont été fermées.", count))
