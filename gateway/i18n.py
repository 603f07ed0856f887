"""French first, English second (Flask-Babel).

The locale is the one the person chose (``?lang=en``, remembered in a cookie),
else the browser's preference among the configured languages, else French.
Message ids in the code and templates are written in French, so French is what
shows even without a compiled catalogue; ``translations/en`` holds English.
"""
from __future__ import annotations

import functools
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, Response, request
from flask_babel import Babel, format_datetime, format_time, get_locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from . import services

LANG_COOKIE = "uness_lang"


def select_locale() -> str:
    languages = services.settings().languages
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in languages:
        return chosen
    return _preferred(request.headers.get("Accept-Language", ""), tuple(languages))


@functools.lru_cache(maxsize=128)
def _preferred(accept_language: str, languages: tuple[str, ...]) -> str:
    """The browser's preference among ``languages`` (RFC 9110 §12.5.4), else the first.

    Parsed once per distinct header: browsers send a handful of them, and parsing one took most of a
    page's language choice (~40 us, asked by every page and SSO answer); headers never seen before
    only push older ones out of the bounded cache.
    """
    return parse_accept_header(accept_language, LanguageAccept).best_match(languages) or languages[0]


# The times people read, in Flask-Babel's time zone (Europe/Paris): the one home of both formats.

def time_of_day(timestamp: float) -> str:
    """A time of day as people write it, in Europe/Paris: "9 h 05" in French, "9:05" in English."""
    pattern = "H' h 'mm" if str(get_locale() or "fr") == "fr" else "H:mm"
    return str(format_time(datetime.fromtimestamp(timestamp, timezone.utc), pattern))


def date_and_time(timestamp: float) -> str:
    """A date and time in the person's language, in Europe/Paris ("7 déc. 2026, 09:05:00")."""
    return str(format_datetime(datetime.fromtimestamp(timestamp, timezone.utc), "medium"))


def _remember_choice(response: Response) -> Response:
    """Keep the language chosen with ``?lang=`` in a cookie (a request without a query string chose none)."""
    if not request.environ.get("QUERY_STRING"):
        return response
    chosen = request.args.get("lang")
    if chosen in services.settings().languages and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                            secure=not services.settings().insecure_http)
    return response


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(__file__).resolve().parent / "translations")
    app.config["BABEL_DEFAULT_LOCALE"] = services.settings(app).languages[0]
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Paris"  # UNESS people are in France (and its overseas regions)
    Babel(app, locale_selector=select_locale)
    app.after_request(_remember_choice)
