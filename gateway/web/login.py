"""``/login``: the address, then the password; first-login activation; sign-in by code."""
from __future__ import annotations

from flask import Blueprint, after_this_request, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from itsdangerous import BadSignature
from werkzeug.wrappers import Response

from .. import services
from ..accounts.codes import InvalidCode, WrongCode
from ..accounts.errors import InvalidEmail
from ..i18n import time_of_day
from ..identity.flaskglue.current import current_authentication
from ..identity.flaskglue.logout import logout_outcome
from ..identity.logout import EndedSession
from ..identity.redirects import is_local_url
from ..identity.signed_values import SignedValues
from ..identity.sessions import AUTH
from ..identity.flaskglue import signin
from ..identity.signin import errors
from ..identity.signin.address import Identified
from ..identity.signin.codes import EndedLink
from .forms import ActivationForm, AddressForm, ButtonForm, CodeForm, PasswordForm

bp = Blueprint("login", __name__)
LAST_EMAIL_COOKIE = "uness_last_email"


def _signer() -> SignedValues:
    return SignedValues(services.settings().secret_key, salt="last-email")


def last_email() -> str:
    try:
        return str(_signer().loads(request.cookies.get(LAST_EMAIL_COOKIE, "")))
    except BadSignature:
        return ""


def finish(landing: signin.Landing | None = None) -> Response:
    """After sign-in (``landing``: where the sign-in leads; None: a browser already signed in): back to
    where the person came from.

    The address used is remembered for the address step only with "Se souvenir de moi" (a shared
    computer must not keep it), as long as the session may last; without it, any earlier one is forgotten.
    """
    target = landing.target if landing is not None else session.pop("next", None)
    response = redirect(target if is_local_url(target) else url_for("account.overview"))
    used = landing.address if landing is not None else None
    if used and (session.get(AUTH) or {}).get("remember"):
        settings = services.settings()
        response.set_cookie(LAST_EMAIL_COOKIE, _signer().dumps(used), max_age=settings.sessions.remember_days * 86400,
                            httponly=True, samesite="Lax", secure=not settings.insecure_http)
    elif used and request.cookies.get(LAST_EMAIL_COOKIE):
        _forget(response)
    return response


def forget_last_email(ended: EndedSession) -> None:
    """Logout hook: the browser that logs out forgets the last address (any logout: button, SLO, OIDC)."""
    if ended.browser and request.cookies.get(LAST_EMAIL_COOKIE):
        after_this_request(_forget)
    return None


def _forget(response: Response) -> Response:
    response.delete_cookie(LAST_EMAIL_COOKIE, httponly=True, samesite="Lax",
                           secure=not services.settings().insecure_http)
    return response


def too_many(exc: errors.TooManyAttempts) -> str:
    return str(ngettext("Trop de tentatives. Réessayez dans %(num)d minute.",
                        "Trop de tentatives. Réessayez dans %(num)d minutes.", exc.minutes))


def no_new_mail_yet(exc: errors.TooManyAttempts, sent_at: float | None, link: bool = False) -> str:
    """A refusal to mail another code (or reset ``link``) that says what still works: the one already
    sent, if it does."""
    if sent_at is None:
        return too_many(exc)
    if link:
        return str(ngettext(
            "Un lien vous a été envoyé à %(time)s, il reste valable ; vous pourrez en demander un autre dans "
            "%(num)d minute.",
            "Un lien vous a été envoyé à %(time)s, il reste valable ; vous pourrez en demander un autre dans "
            "%(num)d minutes.", exc.minutes, time=time_of_day(sent_at)))
    return str(ngettext(
        "Un code vous a été envoyé à %(time)s, il reste valable ; vous pourrez en demander un autre dans "
        "%(num)d minute.",
        "Un code vous a été envoyé à %(time)s, il reste valable ; vous pourrez en demander un autre dans "
        "%(num)d minutes.", exc.minutes, time=time_of_day(sent_at)))


