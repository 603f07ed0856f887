"""The sign-in issue's "Protection" and "Sessions" sections, tried as an attacker would, over HTTP.

Every test drives the real pages with the Flask test client against the real
Redis and SMTP fixtures, tries the attack or the abuse, and checks it is refused
the way a person (or the attacker) would see it.
"""
from __future__ import annotations

import json
import re
import time
from email.utils import parsedate_to_datetime

import flask
import pytest
from flask.testing import FlaskClient

from gateway.identity.sessions import AUTH, TOUCH_INTERVAL
from gateway.store import key
from tests.identity.conftest import Clock
from tests.conftest import PASSWORD, Browser
from tests.helpers.forms import csrf_token, page_form

EMAIL = "camille@univ-exemple.fr"
COOKIE = "uness_session"
LAST_EMAIL = "uness_last_email"
DEVICE = "uness_device"
EXPIRED = "Page expirée"
#: a refusal: "Trop de tentatives…", or a new code refused while the one sent still works (issue 12)
TOO_MANY = re.compile(
    r"(?:Trop de tentatives\. Réessayez dans|vous pourrez en demander un autre dans) (\d+) minutes?\.")
WRONG = "Mot de passe incorrect."
ATTACKER_IP, OFFICE_IP = "203.0.113.66", "198.51.100.7"


# -- helpers ---------------------------------------------------------------------------------

def set_cookie(response, name: str) -> dict[str, str] | None:
    """The ``Set-Cookie`` of ``name`` in the response as {attribute (lower-case): value}, or None."""
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        cookie_name, _, value = first.partition("=")
        if cookie_name == name:
            parsed = {"": value}
            for attribute in attributes:
                attr, _, attr_value = attribute.partition("=")
                parsed[attr.lower()] = attr_value
            return parsed
    return None


def session_id(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def record(app, sid: str) -> dict | None:
    raw = app.extensions["gateway.store"].redis.get(key("session", sid))
    return None if raw is None else json.loads(raw)


def browser_from(app, ip: str = "127.0.0.1", client_class: type[FlaskClient] | None = None) -> Browser:
    client = (client_class or app.test_client_class or FlaskClient)(app, app.response_class, use_cookies=True)
    client.environ_base["REMOTE_ADDR"] = ip
    return Browser(client)


def too_many_minutes(page: str) -> int:
    found = TOO_MANY.search(page)
    assert found, "no 'Trop de tentatives' message on the page"
    return int(found.group(1))


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    assert found, f"no error on the {field} field"
    return found.group(1)


def mails_to(mailbox, address: str) -> list:
    mailbox.deliver()
    return [m for m in mailbox.smtp.messages if m["To"] == address]


class HttpsClient(FlaskClient):
    """A test client whose requests all arrive over https (like behind the TLS proxy)."""

    def open(self, *args, **kwargs):
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


@pytest.fixture
def https_app(build):
    return build({"insecure_http": False, "public_url": "https://connexion.uness.fr"})


@pytest.fixture
def camille(make_account):
    return make_account(EMAIL)


# == Sessions ==================================================================================

def test_cookie_holds_only_an_opaque_id(browser, camille, app):
    browser.client.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11; Linux) Firefox/128.0"
    response = browser.sign_in(EMAIL)
    assert response.status_code == 302
    cookie = set_cookie(response, COOKIE)
    sid = cookie[""]
    assert sid == session_id(browser.client)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", sid) and len(sid) * 6 >= 128
    for secret in (camille.id, EMAIL, "camille", PASSWORD):
        assert secret not in sid
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(COOKIE + "="):
            assert camille.id not in header and EMAIL not in header
    auth = record(app, sid)[AUTH]
    assert auth["account"] == camille.id
    assert abs(auth["auth_time"] - time.time()) < 60 and auth["last_seen"] == auth["auth_time"]
    assert auth["methods"] == ["pwd"] and auth["remember"] is False
    assert auth["ip"] == "127.0.0.1"
    assert auth["ua"] == "Mozilla/5.0 (X11; Linux) Firefox/128.0"


def test_malformed_or_unknown_cookie_is_never_adopted(app, camille):
    for planted in ("x" * 43, "../../etc/passwd", "camille", "A" * 200):
        browser = browser_from(app)
        browser.client.set_cookie(COOKIE, planted)
        browser.sign_in(EMAIL)
        assert browser.signed_in()
        assert session_id(browser.client) != planted
        assert record(app, planted) is None


