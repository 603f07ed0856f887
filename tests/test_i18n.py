"""The English catalogue (gateway/translations/en): complete, consistent, and really used.

Message ids are the French texts of the code and templates. The first tests
extract them again exactly as ``make translations`` does (babel.cfg and the
Makefile's BABEL_KEYWORDS), so a French string added without its English
translation fails here, with the list of what is missing. The others check that
pages and mails do come out in English, from the compiled catalogue that
``make install`` builds.
"""
from __future__ import annotations

import html
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from gateway.i18n import LANG_COOKIE
from gateway.mail import send_mail
from tests.helpers.forms import csrf_token

ROOT = Path(__file__).resolve().parent.parent
EN_PO = ROOT / "gateway" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = EN_PO.with_suffix(".mo")
PO_NAME = EN_PO.relative_to(ROOT)
REFRESH = "make translations"
HOW_TO_FIX = (f"Run `{REFRESH}`, translate the empty entries of {PO_NAME} "
              "(and remove any `#, fuzzy` line once its translation is right), then commit messages.po.")

#: A printf-style conversion as Python's % (and Flask-Babel's gettext) reads it, or a literal "%%".
PLACEHOLDER = re.compile(r"%(?:%|(?:\(\w+\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[a-zA-Z])")
FRENCH_LETTERS = re.compile(r"[àâçéèêëîïôöûùüÿœ]", re.IGNORECASE)
UNKNOWN_ADDRESS = ("Email address not recognised. Try another of your addresses, or contact your university "
                   "(or the one of your placement) to be added to the UNESS environment.")


# -- the catalogue and the code --------------------------------------------------------------------

def babel_keywords() -> list[str]:
    """The ``-k`` options ``make translations`` passes to ``pybabel extract``."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^BABEL_KEYWORDS\s*:?=(.*)$", makefile, re.MULTILINE)
    assert match, "the Makefile no longer defines BABEL_KEYWORDS (the -k options of `pybabel extract`)"
    return shlex.split(match.group(1))


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def key(message: Message) -> tuple[str | None, object]:
    """A message's identity: context, and its id (singular and plural for ngettext)."""
    return message.context, message.id


def messages(catalog: Catalog) -> dict[tuple[str | None, object], Message]:
    return {key(m): m for m in catalog if m.id}


def relative(path: str) -> str:
    """A location as in messages.pot (relative to the repository), whatever the extraction was given."""
    return Path(path).resolve().relative_to(ROOT).as_posix() if Path(path).is_absolute() else path


def describe(found: list[Message]) -> str:
    lines = []
    for m in found:
        places = " ".join(f"{relative(path)}:{line}" for path, line in m.locations[:2])
        lines.append(f"  - {m.id!r}" + (f"  ({places})" if places else ""))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What ``make translations`` would put in messages.pot right now (written to a temporary file)."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    status = CommandLineInterface().run(
        ["pybabel", "--quiet", "extract", "-F", str(ROOT / "babel.cfg"), *babel_keywords(),
         "-o", str(pot), str(ROOT)]
    )
    assert not status and pot.is_file(), "pybabel extract failed (a template Jinja cannot parse?)"
    return read(pot)


@pytest.fixture(scope="module")
def english() -> Catalog:
    assert EN_PO.is_file(), f"{PO_NAME} is missing: run `{REFRESH}`"
    return read(EN_PO)


def test_extraction_finds_the_code_and_the_templates(extracted):
    """Guard the guard: the extraction really reads Python (lazy ids included), pages and text mails."""
    paths = {relative(path) for m in extracted for path, _line in m.locations}
    for expected in ("gateway/errors.py", "gateway/web/forms.py", "gateway/web/login.py",
                     "templates/base.html", "templates/login/address.html", "templates/mail/signin_code.txt"):
        assert expected in paths, f"nothing extracted from {expected}: check babel.cfg and BABEL_KEYWORDS"
    ids = messages(extracted)
    assert (None, "Page introuvable") in ids  # lazy_gettext as _l
    assert (None, "Votre code de connexion UNESS") in ids  # {% set subject = _("...") %} in a .txt mail


def test_every_french_message_is_in_the_english_catalogue(extracted, english):
    known = messages(english)
    missing = [m for k, m in messages(extracted).items() if k not in known]
    assert not missing, (
        f"{len(missing)} French message(s) of the code and templates are not in {PO_NAME}:\n"
        f"{describe(missing)}\n{HOW_TO_FIX}"
    )


