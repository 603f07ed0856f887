"""The real Shibboleth SP 3 loses its session over SOAP when the account's password changes elsewhere (SLO04).

The SP publishes ``/Shibboleth.sso/SLO/SOAP`` in the metadata the gateway loads
(tests/interop/conftest.py takes it from ``/Shibboleth.sso/Metadata``), and an
encryption key, so the gateway's LogoutRequest carries an ``saml:EncryptedID``.
A first browser signs in to the SP; a second one changes the password on the
account page, which ends every other session with no browser to carry the
front-channel chain. ``gateway mail-worker --burst``, run with the live
gateway's own environment, sends the signed SOAP LogoutRequest; shibd finds the
session by NameID and SessionIndex and ends it, so the first browser's next
visit to the protected page goes back to the gateway.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import PASSWORD, Browser
from tests.helpers.servers import ROOT

from .conftest import Interop
from .test_shibboleth_sp import TIMEOUT, sign_in

NEW_PASSWORD = "une phrase de passe assez longue"


def test_slo04_password_changed_elsewhere_ends_the_shibboleth_sp_session_over_soap(interop: Interop) -> None:
    first, second = Browser(url=interop.gateway.url), Browser(url=interop.gateway.url)
    try:
        sign_in(first, interop)
        secure = first.get(interop.sp.url + "/secure", allow_redirects=False, timeout=TIMEOUT)
        assert secure.status_code == 200, (secure.status_code, secure.text[:500])
        change_password(second, interop)
        worker = run_job_worker(interop)
        assert '"saml.slo.backchannel_sent"' in worker, worker[-3000:]
        again = first.get(interop.sp.url + "/secure", allow_redirects=False, timeout=TIMEOUT)
        assert again.status_code == 302, (again.status_code, again.text[:500])
        assert again.headers["Location"].startswith(interop.gateway.url + "/saml/sso?"), again.headers
    except (AssertionError, requests.RequestException, subprocess.SubprocessError) as exc:
        pytest.fail(f"{type(exc).__name__}: {exc}\n\n{interop.logs()}", pytrace=True)


def change_password(browser: Browser, interop: Interop) -> None:
    """Sign in on the gateway's own pages, then "Mes informations" > change the password."""
    signed_in = browser.sign_in(interop.account.primary_email)
    assert urlsplit(signed_in.headers.get("Location", "")).path == "/account", signed_in.text[:500]
    page = browser.get("/account", timeout=TIMEOUT)
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    done = browser.submit("/account/password", form, page=page, allow_redirects=True, timeout=TIMEOUT)
    assert done.status_code == 200 and "Vos autres sessions ont été fermées" in done.text, done.text[:800]


def run_job_worker(interop: Interop) -> str:
    """``gateway mail-worker --burst`` with the live gateway's environment (read from its gunicorn
    arbiter, so nothing is configured twice); what it printed."""
    pid = interop.gateway.process.pid
    environ = dict(entry.split("=", 1) for entry in
                   Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in entry)
    done = subprocess.run([str(Path(sys.executable).parent / "gateway"), "mail-worker", "--burst"], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output