def test_session_id_renewed_at_sign_in_against_fixation(app, camille):
    """SEC08: a session id planted before sign-in is worthless after it."""
    attacker = browser_from(app, ATTACKER_IP)
    attacker.client.get("/login")  # the attacker obtains a real, anonymous session...
    planted = session_id(attacker.client)
    assert planted and record(app, planted) is not None

    victim = browser_from(app)
    victim.client.set_cookie(COOKIE, planted)  # ...and plants its id in the victim's browser
    assert victim.submit("/login", {"email": EMAIL}).status_code == 302
    assert session_id(victim.client) == planted  # the planted session was used up to here
    done = victim.submit("/login/password", {"password": PASSWORD})
    assert done.status_code == 302 and set_cookie(done, COOKIE)[""] != planted

    assert victim.signed_in()
    assert session_id(victim.client) != planted
    assert record(app, planted) is None  # the old id is gone from the server...
    assert not attacker.signed_in()  # ...so it authenticates nobody
    assert attacker.client.get("/account").headers["Location"].startswith("/login")


def test_session_id_renewed_at_code_sign_in_too(browser, camille, mailbox):
    browser.submit("/login", {"email": EMAIL})
    before = session_id(browser.client)
    browser.submit("/login/code/send", form_page="/login/password")
    assert browser.submit("/login/code", {"code": mailbox.code(EMAIL)}).status_code == 302
    assert browser.signed_in() and session_id(browser.client) != before


def test_not_remembered_session_ends_after_the_idle_time(browser, camille, app):
    sessions = app.extensions["gateway.sessions"]
    browser.sign_in(EMAIL)
    sid = session_id(browser.client)
    idle = sessions.settings.idle_minutes * 60
    redis_ttl = app.extensions["gateway.store"].redis.ttl(key("session", sid))
    assert idle - 5 <= redis_ttl <= idle  # Redis drops it after the idle time without requests
    clock = Clock()
    sessions.clock = clock
    clock.advance(idle - 600)
    assert browser.signed_in()  # a request 7 h 50 later: still there, idle counted again from now
    clock.advance(idle + TOUCH_INTERVAL + 1)
    assert not browser.signed_in()
    assert record(app, sid) is None


def test_absolute_timeout_even_when_active(browser, camille, app):
    sessions = app.extensions["gateway.sessions"]
    clock = Clock()
    sessions.clock = clock
    browser.sign_in(EMAIL)
    sid = session_id(browser.client)
    start = clock()
    absolute = sessions.settings.absolute_minutes * 60
    for hours in (3, 6, 9, 11):
        clock.now = start + hours * 3600
        assert browser.signed_in(), hours
    clock.now = start + absolute - 600
    assert browser.signed_in()
    assert app.extensions["gateway.store"].redis.ttl(key("session", sid)) <= 600
    clock.now = start + absolute + 1
    response = browser.client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert record(app, sid) is None


def test_remember_me_cookie_lasts_30_days(browser, camille, app):
    response = browser.sign_in(EMAIL, remember=True)
    cookie = set_cookie(response, COOKIE)
    days = app.extensions["gateway.settings"].sessions.remember_days * 86400
    assert days - 60 <= int(cookie["max-age"]) <= days
    expires = parsedate_to_datetime(cookie["expires"]).timestamp()
    assert abs(expires - (time.time() + days)) < 120
    assert record(app, cookie[""])[AUTH]["remember"] is True


def test_without_remember_me_the_cookie_ends_with_the_browser(browser, camille):
    response = browser.sign_in(EMAIL, remember=False)
    cookie = set_cookie(response, COOKIE)
    assert cookie is not None
    assert "max-age" not in cookie and "expires" not in cookie


def test_every_session_of_an_account_can_be_ended_at_once(app, camille, make_account):
    make_account("dominique@univ-exemple.fr")
    laptop, phone, other = browser_from(app), browser_from(app, OFFICE_IP), browser_from(app)
    laptop.sign_in(EMAIL)
    phone.sign_in(EMAIL, remember=True)
    other.sign_in("dominique@univ-exemple.fr")
    assert laptop.signed_in() and phone.signed_in()
    with app.app_context():
        ended = app.extensions["gateway.sessions"].end_all(camille.id)
    assert {sid for sid, _ in ended} == {session_id(laptop.client), session_id(phone.client)}
    assert not laptop.signed_in() and not phone.signed_in()
    assert other.signed_in()


