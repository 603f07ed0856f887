"""Issue 12's new surfaces, attacked over HTTP (real Redis, real SMTP sink): ended links, the forgot page,
"Afficher", the application's name, "Activité récente"."""
from __future__ import annotations

import html

from tests.conftest import Browser
from tests.web.test_code_links import link_parts
from tests.web.test_protection import browser_from

CAMILLE = "camille.martin@univ-exemple.fr"
MASKED = "c***n@univ-exemple.fr"
NEW = "un mot de passe tout neuf"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def spent_sign_in_link(app, mailbox) -> str:
    """The person asks for a code and uses its link: the link now shows "Ce lien n'est plus valable"."""
    person = Browser(app.test_client())
    person.submit("/login", {"email": CAMILLE})
    person.submit("/login/code/send", form_page="/login/password")
    link = mailbox.link(CAMILLE)
    flow, code = link_parts(link)
    assert person.submit("/login/code", {"flow": flow, "code": code}, form_page=link).status_code == 302
    return link


def test_an_old_link_found_on_a_shared_pc_never_shows_the_address_in_clear(app, make_account, mailbox):
    make_account(CAMILLE)
    link = spent_sign_in_link(app, mailbox)
    finder = Browser(app.test_client())  # the next user of the PC, from its history
    ended = finder.client.get(link)
    assert MASKED in text(ended) and CAMILLE not in text(ended)
    flow = link_parts(link)[0]
    sent = finder.submit(f"/login/link/signin/{flow}", form_page=link)
    pages = [finder.client.get(sent.headers["Location"]), finder.client.get("/login/password"),
             finder.client.get("/login/code")]
    for page in pages:
        assert CAMILLE not in text(page), page.request.path
    assert MASKED in text(pages[0])
    new_code = mailbox.code(CAMILLE)  # its owner, on the phone, still signs in with the new code
    assert finder.submit("/login/code", {"code": new_code}).status_code == 302 and finder.signed_in()


def test_an_old_reset_link_never_shows_the_address_in_clear(app, make_account, mailbox):
    make_account(CAMILLE)
    person = Browser(app.test_client())
    person.submit("/login", {"email": CAMILLE})
    person.submit("/login/reset", form_page="/login/password")
    link = mailbox.link(CAMILLE)
    assert person.submit(link, {"password": NEW, "confirm": NEW}).status_code == 302
    finder = Browser(app.test_client())
    sent = finder.submit(f"/login/link/reset/{link.rsplit('/', 1)[1]}", form_page=link)
    assert sent.status_code == 200 and MASKED in text(sent)
    for page in (sent, finder.client.get("/login/password")):
        assert CAMILLE not in text(page)
    assert mailbox.link(CAMILLE) != link  # mailed to its owner, within the mail limits
