"""An SP's mdui:DisplayName as an attacker would write it: a bidi override and invisible characters that
change what the person reads, and a name long enough to push the gateway's words off the page."""
from __future__ import annotations

from pathlib import Path

import pytest
from saml2 import BINDING_HTTP_POST

from tests.conftest import make_app
from tests.saml.conftest import FakeSP, SpSpec
from tests.saml.test_app_name import pysaml2_metadata, to_login

SPOOF = "https://spoof.uness.fr/sp"
NAME = "UNESS \u202eeértnoc\u202c\u200b " + "Vous êtes déconnecté " * 30


@pytest.fixture(scope="module")
def spec(keys) -> SpSpec:
    return SpSpec(SPOOF, ((BINDING_HTTP_POST, "https://spoof.uness.fr/acs", 0, None),), keys["main"])


@pytest.fixture
def app(base_config, redis_client, tmp_path: Path, spec):
    ui_info = {"display_name": [{"text": NAME, "lang": "fr"}]}
    (tmp_path / "sp.xml").write_text(pysaml2_metadata(spec, ui_info))
    return make_app({**base_config, "saml": {"sp_metadata_dir": str(tmp_path)}})


def test_a_display_name_is_shown_without_invisible_characters_and_short(flow, spec, idp_metadata):
    page, _ = to_login(flow, FakeSP(spec, idp_metadata))
    assert "\u202e" not in page and "\u200b" not in page
    assert "Vous vous connectez à « UNESS eértnoc Vous êtes déconnecté" in page
    shown = page[page.index("Vous vous connectez à « "):].split("»")[0].rstrip()
    assert len(shown) <= len("Vous vous connectez à « ") + 100 and shown.endswith("…")