def test_logout_while_a_request_is_in_flight_does_not_resurrect_the_session(browser, camille, app):
    browser.sign_in(EMAIL)
    sid = session_id(browser.client)
    interface = app.session_interface
    with app.test_request_context("/account", headers={"Cookie": f"{COOKIE}={sid}"}):
        slow = interface.open_session(app, flask.request)  # a slow request has read the session
    assert slow.get(AUTH)
    browser.submit("/logout", form_page="/logout")  # the person logs out meanwhile
    assert record(app, sid) is None
    with app.test_request_context("/account", headers={"Cookie": f"{COOKIE}={sid}"}):
        slow["notice"] = "written at the end of the slow request"
        response = app.response_class("")
        interface.save_session(app, slow, response)
    assert record(app, sid) is None  # the slow request's write did not bring it back
    cookie = set_cookie(response, COOKIE)
    assert cookie is not None and cookie[""] == ""  # and its browser is told to drop the cookie
    browser.client.set_cookie(COOKIE, sid)
    assert not browser.signed_in()


def test_logout_ends_the_session_on_the_server(browser, camille, app):
    browser.sign_in(EMAIL)
    sid = session_id(browser.client)
    response = browser.submit("/logout", form_page="/logout")
    assert response.status_code == 302 and "logged_out" in response.headers["Location"]
    assert record(app, sid) is None
    replay = browser_from(app)
    replay.client.set_cookie(COOKIE, sid)  # a copy of the old cookie is worth nothing
    assert not replay.signed_in()


# == Cookies ===================================================================================

def test_cookies_are_httponly_and_samesite_lax(browser, camille):
    response = browser.sign_in(EMAIL, remember=True)  # the last address is kept only then
    for name in (COOKIE, LAST_EMAIL, DEVICE):
        cookie = set_cookie(response, name)
        assert cookie is not None, name
        assert "httponly" in cookie, name
        assert cookie.get("samesite") == "Lax", name
        assert "secure" not in cookie, name  # the test config is insecure_http (plain-http localhost)
    anonymous = browser_from(browser.client.application).client.get("/login")
    cookie = set_cookie(anonymous, COOKIE)
    assert cookie and "httponly" in cookie and cookie.get("samesite") == "Lax"


def test_cookies_are_secure_unless_insecure_http(https_app, camille):
    browser = browser_from(https_app, client_class=HttpsClient)
    first = browser.client.get("/login")
    assert "secure" in set_cookie(first, COOKIE)
    response = browser.sign_in(EMAIL, remember=True)
    assert response.status_code == 302
    for name in (COOKIE, LAST_EMAIL, DEVICE):
        cookie = set_cookie(response, name)
        assert {"secure", "httponly"} <= set(cookie) and cookie["samesite"] == "Lax", name
    assert int(set_cookie(response, DEVICE)["max-age"]) >= 365 * 86400  # long-lived
    assert browser.signed_in()


# == Security headers ==========================================================================

def check_page_headers(response) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    if response.mimetype == "text/html":
        assert headers["Cache-Control"] == "no-store"


def test_security_headers_on_pages(browser, camille, client):
    pages = [client.get("/login"), client.get("/login?lang=en"), client.get("/no-such-page"),
             client.post("/login", data={"email": EMAIL})]  # the CSRF error page too
    browser.submit("/login", {"email": EMAIL})
    pages.append(client.get("/login/password"))
    pages.append(browser.submit("/login/password", {"password": "wrong"}))
    browser.sign_in(EMAIL)
    pages += [client.get("/account"), client.get("/logout")]
    for response in pages:
        assert response.mimetype == "text/html", response.request.path
        check_page_headers(response)
        assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS


def test_security_headers_on_json_answers_each_once_and_the_views_own_kept(client):
    """What relying parties and probes read gets the fixed headers too, each once; no ``no-store`` on JSON,
    and the JWKS keeps the Cache-Control its view set."""
    jwks, health = client.get("/oidc/jwks"), client.get("/healthz")
    for response in (jwks, health):
        assert response.status_code == 200 and response.mimetype == "application/json"
        check_page_headers(response)
        for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                     "Permissions-Policy"):
            assert len(response.headers.getlist(name)) == 1, name
    assert jwks.headers.getlist("Cache-Control") == ["public, max-age=3600"]
    assert "Cache-Control" not in health.headers and "Strict-Transport-Security" not in health.headers


def test_redirects_are_not_cached_either(browser, camille):
    response = browser.sign_in(EMAIL)
    assert response.status_code == 302
    check_page_headers(response)