@bp.get("/")
def home() -> Response:
    """The site root (links in mails, people typing the address): "Mes informations" when signed in,
    else the sign-in page."""
    return redirect(url_for("account.overview" if signed_in() else "login.address"))


def signed_in() -> bool:
    """A sign-in whose account is still active. A session left in Redis after its account was disabled
    is none (Flask-Login's loader refuses it): the sign-in page shows, instead of sending the person back
    to the page that sent them here, in a loop."""
    return current_authentication() is not None and bool(current_user.is_authenticated)


@bp.route("/login/forgot", methods=["GET", "POST"])
def forgot() -> Response | str:
    """"Mot de passe oublié" from outside the sign-in (the "password changed" mail's "this was not you"):
    the address (the address step's rules), then a reset link mailed to it."""
    form = AddressForm(email=last_email() or None)
    if form.validate_on_submit():
        found = None
        try:
            found = signin.identify(form.email.data)
            if found.kind == "password" and found.account is not None:
                signin.send_reset(found.account, found.address)
                return render_template("reset/sent.html", email=found.address, notice=None,
                                       actions=ButtonForm())
            response = _route(found, form)  # unknown, disabled: said under the field; activate: its page
            if response is not None:
                return response
        except InvalidEmail:
            form.email.errors.append(_("Cette adresse email n'est pas valide."))
        except errors.TooManyAttempts as exc:
            sent_at = signin.link_still_valid_since(found.account, found.address) \
                if found is not None and found.account is not None else None
            form.email.errors.append(no_new_mail_yet(exc, sent_at, link=True))
    return render_template("login/forgot.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def address() -> Response | str:
    """Step 1: the email address decides the way on."""
    if request.method == "GET":
        nxt = request.args.get("next")
        if is_local_url(nxt):
            session["next"] = nxt
        if signed_in() and not request.args.get("force") and "change" not in request.args:
            return finish()
        if "change" in request.args:
            signin.forget_pending()
    form = AddressForm(email=request.args.get("login_hint") or last_email() or None)
    if form.validate_on_submit():
        try:
            found = signin.identify(form.email.data)
        except InvalidEmail:
            form.email.errors.append(_("Cette adresse email n'est pas valide."))
        except errors.TooManyAttempts as exc:
            form.email.errors.append(too_many(exc))
        else:
            response = _route(found, form)
            if response is not None:
                return response
    logged_out = "logged_out" in request.args
    return render_template("login/address.html", form=form, logged_out=logged_out,
                           outcome=logout_outcome() if logged_out else {})


def _route(found: Identified, form: AddressForm) -> Response | None:
    if found.kind == "unknown":
        form.email.errors.append(_(
            "Adresse email non reconnue. Réessayez avec une autre de vos adresses, ou contactez votre "
            "université (ou celle de votre terrain de stage) pour être ajouté à l'environnement UNESS."))
    elif found.kind == "disabled":
        form.email.errors.append(_(
            "Ce compte est désactivé. Contactez le support de votre université pour le rétablir."))
    else:  # nothing is mailed before the person asks, on the page of the account's state
        pages = {"password": "login.password", "activate": "login.activation"}
        if found.kind == "password" and signin.support_code_waiting():
            return redirect(url_for("login.code"))  # a code support read out by phone
        return redirect(url_for(pages[found.kind]))
    return None


@bp.route("/login/password", methods=["GET", "POST"])
def password() -> Response | str:
    """Step 2: the password, "Se souvenir de moi", and the two ways around a forgotten one."""
    tried = signin.password_attempt()
    if tried is None or tried.account.status != "active":  # a provisioned account is activated first
        return redirect(url_for("login.address"))
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            return finish(signin.check_password(tried, form.password.data, form.remember.data))
        except errors.AccountUnavailable:  # disabled, or another password set, during the check
            return redirect(url_for("login.address"))
        except errors.WrongPassword:
            form.password.errors.append(_("Mot de passe incorrect."))
        except errors.TooManyAttempts as exc:
            form.password.errors.append(too_many(exc))
    return render_template("login/password.html", form=form, email=tried.address, actions=ButtonForm())


@bp.post("/login/code/send")
def send_code() -> Response | str:
    """"Recevoir un code de connexion par email", and "send it again"."""
    chosen = signin.pending()
    if chosen is None or not ButtonForm().validate_on_submit():
        return redirect(url_for("login.address"))
    account, email = chosen
    purpose = "activation" if account.status == "provisioned" else "signin"
    try:
        signin.send_code(purpose, account, email)
    except errors.TooManyAttempts as exc:
        session["notice"] = no_new_mail_yet(exc, signin.still_valid_since(purpose))
    return redirect(url_for("login.activation" if purpose == "activation" else "login.code"))


@bp.route("/login/code", methods=["GET", "POST"])
def code() -> Response | str:
    """Sign in with the 6-digit code received by mail (before one was sent: the button that sends it)."""
    if request.method == "GET" and not signin.code_sent("signin"):
        return _ask("signin")
    form, spent = CodeForm(flow=(session.get("flow") or {}).get("id")), False
    if form.validate_on_submit():
        try:
            return finish(signin.sign_in_with_code(form.flow.data, form.code.data, form.remember.data,
                                                   bool(form.confirmed.data)))
        except errors.LinkFromElsewhere:
            pass  # the page says whose account it opens, and asks to confirm
        except CODE_REFUSALS as exc:
            form.code.errors.append(code_refused(exc))
            spent = code_gone(exc)
    return _ended_or_code_page("signin", form, spent or request.method == "GET")


@bp.get("/code/<flow>")
def code_link(flow: str) -> Response | str:
    """The mailed link: the code filled in; only the button (POST) signs in.

    In another browser than the one that asked, the page first says whose account it opens;
    once the code is spent, replaced or expired, the page says so and offers a new one.
    """
    return _link_page("signin", CodeForm(flow=flow, code=request.args.get("code", "")))


@bp.route("/login/activate", methods=["GET", "POST"])
def activation() -> Response | str:
    """First sign-in: the mailed code and a new password (before a code was sent: the button)."""
    if request.method == "GET" and not signin.code_sent("activation"):
        return _ask("activation")
    form, spent = ActivationForm(flow=(session.get("flow") or {}).get("id")), False
    if form.validate_on_submit():
        try:
            return finish(signin.activate(form.flow.data, form.code.data, form.password.data,
                                          form.remember.data, bool(form.confirmed.data)))
        except errors.LinkFromElsewhere:
            pass
        except errors.PasswordRejected as exc:
            form.password.errors.extend(policy_messages(exc.problems))
        except CODE_REFUSALS as exc:
            form.code.errors.append(code_refused(exc))
            spent = code_gone(exc)
    return _ended_or_code_page("activation", form, spent or request.method == "GET")


@bp.get("/activate/<flow>")
def activation_link(flow: str) -> Response | str:
    """The mailed activation link, as :func:`code_link`."""
    return _link_page("activation", ActivationForm(flow=flow, code=request.args.get("code", "")))


@bp.post("/login/link/<purpose>/<ref>")
def link_continue(purpose: str, ref: str) -> Response | str:
    """The button of an ended link's page: a new code (or reset link) mailed, or on to the password."""
    ended = signin.ended_link(purpose, ref) if purpose in ENDED_PURPOSES else None
    if ended is None or ended.kind == "unknown" or not ButtonForm().validate_on_submit():
        return redirect(url_for("login.address"))
    try:
        step = signin.continue_after(ended)
    except errors.TooManyAttempts as exc:
        return ended_page(ended, ref, notice=too_many(exc))
    if step == "reset":
        return render_template("reset/sent.html", email=ended.address, notice=None, actions=ButtonForm())
    return redirect(url_for({"password": "login.password", "activation": "login.activation",
                             "signin": "login.code"}[step]))


ENDED_PURPOSES = ("signin", "activation", "reset")


def ended_page(ended: EndedLink, ref: str, notice: str | None = None, typed: bool = False) -> str:
    """"Ce lien n'est plus valable" (with the masked address and a button mailing a new code), or
    "Votre compte est déjà activé" (with the way to the password step). ``typed``: the code was typed
    (a waiting tab), not a link opened."""
    return render_template("login/link_ended.html", ended=ended, actions=ButtonForm(), notice=notice,
                           typed=typed, action=url_for("login.link_continue", purpose=ended.purpose, ref=ref))


def _link_page(purpose: str, form: CodeForm) -> Response | str:
    """A mailed link opened (GET): checked, never spent; the form, or why it no longer works (410)."""
    ended = signin.ended_link(purpose, form.flow.data or "")
    if ended is not None:
        return ended_page(ended, form.flow.data or ""), 410  # type: ignore[return-value]
    return _code_page(purpose, form, from_link=True)


def _ended_or_code_page(purpose: str, form: CodeForm, check: bool) -> str:
    """The code form again, unless (``check``) its flow ended meanwhile (a tab that waited while the
    person used the mailed link on the phone): then what happened, as on the link's own page."""
    ended = signin.ended_link(purpose, form.flow.data or "") if check else None
    if ended is not None and ended.kind != "unknown":
        return ended_page(ended, form.flow.data or "", typed=True)
    return _code_page(purpose, form)


def _ask(purpose: str) -> Response | str:
    """The page of the account's state before any mail: one button (POST) sends the code."""
    chosen = signin.pending()
    if chosen is None:
        return redirect(url_for("login.address"))
    account, email = chosen
    if (account.status == "provisioned") != (purpose == "activation"):
        return redirect(url_for("login.activation" if account.status == "provisioned" else "login.code"))
    typed = account.email(email)
    return render_template("login/ask_code.html", activation=purpose == "activation", email=email,
                           unconfirmed=typed is None or not typed.verified, actions=ButtonForm(),
                           notice=session.pop("notice", None))


def _code_page(purpose: str, form: CodeForm, from_link: bool = False) -> str:
    """The code form; for another browser's code, whose account it opens and the confirming field."""
    flow = session.get("flow") or {}
    elsewhere = signin.link_elsewhere(purpose, form.flow.data or "")
    form.confirmed.data = "1" if elsewhere else ""
    template = "login/activate.html" if purpose == "activation" else "login/code.html"
    return render_template(template, form=form, email=flow.get("email") if flow.get("id") == form.flow.data else None,
                           elsewhere=elsewhere, from_link=from_link, actions=ButtonForm(),
                           notice=session.pop("notice", None))


#: what a code step can refuse with; code_refused() says why
CODE_REFUSALS = (InvalidCode, errors.TooManyAttempts, errors.AccountUnavailable)


def code_refused(exc: Exception) -> str:
    """The message for a refused code: wrong (tries left), too many tries, or no longer valid."""
    if isinstance(exc, WrongCode):
        return wrong_code(exc)
    if isinstance(exc, errors.TooManyAttempts):
        return too_many(exc)
    return str(_("Ce code n'est plus valable. Demandez-en un nouveau."))


def code_gone(exc: Exception) -> bool:
    """The code was refused because its flow is gone (spent, replaced, expired), not mistyped."""
    return isinstance(exc, InvalidCode) and not isinstance(exc, WrongCode)


def wrong_code(exc: WrongCode) -> str:
    if exc.remaining <= 0:
        return str(_("Code incorrect. Ce code n'est plus valable : demandez-en un nouveau."))
    return str(ngettext("Code incorrect. Il vous reste %(num)d essai.",
                        "Code incorrect. Il vous reste %(num)d essais.", exc.remaining))


def policy_messages(problems: list[str]) -> list[str]:
    messages = {
        "too_short": _("Au moins 12 caractères."),
        "common": _("Ce mot de passe est trop courant : choisissez-en un autre."),
        "is_address": _("Le mot de passe ne peut pas être votre adresse email."),
    }
    return [messages[p] for p in problems]
