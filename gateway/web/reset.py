"""Forgotten password: a reset link by mail (single use, short-lived, stored hashed)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ..accounts.codes import InvalidCode
from ..identity.flaskglue import signin
from ..identity.signin import errors
from ..identity.signin.codes import EndedLink
from ..identity.signin.reset import RESET_LINK
from .forms import ButtonForm, NewPasswordForm
from .login import ended_page, finish, no_new_mail_yet, policy_messages
from .mail_status import mail_status

bp = Blueprint("reset", __name__)


@bp.post("/login/reset")
def send() -> Response | str:
    """"Mot de passe oublié ?": mail a link to the address typed at step 1."""
    chosen = signin.pending()
    if chosen is None or not ButtonForm().validate_on_submit():
        return redirect(url_for("login.address"))
    account, email = chosen
    notice = None
    try:
        signin.send_reset(account, email)
    except errors.TooManyAttempts as exc:
        notice = no_new_mail_yet(exc, signin.link_still_valid_since(account, email), link=True)
    return render_template("reset/sent.html", email=email, notice=notice, actions=ButtonForm())


@bp.get("/login/reset")
def sent() -> Response | str:
    """The "link sent" page again (its "Actualiser"): what became of the last reset mail to the address,
    once this browser asked for one (typing someone's address does not show their mails)."""
    chosen = signin.pending()
    if chosen is None or not signin.reset_sent_here(chosen[1]) or mail_status(chosen[1], "reset") is None:
        return redirect(url_for("login.address"))
    return render_template("reset/sent.html", email=chosen[1], notice=None, actions=ButtonForm())


@bp.route("/reset/<token>", methods=["GET", "POST"])
def form(token: str) -> Response | str:
    """The mailed link. GET only shows the form (mail scanners open links); POST spends it."""
    target = signin.reset_target(token)
    if target is None:
        return _ended(token)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            landing = signin.reset_password(token, form.password.data, form.remember.data)
        except errors.PasswordRejected as exc:
            form.password.errors.extend(policy_messages(exc.problems))
        except InvalidCode:
            return _ended(token)
        else:
            session["notice"] = _("Votre mot de passe a été modifié. Vos autres sessions ont été fermées.")
            return finish(landing)
    return render_template("reset/form.html", form=form, email=target.primary_email)


def _ended(token: str) -> Response:
    """A used, replaced or expired reset link: what happened, and a button mailing a new one (410)."""
    ended = signin.ended_link(RESET_LINK, token) or EndedLink("unknown", RESET_LINK)
    return Response(ended_page(ended, token), 410, mimetype="text/html")