def test_hsts_only_under_https(https_app, camille):
    browser = browser_from(https_app, client_class=HttpsClient)
    for response in (browser.client.get("/login"), browser.sign_in(EMAIL), browser.client.get("/account")):
        check_page_headers(response)
        hsts = response.headers["Strict-Transport-Security"]
        assert "max-age=31536000" in hsts


# == CSRF ======================================================================================

def assert_expired(response) -> None:
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert EXPIRED in page and "Rechargez-la et recommencez" in page


def test_address_step_without_or_with_a_wrong_token(browser, client, camille):
    client.get("/login")
    assert_expired(client.post("/login", data={"email": EMAIL}))
    assert_expired(client.post("/login", data={"email": EMAIL, "csrf_token": "forged"}))
    other = browser_from(browser.client.application)
    stolen = csrf_token(other.client.get("/login"))  # a valid token, but of another session
    assert_expired(client.post("/login", data={"email": EMAIL, "csrf_token": stolen}))
    assert client.get("/login/password").headers["Location"].startswith("/login")  # nothing was done


def test_password_step_without_or_with_a_wrong_token(browser, client, camille):
    browser.submit("/login", {"email": EMAIL})
    assert_expired(client.post("/login/password", data={"password": PASSWORD}))
    assert_expired(client.post("/login/password", data={"password": PASSWORD, "csrf_token": "x" * 40}))
    assert not browser.signed_in()


def test_forged_logout_does_nothing(browser, client, camille, app):
    browser.sign_in(EMAIL)
    assert_expired(client.post("/logout"))
    assert_expired(client.post("/logout", data={"csrf_token": "forged"}))
    other = browser_from(app)
    other.sign_in(EMAIL)
    assert_expired(client.post("/logout", data={"csrf_token": csrf_token(other.client.get("/logout"))}))
    assert browser.signed_in() and other.signed_in()


def test_get_logout_only_asks_for_confirmation(browser, client, camille):
    browser.sign_in(EMAIL)
    page = client.get("/logout")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Se déconnecter ?" in text and 'method="post"' in text
    assert browser.signed_in()
    assert client.get("/logout", follow_redirects=True).status_code == 200
    assert browser.signed_in()


def test_code_step_without_or_with_a_wrong_token(browser, client, camille, mailbox):
    browser.submit("/login", {"email": EMAIL})
    browser.submit("/login/code/send", form_page="/login/password")
    code = mailbox.code(EMAIL)
    flow = page_form(client.get("/login/code"), field="flow").fields["flow"]
    assert_expired(client.post("/login/code", data={"code": code, "flow": flow}))
    assert_expired(client.post("/login/code", data={"code": code, "flow": flow, "csrf_token": "forged"}))
    assert not browser.signed_in()
    # the forged posts spent nothing: the code still works through the real form
    assert browser.submit("/login/code", {"code": code}).status_code == 302 and browser.signed_in()


def test_forged_mail_buttons_send_nothing(browser, client, camille, mailbox):
    browser.submit("/login", {"email": EMAIL})
    assert_expired(client.post("/login/code/send"))
    assert_expired(client.post("/login/reset"))
    assert mails_to(mailbox, EMAIL) == []


def another_sessions_token(app) -> str:
    """A valid CSRF token, of the attacker's own session."""
    return csrf_token(browser_from(app, ATTACKER_IP).client.get("/login"))


def refused_then_retyped(browser, app, page, weak: dict, strong: dict):
    """``page``'s form POSTed with ``strong`` and another session's valid token (refused: "Page expirée",
    nothing spent or changed: the rest goes on), then as the person fills it, with ``weak`` (the page
    comes back with its error), then from that page, with ``strong``: the token the re-rendered page
    carries is the one that works. The last answer."""
    assert_expired(browser.post_form(page, {**strong, "csrf_token": another_sessions_token(app)},
                                     field="password"))
    again = browser.post_form(page, weak, field="password")
    assert again.status_code == 200 and "Au moins 12 caractères." in browser.text(again)
    return browser.post_form(again, strong, field="password")


WEAK, STRONG = {"password": "court", "confirm": "court"}, {"password": "une phrase de passe assez longue",
                                                          "confirm": "une phrase de passe assez longue"}