def test_every_english_entry_is_translated_and_not_fuzzy(english):
    assert not english.fuzzy, f"the header of {PO_NAME} is marked fuzzy: pybabel compile would skip it all"
    entries = list(messages(english).values())
    untranslated = [m for m in entries if not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    fuzzy = [m for m in entries if m.fuzzy]  # pybabel compile leaves them out: French would show
    plurals = [m for m in entries if isinstance(m.id, tuple) and len(m.string) != english.num_plurals]
    problems = [f"{len(found)} {what} in {PO_NAME}:\n{describe(found)}" for what, found in (
        ("untranslated message(s)", untranslated), ("fuzzy message(s)", fuzzy),
        (f"plural message(s) without {english.num_plurals} forms", plurals)) if found]
    assert not problems, "\n".join(problems) + "\n" + HOW_TO_FIX


def placeholders(text: str) -> Counter[str]:
    return Counter(p for p in PLACEHOLDER.findall(text) if p != "%%")


def test_translations_keep_the_placeholders(english):
    """%(email)s, %(minutes)d, %(n)d...: the same in each translation as in its French id."""
    wrong = []
    for m in messages(english).values():
        if isinstance(m.id, tuple):  # ngettext: form 0 against the singular id, the others against the plural
            pairs = [(m.id[0], m.string[0])] + [(m.id[1], s) for s in m.string[1:]]
        else:
            pairs = [(m.id, m.string)]
        for source, translation in pairs:
            if translation and placeholders(source) != placeholders(translation):
                wrong.append(f"  - {source!r}\n    -> {translation!r}")
    assert not wrong, f"placeholders differ between French and English in {PO_NAME}:\n" + "\n".join(wrong)


# -- the English that people see -------------------------------------------------------------------

@pytest.fixture
def compiled() -> None:
    """The pages and mails use messages.mo, built from messages.po by `make install` (`make test`)."""
    if not EN_MO.is_file() or EN_MO.stat().st_mtime < EN_PO.stat().st_mtime:
        pytest.fail(f"{EN_MO.relative_to(ROOT)} is missing or older than messages.po: run `make install` "
                    "(or `.venv/bin/pybabel compile -d gateway/translations`)")


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def assert_english(text: str) -> None:
    assert '<html lang="en">' in text
    assert "Sign in to UNESS" in text and "Email address" in text and "Continue" in text
    assert "Connexion à UNESS" not in text and "Adresse email" not in text


def assert_french(text: str) -> None:
    assert '<html lang="fr">' in text
    assert "Connexion à UNESS" in text and "Adresse email" in text and "Continuer" in text
    assert "Sign in" not in text


@pytest.mark.parametrize("accept", ["en", "en-GB,en;q=0.9,fr;q=0.5", "en-US"])
def test_login_page_in_english_when_the_browser_asks(client, compiled, accept):
    assert_english(page(client.get("/login", headers={"Accept-Language": accept})))


@pytest.mark.parametrize("accept", [None, "fr", "fr-FR,fr;q=0.9,en;q=0.8", "de-DE"])
def test_login_page_in_french_otherwise(client, accept):
    headers = {"Accept-Language": accept} if accept else {}
    assert_french(page(client.get("/login", headers=headers)))


def test_lang_parameter_switches_and_is_remembered(client, compiled):
    assert_english(page(client.get("/login?lang=en", headers={"Accept-Language": "fr"})))
    cookie = client.get_cookie(LANG_COOKIE)
    assert cookie is not None and cookie.value == "en"
    # The cookie wins over the browser's preference, on every page.
    assert_english(page(client.get("/login", headers={"Accept-Language": "fr"})))
    assert "Page not found" in page(client.get("/no-such-page", headers={"Accept-Language": "fr"}))
    assert_french(page(client.get("/login?lang=fr", headers={"Accept-Language": "en"})))
    assert client.get_cookie(LANG_COOKIE).value == "fr"
    assert_french(page(client.get("/login", headers={"Accept-Language": "en"})))


def test_form_messages_in_english(client, compiled):
    """Lazy ids of the forms (WTForms validators) and the views' messages, unknown address included."""
    form = page(client.get("/login?lang=en"))
    token = csrf_token(form)
    empty = page(client.post("/login", data={"csrf_token": token, "email": ""}))
    assert "Please enter your email address." in empty
    unknown = page(client.post("/login", data={"csrf_token": token, "email": "nobody@univ-example.fr"}))
    assert UNKNOWN_ADDRESS in unknown and '<html lang="en">' in unknown


def test_english_mail(mail_app, smtp, mail_worker, compiled):
    with mail_app.app_context():
        send_mail("signin_code", "alex@example.org", "en", code="123456", link="http://x/y", minutes=10)
    assert mail_worker()
    (message,) = smtp.messages
    assert message["Subject"] == "Your UNESS sign-in code"
    assert message["Content-Language"] == "en"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Hello,")
    assert "To sign in to UNESS, enter this code on the sign-in page:" in text
    assert "123456" in text and "http://x/y" in text
    assert "This code and link are valid for 10 minutes and can only be used once." in text
    assert "alex@example.org" in text  # the footer, with its placeholder filled in
    assert not FRENCH_LETTERS.search(text), f"French left in the English mail:\n{text}"
    body = message.get_body(preferencelist=("html",)).get_content()
    assert 'lang="en"' in body and "Sign me in" in body and "Bonjour" not in body
