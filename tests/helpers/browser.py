"""One browser for every test that fills the gateway's pages.

``Browser(app.test_client())`` drives the app in this process (Flask test responses);
``Browser(url="http://127.0.0.1:PORT")`` drives a live server (gunicorn, werkzeug in a thread)
through a ``requests.Session`` (``requests`` responses). Either way redirects are not followed
unless asked, and every response is kept in ``history``.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from tests.helpers.accounts import PASSWORD
from tests.helpers.forms import csrf_token, page_form, text_of

#: How long a request to a live server may take.
TIMEOUT = 10


class Browser:
    """A person's browser: GET a page, POST its form with the CSRF token read from it, sign in."""

    def __init__(self, client: Any = None, *, url: str | None = None) -> None:
        if (client is None) == (url is None):
            raise TypeError("Browser(test_client) or Browser(url=live_server_url)")
        self.client = client
        self.url = url
        self.http = requests.Session() if url is not None else None
        self.history: list[Any] = []

    # -- requests ------------------------------------------------------------------------------------

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("POST", path, data=data or {}, **kw)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """``path`` is relative to the server (an absolute URL is fine too)."""
        if self.http is not None:
            kw.setdefault("allow_redirects", False)
            kw.setdefault("timeout", TIMEOUT)
            response = self.http.request(method, urljoin(self.url, path), **kw)
        else:
            response = self.client.open(path, method=method, **kw)
        self.history.append(response)
        return response

    @staticmethod
    def text(response: Any) -> str:
        """The body of a response of either kind, as text."""
        return text_of(response)

    # -- forms ---------------------------------------------------------------------------------------

    def submit(self, path: str, data: dict[str, Any] | None = None, *, form_page: str | None = None,
               page: Any = None, **kw: Any) -> Any:
        """POST ``data`` to ``path`` with the CSRF token of the form's page: ``page`` when the test
        already holds it (a response), else a GET of ``form_page`` (by default ``path`` itself)."""
        if page is None:
            page = self.get(form_page or path)
        return self.post(path, {"csrf_token": csrf_token(page), **(data or {})}, **kw)

    def post_form(self, page: Any, fields: dict[str, Any] | None = None, *, action: str | None = None,
                  field: str | None = None, **kw: Any) -> Any:
        """POST a form of ``page`` (a response) as a browser does: the form posting to ``action`` or
        holding ``field`` (else the first one), with its own fields (hidden ones, the CSRF token) and
        ``fields`` typed over them, to the form's action."""
        form = page_form(page, action=action, field=field)
        return self.post(form.action or _url_of(page), {**form.fields, **(fields or {})}, **kw)

    # -- signing in ----------------------------------------------------------------------------------

    def sign_in(self, address: str, password: str = PASSWORD, *, start: Any = None,
                remember: bool = False) -> Any:
        """Fill the address page, then the password page, as a person does; returns the response to
        the password POST (a 302 when it was right).

        ``start``: the address page to begin from, a path (``/login?…`` as a protocol sent it) or a
        response already read; by default a GET of ``/login``. Fails the test when the address step
        does not lead to the password page.
        """
        page = start if start is not None and not isinstance(start, str) else self.get(start or "/login")
        step = self.post_form(page, {"email": address}, field="email")
        location = step.headers.get("Location", "")
        assert step.status_code == 302 and urlsplit(location).path == "/login/password", \
            f"the address step answered {step.status_code} {location}: {self.text(step)[:500]}"
        data = {"password": password, **({"remember": "y"} if remember else {})}
        return self.post_form(self.get("/login/password"), data, field="password")

    def signed_in(self) -> bool:
        """Whether /account shows the account (and not the way to sign in)."""
        return self.get("/account").status_code == 200

    def close(self) -> None:
        if self.http is not None:
            self.http.close()


def _url_of(page: Any) -> str:
    """The URL ``page`` was answered from (where a form without an action posts)."""
    request = getattr(page, "request", None)
    return page.url if isinstance(page, requests.Response) else (request.url if request is not None else "/")