def test_reset_form_refuses_another_sessions_token_and_its_error_page_carries_one(browser, app, camille,
                                                                                  mailbox):
    """The forms whose CSRF token is made when rendered (forms.RevealableForm): reset."""
    browser.submit("/login", {"email": EMAIL})
    browser.submit("/login/reset", form_page="/login/password")
    link = mailbox.link(EMAIL)
    done = refused_then_retyped(browser, app, browser.get(link), WEAK, STRONG)
    assert done.status_code == 302 and browser.signed_in()


def test_activation_form_refuses_another_sessions_token_and_its_error_page_carries_one(browser, app,
                                                                                       make_account, mailbox):
    make_account("interne@chu-exemple.fr", status="provisioned", verified=False)
    browser.submit("/login", {"email": "interne@chu-exemple.fr"})
    browser.submit("/login/code/send", form_page="/login/activate")
    code = {"code": mailbox.code("interne@chu-exemple.fr")}
    done = refused_then_retyped(browser, app, browser.get("/login/activate"), {**WEAK, **code},
                                {**STRONG, **code})
    assert done.status_code == 302 and browser.signed_in()


def test_change_password_form_refuses_another_sessions_token_and_its_error_page_carries_one(browser, app,
                                                                                           camille):
    browser.sign_in(EMAIL)
    current = {"current": PASSWORD}
    done = refused_then_retyped(browser, app, browser.get("/account"), {**WEAK, **current},
                                {**STRONG, **current})
    assert done.status_code == 302 and browser.signed_in()
    assert app.extensions["gateway.passwords"].verify(
        app.extensions["gateway.directory"].get(camille.id).password_hash, STRONG["password"])


# == Rate limits ===============================================================================

def test_address_step_limited_per_typed_address_and_client(build, camille):
    app = build({"limits": {"address_per_address_client": "3/minute"}})
    for _ in range(3):
        assert browser_from(app, ATTACKER_IP).submit("/login", {"email": EMAIL}).status_code == 302
    late = browser_from(app, ATTACKER_IP)
    page = late.submit("/login", {"email": EMAIL})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert too_many_minutes(field_error(text, "email")) == 1
    assert late.client.get("/login/password").status_code == 302  # refused: nothing chosen
    # another address from the same place is not affected, nor the same address from elsewhere
    assert "Adresse email non reconnue" in late.submit("/login", {"email": "autre@univ-exemple.fr"}).get_data(
        as_text=True)
    assert browser_from(app, OFFICE_IP).submit("/login", {"email": EMAIL}).status_code == 302


def test_address_limit_counts_every_spelling_of_the_address(build, camille):
    app = build({"limits": {"address_per_address_client": "3/minute"}})
    spellings = ["Camille@Univ-Exemple.FR", "camille@univ-exemple.fr.", " camille@ｕniv-exemple.fr ",
                 "camille@univ-exemple.ｆｒ"]
    for spelling in spellings[:3]:
        assert browser_from(app, OFFICE_IP).submit("/login", {"email": spelling}).status_code == 302
    page = browser_from(app, OFFICE_IP).submit("/login", {"email": spellings[3]}).get_data(as_text=True)
    assert too_many_minutes(field_error(page, "email")) == 1


def test_unknown_addresses_limited_per_client_address(build, camille):
    app = build({"limits": {"unknown_per_client": "3/minute"}})
    prober = browser_from(app, ATTACKER_IP)
    for n in range(3):
        page = prober.submit("/login", {"email": f"essai{n}@univ-exemple.fr"}).get_data(as_text=True)
        assert "Adresse email non reconnue" in page
    page = prober.submit("/login", {"email": "essai9@univ-exemple.fr"}).get_data(as_text=True)
    assert too_many_minutes(field_error(page, "email")) == 1
    assert "Adresse email non reconnue" not in page  # refused before the directory is asked
    elsewhere = browser_from(app, OFFICE_IP).submit("/login", {"email": "essai9@univ-exemple.fr"})
    assert "Adresse email non reconnue" in elsewhere.get_data(as_text=True)


def test_every_address_step_limited_per_client_address(build, camille):
    app = build({"limits": {"address_per_client": "3/minute"}})
    prober = browser_from(app, ATTACKER_IP)
    for _ in range(3):  # known addresses count too, against a (much higher) ceiling
        assert prober.submit("/login", {"email": EMAIL}).status_code == 302
    page = prober.submit("/login", {"email": EMAIL}).get_data(as_text=True)
    assert too_many_minutes(field_error(page, "email")) == 1
    assert browser_from(app, OFFICE_IP).submit("/login", {"email": EMAIL}).status_code == 302


