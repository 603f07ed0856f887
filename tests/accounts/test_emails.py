"""Address normalisation: trim, lower-case, IDNA domain; bad input refused clearly."""
from __future__ import annotations

import pytest

from gateway.accounts.emails import normalize_email
from gateway.accounts.errors import InvalidEmail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jean.Dupont@Univ-Exemple.FR ", "jean.dupont@univ-exemple.fr"),
        ("camille@Université.fr", "camille@xn--universit-j4a.fr"),
        ("camille@xn--universit-j4a.fr", "camille@xn--universit-j4a.fr"),
        ("DR.MARTIN@CHU-LILLE.FR", "dr.martin@chu-lille.fr"),
        ("a+tag@example.org.", "a+tag@example.org"),
        ("élève@ac-paris.fr", "élève@ac-paris.fr"),
    ],
)
def test_normalises(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "no-at-sign", "@example.org", "a@", "a b@example.org", "a@localhost", "a@@example.org",
     "a..b@example.org", ".a@example.org", "a@exa mple.org", "a@-bad-.org", "a@1.2.3.4", "x" * 65 + "@example.org",
     "<a>@example.org", "a@" + "b" * 250 + ".org"],
)
def test_refuses(raw):
    with pytest.raises(InvalidEmail):
        normalize_email(raw)
