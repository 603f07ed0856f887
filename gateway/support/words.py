"""The diagnosis and the activity history in words, French or English (the pages' catalogue).

Times are shown in Flask-Babel's time zone (Europe/Paris). :func:`describe` is what
"Activité récente" and the diagnosis show of one history entry; :func:`diagnosis_lines`
is what ``gateway support diagnose`` prints.
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..accounts.emails import mask_email
from ..accounts.models import Account
from ..i18n import date_and_time
from ..identity.history import Entry
from .activity import mail_fate
from .diagnosis import Diagnosis, MailSent, OpenCode, Reason, address_of

EVENTS = {
    "login.succeeded": _l("Connexion réussie"),
    "login.failed": _l("Mot de passe incorrect"),
    "login.disabled": _l("Tentative de connexion à un compte désactivé"),
    "limit.refused": _l("Trop de tentatives : attente imposée"),
    "logout": _l("Déconnexion"),
    "code.sent": _l("Code de connexion envoyé par email"),
    "code.failed": _l("Code de connexion refusé"),
    "activation.sent": _l("Code d'activation envoyé par email"),
    "activation.completed": _l("Compte activé"),
    "activation.failed": _l("Code d'activation refusé"),
    "reset.sent": _l("Lien de réinitialisation du mot de passe envoyé par email"),
    "reset.completed": _l("Mot de passe réinitialisé"),
    "password.changed": _l("Mot de passe modifié"),
    "account.password_set": _l("Mot de passe défini par le support"),
    "account.disabled": _l("Compte désactivé"),
    "email.added": _l("Adresse ajoutée"),
    "email.removed": _l("Adresse retirée"),
    "email.verified": _l("Adresse confirmée"),
    "email.primary": _l("Adresse principale changée"),
    "email.code_sent": _l("Code de confirmation d'adresse envoyé par email"),
    "support.code_given": _l("Code de connexion donné par le support"),
    "support.unblocked": _l("Délais et limites levés par le support"),
}
FATES = {
    "accepted": _l("accepté par la messagerie"),
    "refused": _l("refusé ou jamais remis : utilisez une autre adresse"),
    "failed": _l("refusé ou jamais remis : utilisez une autre adresse"),
    "expired": _l("pas envoyé : le code avait expiré avant"),
    "queued": _l("pas encore envoyé"),
    "retrying": _l("pas encore envoyé"),
    "": _l("pas encore envoyé"),
}
#: The events whose purpose is a mail: "Activité récente" says what became of it.
SENDING = ("code.sent", "activation.sent", "reset.sent", "email.code_sent")
STATUSES = {"active": _l("actif"), "provisioned": _l("en attente d'activation"), "disabled": _l("désactivé")}
PURPOSES = {"activation": _l("activation"), "signin": _l("connexion"),
            "verify_email": _l("confirmation d'adresse")}

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


def describe(entry: Entry, account: Account) -> dict[str, str]:
    """One history entry as shown: ``when``, ``what`` (with the address, masked, and what became of
    the mail it sent) and ``where`` (the device and client address, for what a browser did)."""
    what = str(EVENTS.get(entry.event, entry.event))
    hashed = entry.get("email_hash")
    address = address_of(account, str(hashed)) if hashed else ""
    if address:
        what += f" ({mask_email(address)})"
    if entry.event in SENDING and entry.get("message_id"):
        what += " — " + str(FATES.get(mail_fate(str(entry.get("message_id"))) or "", ""))
    if entry.event == "limit.refused" and entry.get("wait"):
        what += " — " + _("%(minutes)d min", minutes=max(1, (int(entry.get("wait")) + 59) // 60))
    where = ""
    if entry.get("ip"):
        device = device_name(str(entry.get("agent", "")))
        known = _("appareil déjà utilisé") if entry.get("known_device") else _("nouvel appareil")
        where = f"{device}, {entry.get('ip')} ({known})"
    elif entry.get("source") == "cli":
        where = _("le support (ligne de commande)")
    return {"when": date_and_time(entry.at), "what": what, "where": where}


def mail_line(mail: MailSent) -> str:
    """"<when> : <what> à <address> : <fate>"."""
    what = EVENTS.get(mail.event, mail.event)
    address = mail.address or _("une adresse retirée depuis")
    return str(_("%(when)s : %(what)s à %(address)s : %(fate)s", when=date_and_time(mail.at), what=what,
                 address=address, fate=FATES.get(mail.fate, mail.fate)))


#: Each reason's words; its values fill them in (dates as :func:`gateway.i18n.date_and_time` shows them).
REASONS = {
    "ok": _l("Rien n'empêche la connexion : mot de passe, ou code reçu par email."),
    "disabled": _l("Le compte est désactivé : aucune connexion possible avant qu'il soit rétabli."),
    "provisioned": _l("Le compte n'est pas encore activé : la personne doit saisir le code d'activation "
                      "envoyé par email (ou donné par le support) et choisir un mot de passe."),
    "no_password": _l("Aucun mot de passe n'est défini : connexion par code reçu par email, "
                      "ou réinitialisation du mot de passe."),
    "no_confirmed_address": _l("Aucune adresse n'est confirmée : un code reçu par email la confirmera."),
    "asked_unconfirmed": _l("L'adresse %(address)s n'est pas confirmée : elle mène au code par email, "
                            "pas au mot de passe."),
    "throttle_account": _l("Mots de passe refusés à la suite d'essais répétés : nouvel essai possible "
                           "à %(until)s (le code par email reste possible)."),
    "throttle_pair": _l("Mots de passe refusés depuis l'adresse IP %(whom)s : nouvel essai possible "
                        "à %(until)s."),
    "throttle_device": _l("Mots de passe refusés sur un appareil déjà utilisé (%(whom)s) : nouvel essai "
                          "possible à %(until)s."),
    "limit": _l("Trop d'envois ou d'essais pour %(address)s (%(rule)s) : de nouveau possible à %(until)s."),
    "mail_refused": _l("Le dernier email, envoyé à %(address)s le %(at)s, a été refusé ou n'a pas pu être "
                       "remis : utiliser une autre adresse, ou un code donné par le support."),
    "mail_failed": _l("Le dernier email, envoyé à %(address)s le %(at)s, a été refusé ou n'a pas pu être "
                      "remis : utiliser une autre adresse, ou un code donné par le support."),
    "mail_expired": _l("Le dernier email, pour %(address)s le %(at)s, n'est pas parti avant la fin de "
                       "validité de son code : en demander un autre."),
}


def reason_line(reason: Reason) -> str:
    """One reason the person can or cannot sign in, in words."""
    values: dict[str, Any] = dict(reason.values)
    for name in ("until", "at"):
        if name in values:
            values[name] = date_and_time(values[name])
    if reason.code == "throttle_device":
        values["whom"] = str(values["whom"])[:8]  # enough to tell devices apart
    return str(REASONS[reason.code]) % values


def code_line(c: OpenCode) -> str:
    """"<purpose> pour <address>, valable jusqu'à <when>" (and who gave it by phone)."""
    line = _("%(purpose)s pour %(address)s, valable jusqu'à %(until)s",
             purpose=PURPOSES.get(c.purpose, c.purpose), address=c.address, until=date_and_time(c.expires_at))
    return str(line) + (" (" + _("donné par %(operator)s", operator=c.operator) + ")" if c.operator else "")


def event_line(entry: Entry, account: Account) -> str:
    shown = describe(entry, account)
    return f"{shown['when']} : {shown['what']}" + (f" — {shown['where']}" if shown["where"] else "")


def diagnosis_lines(d: Diagnosis, reasons: list[Reason]) -> list[str]:
    """The whole diagnosis, in lines, as ``gateway support diagnose`` prints it."""
    a = d.account
    out = [_("Compte %(id)s (%(name)s) : %(status)s.", id=a.id, name=a.display_name or "—",
             status=STATUSES.get(a.status, a.status)),
           _("Mot de passe : défini.") if d.password_set else _("Mot de passe : aucun."), "",
           _("Pourquoi la personne peut ou ne peut pas se connecter :")]
    out += [f"  - {reason_line(r)}" for r in reasons]
    out += ["", _("Adresses :")]
    for state in d.addresses:
        status = _("confirmée") if state.verified else _("non confirmée")
        primary = _("principale") if state.primary else ""
        out.append(f"  - {state.address} : {status}" + (f", {primary}" if primary else ""))
    none = "  —"
    out += ["", _("Codes en cours :")] + ([f"  - {code_line(c)}" for c in d.codes] or [none])
    out += ["", _("Derniers emails :")] + ([f"  - {mail_line(m)}" for m in d.mails] or [none])
    out += ["", _("Dernières activités :")] + ([f"  - {event_line(e, a)}" for e in d.events] or [none])
    out += ["", _("Sessions ouvertes :")]
    out += ["  - " + _("%(device)s, %(ip)s, connexion le %(when)s", device=device_name(s.user_agent),
                       ip=s.ip or "—", when=date_and_time(s.auth_time)) for s in d.sessions] or [none]
    return [str(line) for line in out]