def test_sign_in_code_mails_limited_per_address_and_client(build, camille, mailbox):
    app = build({"limits": {"mail_per_address_client": "2/10minute"}})
    browser = browser_from(app)
    browser.submit("/login", {"email": EMAIL})
    for _ in range(2):
        browser.submit("/login/code/send", form_page="/login/password")
    refused = browser.submit("/login/code/send", form_page="/login/password")
    assert refused.headers["Location"].endswith("/login/code")
    page = browser.client.get("/login/code").get_data(as_text=True)
    assert 1 <= too_many_minutes(page) <= 10
    assert len(mails_to(mailbox, EMAIL)) == 2
    # another browser of the same client is refused too; another client is not
    same = browser_from(app)
    same.submit("/login", {"email": EMAIL})
    same.submit("/login/code/send", form_page="/login/password")
    assert too_many_minutes(same.client.get("/login/code").get_data(as_text=True)) >= 1
    assert len(mails_to(mailbox, EMAIL)) == 2
    other = browser_from(app, OFFICE_IP)
    other.submit("/login", {"email": EMAIL})
    other.submit("/login/code/send", form_page="/login/password")
    assert not TOO_MANY.search(other.client.get("/login/code").get_data(as_text=True))
    assert len(mails_to(mailbox, EMAIL)) == 3


def test_reset_mails_limited_per_address_and_client(build, camille, mailbox):
    app = build({"limits": {"mail_per_address_client": "2/10minute"}})
    browser = browser_from(app)
    browser.submit("/login", {"email": EMAIL})
    for _ in range(2):
        page = browser.submit("/login/reset", form_page="/login/password").get_data(as_text=True)
        assert not TOO_MANY.search(page)
    page = browser.submit("/login/reset", form_page="/login/password").get_data(as_text=True)
    assert 1 <= too_many_minutes(page) <= 10
    assert len(mails_to(mailbox, EMAIL)) == 2


def test_unverified_address_code_limited_on_its_button_not_the_address_step(build, make_account, mailbox):
    """The address step mails nothing (so it spends no mail quota); the button does, within the limit."""
    address = "interne@chu-exemple.fr"
    make_account(address, verified=False)
    app = build({"limits": {"mail_per_address": "1/10minute"}})
    first = browser_from(app)
    assert first.submit("/login", {"email": address}).headers["Location"].endswith("/login/password")
    assert mails_to(mailbox, address) == []
    first.submit("/login/code/send", form_page="/login/password")
    second = browser_from(app)
    assert second.submit("/login", {"email": address}).headers["Location"].endswith("/login/password")
    refused = second.submit("/login/code/send", form_page="/login/password")
    assert refused.headers["Location"].endswith("/login/code")
    assert too_many_minutes(second.client.get("/login/code").get_data(as_text=True)) >= 1
    assert len(mails_to(mailbox, address)) == 1


def test_limits_off_when_disabled(build, camille, mailbox):
    app = build({"limits": {"enabled": False, "address_per_address_client": "1/minute",
                            "address_per_client": "1/minute",
                            "mail_per_address": "1/10minute", "mail_per_client": "1/hour",
                            "password_per_client": "1/minute"}})
    browser = browser_from(app)
    for _ in range(4):
        assert browser.submit("/login", {"email": EMAIL}).status_code == 302
    for _ in range(3):
        browser.submit("/login/code/send", form_page="/login/password")
        assert not TOO_MANY.search(browser.client.get("/login/code").get_data(as_text=True))
    assert len(mails_to(mailbox, EMAIL)) == 3
    assert WRONG in browser.submit("/login/password", {"password": "nope"}).get_data(as_text=True)
    assert browser.submit("/login/password", {"password": PASSWORD}).status_code == 302


# == Growing delays ============================================================================

class CountingHasher:
    """Wraps the argon2 hasher, recording every verify (hash used, password tried)."""

    def __init__(self, hasher) -> None:
        self.hasher = hasher
        self.verified: list[tuple[str, str]] = []

    def verify(self, password_hash, password):
        self.verified.append((password_hash, password))
        return self.hasher.verify(password_hash, password)

    def __getattr__(self, name):
        return getattr(self.hasher, name)


@pytest.fixture
def delayed_app(build, monkeypatch):
    """throttle_pair 3; the throttle's clock is frozen (moved by the test); verifies are counted."""
    app = build({"limits": {"throttle_pair": 3}})
    clock = Clock()
    app.extensions["gateway.throttle"].clock = clock
    passwords = app.extensions["gateway.passwords"]
    monkeypatch.setattr(passwords, "hasher", CountingHasher(passwords.hasher))
    app.clock = clock
    return app


