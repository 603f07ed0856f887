"""What every page shows around its form: the footer, the signed-in person's name, establishments by name.

The footer holds what French public services must show on every page (the
accessibility statement with its declared conformity, RGAA 4.1 "Déclaration
d'accessibilité"; the legal notice; personal data; help), its texts and
addresses from ``[site]`` in the configuration (:class:`gateway.config.SiteSettings`),
in the page's language.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import services

CONFORMITY = {"non": _l("Accessibilité : non conforme"), "partiellement": _l("Accessibilité : partiellement conforme"),
              "totalement": _l("Accessibilité : totalement conforme")}


@dataclasses.dataclass(frozen=True)
class Footer:
    help_text: str
    #: (label, address) in the order shown; an address "" shows the label alone.
    links: tuple[tuple[str, str], ...]


def in_language(values: Mapping[str, str], lang: str) -> str:
    """The value for ``lang``, else the French one, else any ("" when none)."""
    return values.get(lang) or values.get("fr") or next(iter(values.values()), "")


def footer(lang: str) -> Footer:
    """The footer in ``lang``; the accessibility mention always, the other links when configured."""
    site = services.settings().site
    links = [(str(CONFORMITY[site.accessibility]), in_language(site.accessibility_url, lang))]
    for label, urls in ((_("Mentions légales"), site.legal_notice_url),
                        (_("Données personnelles"), site.personal_data_url),
                        (_("Aide"), site.help_url), (_("Contacter l'assistance"), site.contact_url)):
        url = in_language(urls, lang)
        if url:
            links.append((str(label), url))
    return Footer(in_language(site.help_text, lang), tuple(links))


def establishment_name(code: str) -> str:
    """"Université Paris Cité" for "{UAI}0751717J" from the configured table; the code itself when not listed."""
    return services.settings().site.establishments.get(code, code)


def signed_in_name() -> str:
    """The name shown beside the logout button: the display name, else given and family names, else the address."""
    if not current_user or not current_user.is_authenticated:
        return ""
    account = current_user.account
    return account.display_name or " ".join(filter(None, (account.given_name, account.family_name))) \
        or account.primary_email
