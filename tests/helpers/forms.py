"""Reading the forms of an HTML page as a browser does (html.parser, no regular expressions).

``forms(page)`` lists a page's forms; ``page_form(page, action=..., field=...)`` picks one;
``csrf_token(page)`` is the value of the first ``csrf_token`` field. ``page`` is the HTML text,
a Flask test response or a ``requests`` response. Attribute values come back unescaped.
"""
from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit


@dataclasses.dataclass
class Form:
    """One ``<form>``: where it posts and the fields a browser would send without typing anything
    (inputs with their values, checked boxes only, textareas, selected options)."""

    action: str
    method: str
    fields: dict[str, str]


def text_of(page: Any) -> str:
    """The HTML of ``page``: a string, a Flask test response or a ``requests`` response."""
    if isinstance(page, str):
        return page
    if hasattr(page, "get_data"):
        return page.get_data(as_text=True)
    return page.text


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.loose: dict[str, str] = {}  # fields outside any form
        self._form: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def _fields(self) -> dict[str, str]:
        return self._form.fields if self._form is not None else self.loose

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        name = a.get("name")
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower(), {})
            self.forms.append(self._form)
        elif tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "image", "reset"):
                self._fields().setdefault(name, a.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self._fields().setdefault(name, "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self._fields()[self._select] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._fields()[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def _parse(page: Any) -> _FormParser:
    parser = _FormParser()
    parser.feed(text_of(page))
    parser.close()
    return parser


def forms(page: Any) -> list[Form]:
    """Every form of ``page``, in document order."""
    return _parse(page).forms


def page_form(page: Any, action: str | None = None, field: str | None = None) -> Form:
    """The first form of ``page`` posting to ``action`` (its path; the query is ignored) and holding
    ``field``; fails the test, showing the page, when there is none."""
    for form in forms(page):
        if action is not None and urlsplit(form.action).path != urlsplit(action).path:
            continue
        if field is not None and field not in form.fields:
            continue
        return form
    raise AssertionError(f"no form (action={action!r}, field={field!r}) on the page:\n{text_of(page)[:800]}")


def csrf_token(page: Any) -> str:
    """The value of the page's first ``csrf_token`` field; fails the test, showing the page, without one."""
    parsed = _parse(page)
    for fields in [form.fields for form in parsed.forms] + [parsed.loose]:
        if fields.get("csrf_token"):
            return fields["csrf_token"]
    raise AssertionError(f"no CSRF token on the page:\n{text_of(page)[:800]}")