def test_delay_after_wrong_passwords_refuses_even_the_right_one_unchecked(delayed_app, camille):
    attacker = browser_from(delayed_app, ATTACKER_IP)
    hasher = delayed_app.extensions["gateway.passwords"].hasher
    for n in range(3):
        page = attacker.sign_in(EMAIL, f"guess number {n}").get_data(as_text=True)
        assert WRONG in field_error(page, "password")
    assert len(hasher.verified) == 3
    for password in ("guess number 4", PASSWORD):  # during the delay, nothing is checked
        response = attacker.submit("/login/password", {"password": password})
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert too_many_minutes(field_error(page, "password")) == 1
        assert WRONG not in page  # the attacker learns nothing about the password tried
    assert len(hasher.verified) == 3
    assert not attacker.signed_in()


def test_delay_doubles_with_each_failure(delayed_app, camille):
    throttle, clock = delayed_app.extensions["gateway.throttle"], delayed_app.clock
    attacker = browser_from(delayed_app, ATTACKER_IP)
    attacker.submit("/login", {"email": EMAIL})
    for n in range(3):
        attacker.submit("/login/password", {"password": f"guess {n}"})
    waits = []
    for n in range(7):
        wait = throttle.wait_seconds(camille.id, ATTACKER_IP)
        waits.append(wait)
        clock.advance(wait)
        page = attacker.submit("/login/password", {"password": f"again {n}"}).get_data(as_text=True)
        assert WRONG in page  # once the delay is over, the try is checked (and fails)
    assert waits == [1, 2, 4, 8, 16, 32, 64]
    # the person sees the wait grow: 128 s now
    page = attacker.submit("/login/password", {"password": PASSWORD}).get_data(as_text=True)
    assert too_many_minutes(page) == 3
    clock.advance(100)
    page = attacker.submit("/login/password", {"password": PASSWORD}).get_data(as_text=True)
    assert too_many_minutes(page) == 1


def test_delay_is_capped_no_permanent_lockout(build, camille):
    app = build({"limits": {"throttle_pair": 3, "throttle_max_delay": 900}})
    clock = Clock()
    throttle = app.extensions["gateway.throttle"]
    throttle.clock = clock
    for _ in range(30):
        throttle.failed(camille.id, ATTACKER_IP)
    attacker = browser_from(app, ATTACKER_IP)
    page = attacker.sign_in(EMAIL, PASSWORD).get_data(as_text=True)
    assert too_many_minutes(page) == 15  # throttle_max_delay, never more
    clock.advance(900)
    assert attacker.submit("/login/password", {"password": PASSWORD}).status_code == 302
    assert attacker.signed_in()


def test_another_client_is_not_delayed_by_the_pair_counter(delayed_app, camille):
    attacker = browser_from(delayed_app, ATTACKER_IP)
    for n in range(4):
        attacker.sign_in(EMAIL, f"guess {n}")
    assert TOO_MANY.search(attacker.submit("/login/password", {"password": "x"}).get_data(as_text=True))
    office = browser_from(delayed_app, OFFICE_IP)
    page = office.sign_in(EMAIL, "a typo").get_data(as_text=True)
    assert WRONG in page and not TOO_MANY.search(page)
    assert office.submit("/login/password", {"password": PASSWORD}).status_code == 302
    assert office.signed_in()
    # the attacker's own delay is not lifted by the owner's sign-in elsewhere
    assert TOO_MANY.search(attacker.submit("/login/password", {"password": PASSWORD}).get_data(as_text=True))


def test_after_the_delay_the_right_password_works_and_clears_the_counters(delayed_app, camille):
    throttle, clock = delayed_app.extensions["gateway.throttle"], delayed_app.clock
    redis = delayed_app.extensions["gateway.store"].redis
    person = browser_from(delayed_app)
    for n in range(3):
        person.sign_in(EMAIL, f"forgot it {n}")
    wait = throttle.wait_seconds(camille.id, "127.0.0.1")
    assert wait > 0
    clock.advance(wait)
    assert person.submit("/login/password", {"password": PASSWORD}).status_code == 302
    assert person.signed_in()
    assert not redis.exists(key("throttle", "pair", camille.id, "127.0.0.1"))
    assert not redis.exists(key("throttle", "account", camille.id))
    person.submit("/logout", form_page="/logout")
    for n in range(2):  # counting starts again from zero
        page = person.sign_in(EMAIL, f"typo {n}").get_data(as_text=True)
        assert WRONG in page and not TOO_MANY.search(page)
    assert person.submit("/login/password", {"password": PASSWORD}).status_code == 302


