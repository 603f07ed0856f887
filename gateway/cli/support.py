"""``gateway support …``: why a person cannot sign in, a code to read out by phone, lifting delays.

The same three as the support API (:mod:`gateway.support.views`), for an operator
with a shell. Texts are French, English with ``--lang en`` (the pages' catalogue).
An unknown address, or a code asked for a disabled account, is one line on stderr
and exit status 1. ``code`` and ``unblock`` are audited with ``--operator``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
from flask_babel import gettext as _

from .. import jobs, services
from ..i18n import date_and_time
from ..identity.signin.errors import AccountUnavailable
from ..logs import audit
from ..support import actions, diagnosis, words
from . import cli, create_app_or_exit, fail

LANG = click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True,
                    help="Language of the texts.")
OPERATOR = click.option("--operator", required=True, metavar="NAME",
                        help="Who is acting (your name): written to the audit log.")


@cli.group("support")
def support() -> None:
    """Help desk: diagnose a person's sign-in, give a code by phone, lift delays and limits."""


@contextlib.contextmanager
def in_language(lang: str) -> Iterator[None]:
    """The app's services and its catalogue in ``lang``; connections closed afterwards."""
    app = create_app_or_exit()
    try:
        with app.test_request_context(f"/?lang={lang}"):
            yield
    finally:
        services.store(app).close()
        jobs.service(app).close()


@support.command("diagnose")
@click.argument("address", metavar="ADDRESS")
@LANG
def diagnose(address: str, lang: str) -> None:
    """Why the holder of ADDRESS can or cannot sign in: account, addresses, delays, mails, events,
    sessions."""
    with in_language(lang):
        try:
            found = diagnosis.diagnose(address)
        except diagnosis.UnknownAddress:
            fail(_("aucun compte n'a l'adresse %(address)s", address=address))
            return
        audit("support.diagnosed", account=found.account.id, source="cli")
        for line in words.diagnosis_lines(found, diagnosis.reasons(found)):
            click.echo(line)


@support.command("code")
@click.argument("address", metavar="ADDRESS")
@OPERATOR
@LANG
def code(address: str, operator: str, lang: str) -> None:
    """A one-time sign-in (or activation) code for ADDRESS, to read out by phone; the mailed one is void."""
    with in_language(lang):
        try:
            given = actions.give_code(address, operator)
        except diagnosis.UnknownAddress:
            fail(_("aucun compte n'a l'adresse %(address)s", address=address))
            return
        except AccountUnavailable:
            fail(_("le compte de %(address)s est désactivé : aucun code ne peut être donné", address=address))
            return
        what = _("Code d'activation") if given.purpose == "activation" else _("Code de connexion")
        click.echo(_("%(what)s pour %(address)s : %(code)s", what=what, address=given.address,
                     code=given.code))
        until = date_and_time(given.expires_at)
        click.echo(_("Valable une seule fois, jusqu'à %(until)s. La personne saisit %(address)s sur la page "
                     "de connexion, puis ce code.", until=until, address=given.address))


@support.command("unblock")
@click.argument("address", metavar="ADDRESS")
@OPERATOR
@LANG
def unblock(address: str, operator: str, lang: str) -> None:
    """Lift the growing delays and the rate limits of the account holding ADDRESS and of its addresses."""
    with in_language(lang):
        try:
            lifted = actions.unblock(address, operator)
        except diagnosis.UnknownAddress:
            fail(_("aucun compte n'a l'adresse %(address)s", address=address))
            return
        click.echo(_("Délais et limites levés pour le compte de %(address)s (%(n)d compteur(s) effacé(s)).",
                     address=address, n=lifted))
