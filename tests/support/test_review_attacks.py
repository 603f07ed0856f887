""""Activité récente" and the support API attacked over HTTP (real Redis, real SMTP sink): the history
flooded by someone else, a User-Agent as markup, addresses in other spellings, support codes misused."""
from __future__ import annotations

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


# -- the support API and its codes ------------------------------------------------------------------

def test_the_support_api_finds_the_account_by_any_spelling_and_nothing_else(app, make_account, audit_events):
    from unicodedata import normalize

    from tests.support.conftest import HELPDESK

    make_account("élodie.bernard@ars.sante.fr", account_id="elodie", display_name="Élodie Bernard")
    make_account("dominique@univ-exemple.fr")
    api = app.test_client()
    for spelling in ("  Élodie.Bernard@ARS.sante.fr ", normalize("NFD", "élodie.bernard@ars.sante.fr")):
        found = api.get("/support/v1/diagnose", query_string={"address": spelling}, headers=HELPDESK)
        assert found.status_code == 200 and found.get_json()["address"] == "élodie.bernard@ars.sante.fr"
    for other in ("elodie.bernard@ars.sante.fr", "élodie.bernard+x@ars.sante.fr",
                  "élodie.bernard@ars.sante.fr\r\nX: y", "ｅlodie.bernard@ars.sante.fr",
                  ["élodie.bernard@ars.sante.fr"]):
        answer = api.post("/support/v1/code", json={"address": other, "operator": "Ana"}, headers=HELPDESK)
        assert answer.status_code in (400, 404), other
    answer = api.get("/support/v1/diagnose", query_string={"address": "élodie.bernard@ars.sante.fr"},
                     headers=HELPDESK).get_data(as_text=True)
    assert "dominique" not in answer and "$argon2" not in answer and "password_hash" not in answer
    assert all("élodie" not in str(vars(r)) and "ars.sante.fr" not in str(getattr(r, "msg", ""))
               for r in audit_events)  # audit lines carry hashes, never the address


def test_a_support_code_voids_the_mailed_one_and_does_not_open_a_disabled_account(app, make_account, mailbox):
    from tests.support.test_api import give_code

    camille = make_account(EMAIL)
    person = browser_from(app, HOME_IP)
    person.submit("/login", {"email": EMAIL})
    person.submit("/login/code/send", form_page="/login/password")
    mailed = mailbox.code(EMAIL)
    given = give_code(app.test_client())
    assert not person.submit("/login/code", {"code": mailed}).status_code == 302  # void now
    holder = browser_from(app, THIEF_IP)  # took the support code's flow, then the account is disabled
    assert holder.submit("/login", {"email": EMAIL}).headers["Location"].endswith("/login/code")
    app.extensions["gateway.directory"].disable(camille.id)
    refused = holder.submit("/login/code", {"code": given})
    assert refused.status_code == 200 and "plus valable" in refused.get_data(as_text=True)
    assert not holder.signed_in() and not person.signed_in()
    assert "désactivé" in browser_from(app).submit("/login", {"email": EMAIL}).get_data(as_text=True)


def test_a_support_code_gets_five_guesses_whatever_the_number_of_browsers(app, make_account):
    from tests.support.test_api import give_code

    make_account(EMAIL)
    given = give_code(app.test_client())
    wrong = f"{(int(given) + 1) % 1_000_000:06d}"
    for n in range(5):  # five browsers, one wrong guess each (codes.signin_code_attempts: 5)
        guesser = browser_from(app, f"203.0.113.{n + 1}")
        assert guesser.submit("/login", {"email": EMAIL}).headers["Location"].endswith("/login/code")
        guesser.submit("/login/code", {"code": wrong})
    late = browser_from(app, "203.0.113.99")
    assert late.submit("/login", {"email": EMAIL}).headers["Location"].endswith("/login/password")
    person = browser_from(app, HOME_IP)
    person.submit("/login", {"email": EMAIL})
    person.submit("/login/code", {"code": given, "flow": ""}, form_page="/login/password")
    assert not person.signed_in() and not late.signed_in()
