"""The sign-in and account forms (Flask-WTF: CSRF on every form)."""
from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.csrf.core import CSRFTokenField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp
from wtforms.widgets import PasswordInput

#: The name of the "Afficher" button of a password field (templates/_forms.html, password_input).
REVEAL = "reveal"


class _TokenWhenRendered(CSRFTokenField):
    """The CSRF token field, its token made when the form is rendered rather than when it is built: a POST
    that leads elsewhere (a sign-in's redirect) makes none (an itsdangerous signature, ~0.1 ms with the
    caches a password hash just emptied). The token is checked as before (Flask-WTF's CSRFProtect, on
    every POST, before the view)."""

    def process(self, *args: Any, **kwargs: Any) -> None:
        HiddenField.process(self, *args, **kwargs)

    def _value(self) -> str:
        if self.current_token is None:
            self.current_token = self.csrf_impl.generate_csrf_token(self)
        return str(self.current_token)


class _TokenWhenRenderedCSRF(FlaskForm.Meta.csrf_class):  # type: ignore[name-defined,misc]
    """Flask-WTF's CSRF for a form, with :class:`_TokenWhenRendered` as its field."""

    field_class = _TokenWhenRendered


class RevealableForm(FlaskForm):
    """A form with password fields that can be shown in clear, without JavaScript too.

    Without JavaScript, a field's "Afficher" button posts the form with ``reveal=<field name>``:
    the form then never validates (nothing is done, nothing is counted) and comes back as typed,
    that field in clear (``shown``). With JavaScript the button switches the field in place.
    """

    class Meta:
        csrf_class = _TokenWhenRenderedCSRF

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.revealing: str | None = request.form.get(REVEAL) if request.method == "POST" else None
        if self.revealing is not None:
            for field in self:
                if isinstance(field, PasswordField):
                    field.widget = PasswordInput(hide_value=False)  # keep what was typed
                    field.shown = field.name == self.revealing  # type: ignore[attr-defined]

    def validate_on_submit(self, extra_validators: Any = None) -> bool:
        return self.revealing is None and super().validate_on_submit(extra_validators)


class AddressForm(FlaskForm):
    email = EmailField(_l("Adresse email"), validators=[DataRequired(_l("Indiquez votre adresse email."))],
                       render_kw={"autocomplete": "username", "autofocus": True, "spellcheck": "false"})


class PasswordForm(RevealableForm):
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(_l("Indiquez votre mot de passe."))],
                             render_kw={"autocomplete": "current-password", "autofocus": True})
    remember = BooleanField(_l("Se souvenir de moi"))


class CodeForm(FlaskForm):
    flow = HiddenField()
    #: set by the page that showed whose account a code asked from another browser opens
    confirmed = HiddenField()
    code = StringField(
        _l("Code reçu par email"),
        validators=[DataRequired(_l("Indiquez le code à 6 chiffres.")),
                    Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Le code comporte 6 chiffres."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True},
    )
    remember = BooleanField(_l("Se souvenir de moi"))


class NewPasswordForm(RevealableForm):
    password = PasswordField(
        _l("Nouveau mot de passe"),
        validators=[DataRequired(_l("Choisissez un mot de passe.")),
                    Length(min=12, max=1024, message=_l("Au moins 12 caractères."))],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Confirmez le mot de passe"),
        validators=[DataRequired(_l("Confirmez le mot de passe.")),
                    EqualTo("password", message=_l("Les deux mots de passe ne sont pas identiques."))],
        render_kw={"autocomplete": "new-password"},
    )
    remember = BooleanField(_l("Se souvenir de moi"))


class ActivationForm(CodeForm, NewPasswordForm):
    """The code received by mail and the first password, on one page."""


class ButtonForm(FlaskForm):
    """A form that is only a CSRF-protected button (logout, send again, confirm a link)."""


# -- "Mes informations" ----------------------------------------------------------------------

class AddEmailForm(FlaskForm):
    new_email = EmailField(_l("Nouvelle adresse email"),
                           validators=[DataRequired(_l("Indiquez l'adresse à ajouter."))],
                           render_kw={"autocomplete": "email", "spellcheck": "false"})


class AddressActionForm(FlaskForm):
    """A button acting on one address of the account: confirm it, make it primary, remove it."""

    address = HiddenField(validators=[DataRequired()], render_kw={"id": False})  # one per row: no id


class SessionActionForm(FlaskForm):
    """"Fermer cette session": ``ref`` names the session without revealing its id (the cookie)."""

    ref = HiddenField(validators=[DataRequired()], render_kw={"id": False})


class VerifyEmailForm(CodeForm):
    """The code mailed to a new address."""

    remember = None
    confirmed = None


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(_l("Mot de passe actuel"),
                            validators=[DataRequired(_l("Indiquez votre mot de passe actuel."))],
                            render_kw={"autocomplete": "current-password"})
    remember = None