def test_emailed_code_still_works_while_the_password_is_delayed(delayed_app, camille, mailbox):
    person = browser_from(delayed_app, ATTACKER_IP)
    for n in range(4):
        person.sign_in(EMAIL, f"forgot it {n}")
    assert TOO_MANY.search(person.submit("/login/password", {"password": PASSWORD}).get_data(as_text=True))
    sent = person.submit("/login/code/send", form_page="/login/password")
    assert sent.headers["Location"].endswith("/login/code")
    done = person.submit("/login/code", {"code": mailbox.code(EMAIL)})
    assert done.status_code == 302 and person.signed_in()
    # and the code sign-in cleared the account's counters
    throttle = delayed_app.extensions["gateway.throttle"]
    assert throttle.wait_seconds(camille.id, ATTACKER_IP) == 0


# == Timing ====================================================================================

def test_verify_without_a_hash_runs_a_full_argon2_verify(app, monkeypatch):
    passwords = app.extensions["gateway.passwords"]
    counting = CountingHasher(passwords.hasher)
    monkeypatch.setattr(passwords, "hasher", counting)
    assert passwords.verify("", PASSWORD) is False
    assert passwords.verify("", "") is False
    assert [h for h, _ in counting.verified] == [passwords._dummy_hash] * 2
    real = passwords.hash(PASSWORD)
    # the dummy hash has the configured cost parameters, so it costs what a real one costs
    assert passwords._dummy_hash.rsplit("$", 2)[0] == real.rsplit("$", 2)[0]
    assert passwords._dummy_hash.startswith("$argon2id$")
    assert passwords.verify(real, PASSWORD) is True and passwords.verify(real, "nope") is False
    assert len(counting.verified) == 4


def test_password_step_for_an_account_without_password_still_verifies(app, make_account, monkeypatch,
                                                                      mailbox):
    passwords = app.extensions["gateway.passwords"]
    counting = CountingHasher(passwords.hasher)
    monkeypatch.setattr(passwords, "hasher", counting)
    make_account("sans-mdp@univ-exemple.fr", password=None)  # active, no password set
    browser = browser_from(app)
    browser.submit("/login", {"email": "sans-mdp@univ-exemple.fr"})
    page = browser.submit("/login/password", {"password": PASSWORD}).get_data(as_text=True)
    assert WRONG in page
    assert counting.verified == [(passwords._dummy_hash, PASSWORD)]  # a full argon2 verify all the same
    assert not browser.signed_in()


def test_crafted_password_post_for_a_provisioned_account(app, make_account, monkeypatch, mailbox):
    passwords = app.extensions["gateway.passwords"]
    counting = CountingHasher(passwords.hasher)
    monkeypatch.setattr(passwords, "hasher", counting)
    make_account("nouveau@chu-exemple.fr", status="provisioned", password=None, verified=False)
    browser = browser_from(app)
    browser.submit("/login", {"email": "nouveau@chu-exemple.fr"})  # leads to activation, not to a password
    token = csrf_token(browser.client.get("/login/activate"))  # the session's token, taken from another form
    response = browser.client.post("/login/password", data={"csrf_token": token, "password": PASSWORD})
    assert response.status_code in (200, 302)
    # refused outright, or checked against the dummy hash: never signed in, never a cheap answer
    assert all(h == passwords._dummy_hash for h, _ in counting.verified)
    if response.status_code == 200:
        assert WRONG in response.get_data(as_text=True) and len(counting.verified) == 1
    assert not browser.signed_in()


def test_typing_codes_is_rate_limited_per_client(make_mail_app, mail_config, make_account, mailbox):
    """Guessing codes across many flows from one client hits code_per_client."""
    app = make_mail_app({**mail_config, "limits": {"code_per_client": "3/minute"}})
    make_account("c@univ-exemple.fr", account_id="c1", password="x" * 20)
    browser = Browser(app.test_client())
    browser.submit("/login", {"email": "c@univ-exemple.fr"})
    browser.submit("/login/code/send", form_page="/login/password")
    texts = [browser.submit("/login/code", {"code": "000000"}).get_data(as_text=True) for _ in range(4)]
    assert "Trop de tentatives" not in texts[2]
    assert "Trop de tentatives. Réessayez dans" in texts[3]
