"""End-to-end fixtures: the real gateway under gunicorn (tests/conftest.py's launcher), and headless
Debian Chromium.

Nothing is downloaded: Playwright drives the system Chromium (``make test``
installs the ``chromium`` package). Every process started here is stopped at
teardown.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.accounts.models import Account
from tests.conftest import Gunicorn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def account(make_account) -> Account:
    """An active account with a verified address and a password (``PASSWORD``)."""
    return make_account("camille.e2e@chu-exemple.fr", account_id="e2e-camille", display_name="Camille Martin")


@pytest.fixture
def gateway(gunicorn) -> Gunicorn:
    """The gateway under gunicorn (tests.conftest ``gunicorn``), one worker, on the test Redis."""
    return gunicorn()


@pytest.fixture
def page(tmp_path: Path):
    """A page in headless system Chromium, fresh profile; skipped when Chromium or Playwright is missing."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs the Debian chromium package")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is missing: `make test` installs it")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800}, locale="fr-FR",
        )
        context.set_default_timeout(20_000)  # a loaded 2-core host is slow, a hang still fails
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
