""""Activité récente" attacked over HTTP (real Redis): flooded by someone else, User-Agent as markup."""
from __future__ import annotations

import html

from tests.conftest import PASSWORD
from tests.web.test_protection import browser_from

EMAIL = "camille@univ-exemple.fr"
HOME_IP = "192.0.2.80"
THIEF_IP = "203.0.113.66"


def activity(page) -> str:
    text = page.get_data(as_text=True)
    return text[text.index('id="activite"'):]


def test_refusals_cannot_flood_a_persons_recent_activity(app, make_account):
    """A thief signs in with a stolen password, then hammers the address to push his sign-in out of
    the owner's "Activité récente": every refused try counts, few are kept."""
    make_account(EMAIL)
    thief = browser_from(app, THIEF_IP)
    assert thief.sign_in(EMAIL, PASSWORD).status_code == 302
    hammer = browser_from(app, "198.51.100.23")
    page = hammer.get("/login")
    for _ in range(60):  # limits.address_per_address_client: 10 a minute, then refused, each audited
        hammer.post_form(page, {"email": EMAIL}, field="email")
    person = browser_from(app, HOME_IP)
    assert person.sign_in(EMAIL, PASSWORD).status_code == 302
    shown = activity(person.get("/account"))
    assert THIEF_IP in shown  # the thief's sign-in still shows
    assert shown.count("198.51.100.23") <= 1


def test_a_user_agent_is_text_on_the_activity_page(app, make_account):
    make_account(EMAIL)
    attacker = browser_from(app, THIEF_IP)
    attacker.client.environ_base["HTTP_USER_AGENT"] = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    attacker.sign_in(EMAIL, "pas le bon mot de passe")
    person = browser_from(app, HOME_IP)
    assert person.sign_in(EMAIL, PASSWORD).status_code == 302
    shown = activity(person.get("/account"))
    assert THIEF_IP in shown
    assert "<script>alert(1)" not in shown and "<img src=x" not in shown
