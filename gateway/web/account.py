"""``/account``: "Mes informations" — details, addresses, password, active sessions.

The rules of each change live in the identity core (:mod:`gateway.identity.signin.account_addresses`,
:mod:`~gateway.identity.signin.account_sessions`, :func:`~gateway.identity.signin.reset.change_password`),
called through the Flask glue (:mod:`gateway.identity.flaskglue.signin`). Here: the forms, the French
words for each refusal (:func:`refusal`), and the redirects with a confirmation in ``session["notice"]``.
Every change writes an audit line (in the core); addresses appear there only as hashes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from .. import services
from ..accounts.codes import InvalidCode, WrongCode
from ..accounts.errors import InvalidEmail
from ..accounts.models import Account
from ..identity.flaskglue import signin
from ..identity.flaskglue.session_interface import session_with_account
from ..identity.signin import errors
from ..i18n import date_and_time
from ..support.words import describe, device_name
from .forms import (
    AddEmailForm,
    AddressActionForm,
    ButtonForm,
    ChangePasswordForm,
    SessionActionForm,
    VerifyEmailForm,
)
from .login import policy_messages, too_many, wrong_code
from .site import establishment_name

bp = Blueprint("account", __name__)
#: How many entries "Activité récente" shows.
ACTIVITY_SHOWN = 20

CODE_EXPIRED = _l("Ce code n'est plus valable. Demandez-en un nouveau.")

AFFILIATIONS = {
    "student": _l("Étudiant"), "faculty": _l("Enseignant"), "staff": _l("Personnel"),
    "employee": _l("Salarié"), "member": _l("Membre"), "affiliate": _l("Partenaire"),
    "alum": _l("Ancien étudiant"), "library-walk-in": _l("Lecteur de bibliothèque"),
}
STATUSES = {"active": _l("Actif"), "provisioned": _l("En attente d'activation"), "disabled": _l("Désactivé")}

#: What a change on this page may raise (the core's errors, and the account store's it lets through).
REFUSED = (errors.SignInError, InvalidCode, InvalidEmail)

#: The words for each refused address change. Another account's address gets one answer, whatever
#: the reason: the page never tells whether an address is known to UNESS.
ADDRESS_REFUSALS = {
    errors.AddressAlreadyYours: _l("Cette adresse figure déjà dans votre compte."),
    errors.AddressUnavailable: _l("Cette adresse ne peut pas être ajoutée."),
    errors.AddressNotYours: _l("Cette adresse ne figure pas dans votre compte."),
    errors.NotAwaitingConfirmation: _l("Cette adresse n'est pas en attente de confirmation."),
    errors.AddressNotConfirmed: _l("Confirmez d'abord cette adresse : "
                                   "seule une adresse confirmée peut devenir principale."),
}


def refusal(exc: Exception) -> list[str]:
    """The French (or English) words for a refused change, one per broken rule."""
    if isinstance(exc, errors.TooManyAttempts):
        return [too_many(exc)]
    if isinstance(exc, errors.PasswordRejected):
        return [str(m) for m in policy_messages(exc.problems)]
    if isinstance(exc, errors.WrongPassword):
        return [_("Mot de passe actuel incorrect.")]
    if isinstance(exc, errors.LastConfirmedAddress):
        if exc.only:
            return [_("Vous ne pouvez pas retirer votre seule adresse.")]
        return [_("Vous ne pouvez pas retirer votre dernière adresse confirmée : "
                  "confirmez d'abord une autre adresse.")]
    if isinstance(exc, WrongCode):
        return [wrong_code(exc)]
    if isinstance(exc, InvalidCode):
        return [str(CODE_EXPIRED)]
    if isinstance(exc, InvalidEmail):
        return [_("Cette adresse email n'est pas valide.")]
    return [str(ADDRESS_REFUSALS[type(exc)])]


# -- sessions --------------------------------------------------------------------------------

def session_rows(account: Account) -> list[dict[str, Any]]:
    """The account's live sessions for the table, this browser's first."""
    current = getattr(session, "sid", "")
    rows = [{"device": device_name(s.user_agent), "ip": s.ip or "—", "signed_in": date_and_time(s.auth_time),
             "last_seen": date_and_time(s.last_seen), "remember": s.remember, "current": s.session_id == current,
             "form": SessionActionForm(formdata=None, ref=signin.session_ref(s.session_id))}
            for s in services.sessions().list_for(account.id)]
    return sorted(rows, key=lambda row: not row["current"])


def activity_rows(account: Account) -> list[dict[str, str]]:
    """"Activité récente": the account's own history, newest first (when, what, where)."""
    return [describe(entry, account) for entry in services.history().recent(account.id, ACTIVITY_SHOWN)]


# -- pages -----------------------------------------------------------------------------------

