"""ATT07 on the OIDC side: a liste-rouge person's name and email claims; ``supann_liste_rouge`` (CLM03)."""
from __future__ import annotations

import dataclasses

import pytest

from gateway.accounts.models import Account, Email
from gateway.oidc.claims import LISTE_ROUGE_HIDDEN, release
from gateway.oidc.clients import Client, client_from_mapping
from tests.oidc.conftest import sign_in_and_get_tokens

EVERY = ["name", "given_name", "family_name", "email", "email_verified", "eduperson_principal_name",
         "supann_liste_rouge"]
ROUGE = Account(id="r", emails=(Email("r@x.fr", True),), given_name="Ana", family_name="Lopez",
                eppn="ana@x.fr", liste_rouge=True)


def test_att07_withheld_from_a_client_not_authorised():
    client = Client("c", redirect_uris=("https://c.fr/cb",))
    assert release(ROUGE, client, EVERY, "s") == {
        "sub": "s", "eduperson_principal_name": "ana@x.fr", "supann_liste_rouge": True}


def test_att07_released_to_an_authorised_client():
    client = client_from_mapping({"client_id": "c", "redirect_uris": ["https://c.fr/cb"],
                                  "liste_rouge": True})
    released = release(ROUGE, client, EVERY, "s")
    assert LISTE_ROUGE_HIDDEN <= set(released) and released["email"] == "r@x.fr"


def test_att07_a_person_not_on_the_list_is_unchanged():
    released = release(dataclasses.replace(ROUGE, liste_rouge=False), Client("c"), EVERY, "s")
    assert LISTE_ROUGE_HIDDEN <= set(released) and released["supann_liste_rouge"] is False


def test_att07_a_bad_client_flag_is_refused():
    with pytest.raises(ValueError, match="^liste_rouge: expected true or false$"):
        client_from_mapping({"client_id": "c", "liste_rouge": "yes"})


def test_att07_userinfo_of_the_live_gateway(browser, rp, live, account):
    """rp-basic is not authorised: UserInfo keeps sub and the R&E claims, not the name or the address."""
    directory = live.app.extensions["gateway.directory"]
    directory.update(account.id, lambda a: dataclasses.replace(a, liste_rouge=True))
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party, scope="openid profile email supann")
    info = party.userinfo(token).json()
    assert not LISTE_ROUGE_HIDDEN & set(info)
    assert info["supann_liste_rouge"] is True and info["supann_etablissement"] == ["{UAI}0751717J"]
