"""Redis away, for real: a redis-server stopped under a signed-in browser, then started again.

Every page answers the 503 page, every protocol endpoint its protocol's error, the
log has one WARNING line per refused request and no traceback, the session
cookie is left alone, and once Redis is back the same session works again. A
write the replicas do not confirm (``redis.wait_replicas``) is never "done".
"""
from __future__ import annotations

import base64
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.accounts.models import Account, Email
from gateway.saml.sp.nameids import NameIds
from gateway.store import NotReplicated
from tests.cli.conftest import cli_environ
from tests.conftest import Browser, RedisServer, make_app
from tests.helpers.accounts import create_account
from tests.scim.conftest import COCKPIT_TOKEN, Scim, user
from tests.test_sentinel import start_replica

SCIM_HEADERS = {"Authorization": f"Bearer {COCKPIT_TOKEN}"}

#: (method, path, what answers) for each kind of endpoint.
REQUESTS = [
    ("GET", "/login", "page"),
    ("GET", "/account", "page"),
    ("GET", "/saml/sso?SAMLRequest=fZBBT8MwDIX%2FSuV7m6YbE4rWSb2gSXBBE%2BBiEnkNbZLSOKN",
     "page"),
    ("GET", "/oidc/authorize?client_id=demo-rp&response_type=code&scope=openid"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8001%2Fcallback&state=s", "page"),
    ("POST", "/oidc/token", "oauth"),
    ("GET", "/scim/v2/Users", "scim"),
    ("GET", "/healthz", "health"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test stops and starts."""
    running = RedisServer(tmp_path / "redis").start()
    yield running
    running.stop()


@pytest.fixture
def away_app(base_config, server):
    return make_app({**base_config, "redis": {"url": server.url, "socket_timeout": 1.0}})


def stop_keeping_data(server: RedisServer) -> None:
    """SAVE, then stop: the restarted server loads what it held (sessions and accounts)."""
    with redis.Redis(port=server.port) as client:
        client.save()
    server.stop()


def signed_in_browser(app) -> Browser:
    """A browser signed in to ``app`` with a new account."""
    create_account(app.extensions["gateway.directory"], "alex@univ-exemple.fr")
    browser = Browser(app.test_client())
    browser.sign_in("alex@univ-exemple.fr")
    assert browser.signed_in()
    return browser


#: The development clients file's confidential client (config/dev/oidc-clients.toml): authenticated
#: without Redis, so its code redemption is what finds Redis away.
DEV_RP_BASIC = "Basic " + base64.b64encode(b"dev-demo-rp:dev-only-oidc-secret-demo-rp").decode()


def send(client, method: str, path: str):
    headers = SCIM_HEADERS if path.startswith("/scim/") else {}
    if path == "/oidc/token":
        headers = {"Authorization": DEV_RP_BASIC}
    data = {"grant_type": "authorization_code", "code": "x"} if path == "/oidc/token" else None
    return client.open(path, method=method, headers=headers, data=data)


def assert_answer_shape(response, shape: str) -> None:
    """503, in the shape its caller understands, no stack trace, the session cookie left alone."""
    assert response.status_code == 503, (response.request.path, response.status_code)
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "ConnectionError" not in body
    assert "Set-Cookie" not in response.headers
    if shape == "page":
        assert response.mimetype == "text/html"
        assert "Service momentanément indisponible" in body
    elif shape == "oauth":
        assert response.get_json()["error"] == "temporarily_unavailable"
    elif shape == "scim":
        assert response.mimetype == "application/scim+json"
        assert response.get_json()["status"] == "503"
        assert response.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    else:
        assert response.get_json() == {"status": "unavailable", "redis": "unreachable"}


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_redis_stopped_under_a_signed_in_browser(away_app, server, caplog):
    browser = signed_in_browser(away_app)
    client = browser.client
    stop_keeping_data(server)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for method, path, shape in REQUESTS:
            assert_answer_shape(send(client, method, path), shape)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    lines = refusals(caplog)
    assert len(lines) == len(REQUESTS), [r.getMessage() for r in lines]
    for line, (method, path, _) in zip(lines, REQUESTS):
        assert line.getMessage().startswith(f"redis unavailable on {method} {path.split('?')[0]}: ")

    server.start()
    assert client.get("/healthz").status_code == 200
    assert client.get("/account").status_code == 200  # the same session, still signed in
    assert client.get("/scim/v2/Users", headers=SCIM_HEADERS).status_code == 200


def test_redis_stopped_without_a_cookie(away_app, server, caplog):
    """No session to load: the views meet Redis away themselves, and so does saving a new session."""
    client = away_app.test_client()
    server.stop()
    with caplog.at_level(logging.INFO):
        assert_answer_shape(client.get("/login"), "page")  # renders, then its new session cannot be saved
        assert_answer_shape(client.get("/healthz"), "health")
        created = Scim(client).post("/Users", user("new@univ-exemple.fr"))
        assert_answer_shape(created, "scim")
        english = client.get("/login", headers={"Accept-Language": "en"})
        assert english.status_code == 503
        assert "Service temporarily unavailable" in english.get_data(as_text=True)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert len(refusals(caplog)) == 4


def test_unconfirmed_account_write_is_refused_not_acknowledged(base_config, server, caplog):
    """wait_replicas = 1 and no replica: the account write is answered 503 "may or may not"."""
    app = make_app({**base_config, "redis": {"url": server.url, "wait_replicas": 1, "wait_timeout_ms": 50}})
    with caplog.at_level(logging.INFO):
        response = Scim(app.test_client()).post("/Users", user("lost@univ-exemple.fr"))
    assert response.status_code == 503
    assert "may or may not have been kept" in response.get_json()["detail"]
    assert not [r for r in caplog.records if r.exc_info]
    [line] = refusals(caplog)
    assert line.getMessage() == "redis unavailable on POST /scim/v2/Users: NotReplicated"
    with pytest.raises(NotReplicated):
        app.extensions["gateway.directory"].create(
            Account(id="cli", emails=(Email("cli@univ-exemple.fr"),)))
    with pytest.raises(NotReplicated):
        NameIds(app.extensions["gateway.store"], "https://idp").persistent_value(
            Account(id="alex", emails=(Email("alex@univ-exemple.fr"),)), "https://sp.example.fr/sp")


def test_cli_says_the_unconfirmed_write_in_one_line(server):
    env = {**cli_environ(server.url), "GATEWAY_REDIS_WAIT_REPLICAS": "1",
           "GATEWAY_REDIS_WAIT_TIMEOUT_MS": "50"}
    result = subprocess.run([str(Path(sys.executable).with_name("gateway")), "users", "add", "--email",
                             "cli@univ-exemple.fr"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if not x.startswith('{"time"')]
    assert "NotReplicated" in line and "0 of 1 replicas" in line


def test_acknowledged_writes_are_on_the_replica(base_config, server, tmp_path):
    """With a replica, account writes and persistent identifiers are there when acknowledged."""
    replica, port = start_replica(tmp_path / "replica", server)
    try:
        app = make_app({**base_config, "redis": {"url": server.url, "wait_replicas": 1}})
        response = Scim(app.test_client()).post("/Users", user("kept@univ-exemple.fr"))
        assert response.status_code == 201
        account = app.extensions["gateway.directory"].get(response.get_json()["id"])
        made = NameIds(app.extensions["gateway.store"], "https://idp").persistent_value(
            account, "https://sp.example.fr/sp")
        with redis.Redis(port=port, decode_responses=True) as on_replica:
            assert on_replica.hget("gw:user-by-email", "kept@univ-exemple.fr") == account.id
            assert on_replica.hget(f"gw:saml:persistent-id:{account.id}", "https://sp.example.fr/sp") == made
    finally:
        replica.terminate()
        replica.wait(10)
