"""Fixtures for the support tools: an app whose tokens include a help desk's, the CLI in process."""
from __future__ import annotations

import copy

import pytest

import gateway.cli.support  # noqa: F401  registers ``gateway support …``

from tests.cli.conftest import cli_env, restore_logging, run  # noqa: F401  fixtures of the CLI tests
from tests.web.conftest import audit_events, mailbox  # noqa: F401  the sign-in pages' fixtures

COCKPIT_TOKEN = "scim-test-token-cockpit-0123456789"
HELPDESK_TOKEN = "support-test-token-helpdesk-0123456789"


@pytest.fixture
def mail_config(base_config: dict, smtp) -> dict:
    """The mail tests' configuration, plus a help desk token opening the support API only."""
    config = copy.deepcopy(base_config)
    config["mail"] = {**config.get("mail", {}), **smtp.overrides}
    config["scim"] = {**config["scim"], "tokens": {**config["scim"]["tokens"], "helpdesk": HELPDESK_TOKEN},
                      "token_scopes": {"helpdesk": ["support"]}}
    return config


@pytest.fixture
def app(mail_app):
    return mail_app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


HELPDESK = bearer(HELPDESK_TOKEN)