def _page(error: str | None = None, **forms: Any) -> str:
    """"Mes informations", with the forms given (bound, with their errors) or empty ones."""
    account: Account = current_user.account
    return render_template(
        "account/overview.html", account=account, error=error, notice=session.pop("notice", None),
        affiliations=[str(AFFILIATIONS.get(a, a)) for a in account.affiliations],
        status=STATUSES.get(account.status, account.status),
        establishment=establishment_name(account.establishment) if account.establishment else "",
        addresses=[(e, AddressActionForm(formdata=None, address=e.address)) for e in account.emails],
        pending=_pending_addition(account),
        sessions=session_rows(account), actions=ButtonForm(formdata=None), activity=activity_rows(account),
        add_form=forms.get("add_form") or AddEmailForm(formdata=None),
        password_form=forms.get("password_form") or ChangePasswordForm(formdata=None),
    )


def _pending_addition(account: Account) -> tuple[str, AddressActionForm] | None:
    """The address this browser is adding, while its code is still open."""
    adding = signin.confirming()
    if adding is None or not adding.email or account.email(adding.email) \
            or signin.pending_address(account, adding.id) is None:
        return None
    return adding.email, AddressActionForm(formdata=None, address=adding.email)


def _done(message: str, endpoint: str = "account.overview") -> Response:
    session["notice"] = message
    return redirect(url_for(endpoint))


def _refused(field: Any, exc: Exception) -> None:
    """Show why a change was refused under the form ``field``."""
    field.errors.extend(refusal(exc))


@bp.get("/account")
@session_with_account
@login_required
def overview() -> str:
    return _page()


@bp.post("/account/emails")
@login_required
def add_email() -> Response | str:
    form = AddEmailForm()
    if form.validate_on_submit():
        try:
            address = signin.add_address(current_user.account, form.new_email.data)
        except REFUSED as exc:
            _refused(form.new_email, exc)
        else:
            return _done(_("Un code de confirmation a été envoyé à %(email)s.", email=address),
                         "account.verify")
    return _page(add_form=form)


@bp.route("/account/emails/verify", methods=["GET", "POST"])
@login_required
def verify() -> Response | str:
    """The code of the address being confirmed; only this POST spends it."""
    adding = signin.confirming()
    form = VerifyEmailForm(flow=adding.id if adding else None)
    if form.validate_on_submit():
        try:
            address = signin.verify_address(current_user.account, form.flow.data or "", form.code.data)
        except REFUSED as exc:
            _refused(form.code, exc)
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
    address = signin.pending_address(account, form.flow.data or "")
    # "Renvoyer un code" also once the code is void: the address this browser is confirming
    adding = signin.confirming()
    target = address or (adding.email if adding else "")
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
        signin.send_address_code(current_user.account, form.address.data)
    except REFUSED as exc:
        session["notice"] = refusal(exc)[0]
        return redirect(url_for("account.verify" if signin.confirming() else "account.overview"))
    return _done(_("Un nouveau code a été envoyé à %(email)s.", email=form.address.data), "account.verify")


def _address_action(change: Callable[[Account, str], None], confirmation: str) -> Response | str:
    """Apply ``change`` to the address named by the posted form; confirm, or show why not."""
    form = AddressActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.overview"))
    try:
        change(current_user.account, form.address.data)
    except REFUSED as exc:
        return _page(error=refusal(exc)[0])
    return _done(confirmation % {"email": form.address.data})


@bp.post("/account/emails/remove")
@login_required
def remove_email() -> Response | str:
    return _address_action(signin.remove_address, _("Adresse retirée : %(email)s."))


@bp.post("/account/emails/primary")
@login_required
def primary_email() -> Response | str:
    return _address_action(signin.make_primary, _("Votre adresse principale est désormais %(email)s."))


@bp.post("/account/password")
@login_required
def password() -> Response | str:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            signin.change_password(current_user.account, form.current.data, form.password.data)
        except errors.PasswordRejected as exc:
            _refused(form.password, exc)
        except REFUSED as exc:  # a wrong current password, or too many tries
            _refused(form.current, exc)
        else:
            return _done(_("Mot de passe modifié. Vos autres sessions ont été fermées."))
    return _page(password_form=form)


@bp.post("/account/sessions/end")
@login_required
def end() -> Response:
    form = SessionActionForm()
    if form.validate_on_submit() and signin.end_session(current_user.account, form.ref.data):
        return _done(_("La session a été fermée."))
    return _done(_("Cette session n'est plus ouverte."))


@bp.post("/account/sessions/end-others")
@login_required
def end_others() -> Response:
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("account.overview"))
    count = signin.end_other_sessions(current_user.account)
    return _done(ngettext("%(num)d autre session a été fermée.",
                          "%(num)d autres sessions ont été fermées.", count))
