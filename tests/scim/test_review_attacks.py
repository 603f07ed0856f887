"""Internationalised addresses through SCIM, attacked: a second account for the same address spelt in
another Unicode form, and header injection through an address or a display name."""
from __future__ import annotations

import unicodedata

import pytest

from tests.scim.conftest import assert_error

ELODIE = "élodie.bernard@ars.sante.fr"


def test_an_address_in_another_unicode_form_is_the_same_address(scim):
    scim.create(ELODIE, emails=[ELODIE])
    decomposed = unicodedata.normalize("NFD", ELODIE).upper()
    assert decomposed != ELODIE
    assert_error(scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                      "userName": decomposed, "emails": [{"value": decomposed}]}),
                 409, "uniqueness")


@pytest.mark.parametrize("address", [
    "elodie@ars.sante.fr\r\nBcc: victime@example.org",
    "elodie\r\n@ars.sante.fr",
    "=?utf-8?q?elodie=0D=0ABcc:_x@y.fr?=@ars.sante.fr",
    "Élodie <elodie@ars.sante.fr>",
])
def test_an_address_carrying_headers_is_refused(scim, address):
    response = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                    "userName": address, "emails": [{"value": address}]})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["scimType"] == "invalidValue"
