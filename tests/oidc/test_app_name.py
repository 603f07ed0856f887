"""The sign-in pages name the OIDC client the person is going to: its client_name (issue 12 §1)."""
from __future__ import annotations

from html import unescape
from urllib.parse import urljoin, urlsplit

from tests.oidc.conftest import EMAIL


def test_sign_in_pages_and_the_expired_page_name_the_client(live, account, browser, rp):
    attempt = rp("rp-basic").authorization()
    sent = browser.get(attempt.url)
    assert sent.status_code == 302 and urlsplit(sent.headers["Location"]).path == "/login"
    page = browser.get(sent.headers["Location"])
    assert "Vous vous connectez à « rp-basic »" in unescape(page.text)
    step = browser.submit("/login", {"email": EMAIL}, page=page)
    password_page = browser.get(step.headers["Location"])
    assert "Vous vous connectez à « rp-basic »" in unescape(password_page.text)
    done = browser.submit("/login/password", {"password": "correct horse battery staple"}, page=password_page)
    resume = urljoin(live.url, done.headers["Location"])
    assert urlsplit(resume).path.startswith("/oidc/authorize/")
    assert browser.get(resume).status_code == 200  # on to the client (the continue page)
    again = browser.get(resume)  # the way back, used twice
    assert again.status_code == 400 and "« rp-basic »" in unescape(again.text)


def test_the_name_in_english_pages_too(live, account, browser, rp):
    attempt = rp("rp-post").authorization()
    sent = browser.get(attempt.url)
    page = browser.get(sent.headers["Location"], headers={"Accept-Language": "en"})
    assert "You are signing in to “rp-post”" in page.text
