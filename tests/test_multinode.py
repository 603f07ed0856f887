"""Several gateway nodes (README, "Several nodes"): two gunicorn instances, one Redis, one shared key folder.

A load balancer without sticky sessions may send each request of a person to any node. Here every
step of a sign-in, an SSO (a real pysaml2 SP), an OIDC code flow (with ``gateway keys rotate --force``
run between the authorization and the token request) and a logout goes to the other node than the
step before, and must work as on one node. Both nodes run ``deploy/gunicorn.conf.py`` with the same
settings; node A's address is the public URL (issuer, entityID) and node B is reached by the same
paths, as nginx's upstream does (deploy/nginx/uness-gateway-nodes.conf). Loopback only; every wait
is bounded.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from gateway.accounts.models import Account
from gateway.oidc.credentials import hash_secret
from gateway.oidc.keys import init_directory, read_state
from tests.conftest import DEV_KEY, PASSWORD, Gunicorn
from tests.e2e.conftest import account  # noqa: F401  fixture
from tests.helpers.forms import csrf_token, forms, page_form
from tests.helpers.servers import gunicorn_environ
from tests.saml.conftest import FakeSP, SpSpec, make_key, sp_metadata

GATEWAY_CLI = Path(sys.executable).with_name("gateway")
CLIENT_ID, CLIENT_SECRET = "rp-multinode", "multinode-secret-0123456789"
CALLBACK = "https://rp.example.org/cb"
SP_ENTITY = "https://sp.multinode.example/shibboleth"
A, B = 0, 1


def other(node: int) -> int:
    return 1 - node


@pytest.fixture
def sp_spec(tmp_path: Path) -> SpSpec:
    """The SP: one key pair for signing and encryption, one POST ACS."""
    return SpSpec(SP_ENTITY, ((BINDING_HTTP_POST, "https://sp.multinode.example/acs", 0, True),),
                  make_key(tmp_path, "multinode-sp"))


@pytest.fixture
def shared(tmp_path: Path, sp_spec: SpSpec) -> dict[str, str]:
    """What every node reads alike: the OIDC key folder (shared, as over NFS), SP metadata, clients."""
    keys = tmp_path / "oidc-keys"
    init_directory(keys, ["RS256"], int(time.time()))
    sp_dir = tmp_path / "sp-metadata"
    sp_dir.mkdir()
    (sp_dir / "multinode.xml").write_text(sp_metadata(sp_spec))
    clients = tmp_path / "oidc-clients.toml"
    clients.write_text(f"""[[clients]]
client_id = "{CLIENT_ID}"
client_name = "Multinode RP"
secret_hash = "{hash_secret(CLIENT_SECRET)}"
redirect_uris = ["{CALLBACK}"]
scopes = ["openid", "profile", "email"]
""", encoding="utf-8")
    return {"GATEWAY_OIDC_KEYS_DIR": str(keys), "GATEWAY_OIDC_CLIENTS_FILE": str(clients),
            "GATEWAY_SAML_SP_METADATA_DIR": str(sp_dir)}


@pytest.fixture
def nodes(gunicorn, shared: dict[str, str]) -> Iterator[list[Gunicorn]]:
    """Node A and node B: the same settings, node A's public URL for both."""
    node_a = gunicorn(shared)
    started = [node_a, gunicorn({**shared, "GATEWAY_PUBLIC_URL": node_a.url})]
    yield started
    for node in started:
        assert "Traceback" not in node.output(), node.output()


class Balancer:
    """A person's browser behind a balancer without sticky sessions: each request goes to the node the
    test names; an absolute URL of the public address is sent by its path."""

    def __init__(self, nodes: list[Gunicorn]) -> None:
        self.nodes = nodes
        self.http = requests.Session()

    def request(self, node: int, method: str, url: str, **kw) -> requests.Response:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.http.request(method, self.nodes[node].url + path, allow_redirects=False, timeout=15, **kw)

    def get(self, node: int, url: str) -> requests.Response:
        return self.request(node, "GET", url)

    def submit(self, node: int, page: requests.Response, path: str, data: dict[str, str]) -> requests.Response:
        """POST the form of ``page`` (read from another node, maybe) with its CSRF token."""
        return self.request(node, "POST", path, data={"csrf_token": csrf_token(page), **data})

    def sign_in(self, first: int, email: str, start: str = "/login") -> requests.Response:
        """The address page, the address, the password page, the password: each at the other node."""
        page = self.get(first, start)
        assert page.status_code == 200 and "Connexion" in page.text, page.text[:300]
        step = self.submit(other(first), page, "/login", {"email": email})
        assert step.status_code == 302 and step.headers["Location"].endswith("/login/password"), step.text[:300]
        page = self.get(first, "/login/password")
        assert page.status_code == 200, page.text[:300]
        done = self.submit(other(first), page, "/login/password", {"password": PASSWORD})
        assert done.status_code == 302, done.text[:300]
        return done

    def follow(self, node: int, response: requests.Response, stop: str) -> str:
        """Follow redirects (and the continue page's Refresh), each at the other node, until one leaves
        for ``stop``; returns that URL."""
        for _ in range(10):
            if response.status_code in (302, 303):
                target = urljoin(response.url, response.headers["Location"])
            else:
                assert response.status_code == 200 and "Refresh" in response.headers, response.text[:500]
                target = response.headers["Refresh"].split("url=", 1)[1]
            if target.startswith(stop):
                return target
            node = other(node)
            response = self.get(node, target)
        raise AssertionError("redirect loop")

    def signed_in_at(self, node: int) -> bool:
        response = self.get(node, "/account")
        assert response.status_code in (200, 302)
        return response.status_code == 200

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def browser(nodes: list[Gunicorn]) -> Iterator[Balancer]:
    balancer = Balancer(nodes)
    yield balancer
    balancer.close()


def test_sign_in_and_logout_with_each_step_at_the_other_node(browser: Balancer, account: Account):
    done = browser.sign_in(A, account.emails[0].address)
    assert urlsplit(done.headers["Location"]).path == "/account"
    for node in (A, B):
        page = browser.get(node, "/account")
        assert page.status_code == 200 and account.emails[0].address in page.text
    confirm = browser.get(B, "/logout")
    assert confirm.status_code == 200
    ended = browser.submit(A, confirm, "/logout", {})
    assert ended.status_code == 302 and ended.headers["Location"].endswith("/login?logged_out=1")
    assert not browser.signed_in_at(B) and not browser.signed_in_at(A)


def test_sso_request_at_one_node_sign_in_at_the_other_response_from_the_first(
        browser: Balancer, account: Account, sp_spec: SpSpec):
    idp_metadata = browser.get(B, "/saml/metadata")
    assert idp_metadata.status_code == 200
    sp = FakeSP(sp_spec, idp_metadata.text, sso_url=browser.nodes[A].url + "/saml/sso")
    request_id, how = sp.request(BINDING_HTTP_REDIRECT)
    asked = browser.get(A, how["url"])
    assert asked.status_code == 302 and urlsplit(asked.headers["Location"]).path == "/login", asked.text[:300]
    done = browser.sign_in(B, account.emails[0].address, start=asked.headers["Location"])
    answer = browser.get(A, done.headers["Location"])
    assert answer.status_code == 200, answer.text[:500]
    parsed = sp.parse(page_form(answer, field="SAMLResponse").fields["SAMLResponse"], request_id)
    assert parsed.ava["mail"] == [account.emails[0].address]
    # the request IDs seen are shared too: the same AuthnRequest at node B is refused (SEC05)
    again = browser.get(B, how["url"])
    assert "déjà été utilisée" in again.text
    assert not any("SAMLResponse" in form.fields for form in forms(again))


def test_oidc_code_flow_with_a_key_rotation_between_authorize_and_token(
        browser: Balancer, account: Account, shared: dict[str, str]):
    keys_dir = Path(shared["GATEWAY_OIDC_KEYS_DIR"])
    discovery = browser.get(B, "/.well-known/openid-configuration").json()
    issuer = browser.nodes[A].url
    assert discovery["issuer"] == issuer
    rp, url, state, verifier, nonce = authorization(discovery)
    asked = browser.get(A, url)
    done = browser.sign_in(B, account.emails[0].address, start=asked.headers["Location"])
    callback = browser.follow(B, done, CALLBACK)
    old = {e["state"]: e["kid"] for e in read_state(keys_dir)["keys"]}

    rotated = subprocess.run([str(GATEWAY_CLI), "keys", "rotate", "--force", "--alg", "RS256"],
                             env=cli_env(keys_dir, browser), capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    new = {e["state"]: e["kid"] for e in read_state(keys_dir)["keys"]}
    assert new["active"] == old["next"] and new["retired"] == old["active"]

    token = rp.fetch_token(browser.nodes[B].url + "/oidc/token", authorization_response=callback,
                           state=state, code_verifier=verifier)
    for node in (A, B):  # whichever key signed it, each node's JWKS verifies it
        claims = verify(token["id_token"], jwks_of(browser, node), issuer)
        assert claims["nonce"] == nonce
    userinfo = requests.get(browser.nodes[A].url + "/oidc/userinfo", timeout=15,
                            headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.status_code == 200 and userinfo.json()["email"] == account.emails[0].address

    # both nodes follow the rotation: they publish the new next key, then sign with the new active one
    deadline = time.monotonic() + 30
    while not all(new["next"] in kids(jwks_of(browser, node)) for node in (A, B)):
        assert time.monotonic() < deadline, "a node did not reload the shared key folder"
        time.sleep(0.2)
    rp.close()
    for node in (A, B):
        rp, url, state, verifier, nonce = authorization(discovery)
        callback = browser.follow(other(node), browser.get(other(node), url), CALLBACK)
        token = rp.fetch_token(browser.nodes[node].url + "/oidc/token", authorization_response=callback,
                               state=state, code_verifier=verifier)
        rp.close()
        assert header(token["id_token"])["kid"] == new["active"]
        assert verify(token["id_token"], jwks_of(browser, other(node)), issuer)["nonce"] == nonce


def authorization(discovery: dict) -> tuple[OAuth2Session, str, str, str, str]:
    """A relying party (authlib) and its authorization request: (rp, url, state, PKCE verifier, nonce)."""
    rp = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope="openid email", redirect_uri=CALLBACK,
                       code_challenge_method="S256")
    verifier, nonce = generate_token(48), generate_token(16)
    url, state = rp.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier,
                                             nonce=nonce)
    return rp, url, state, verifier, nonce


def cli_env(keys_dir: Path, browser: Balancer) -> dict[str, str]:
    """The `gateway` command on a node: the same settings as the web nodes."""
    return gunicorn_environ(GATEWAY_MODE="development", GATEWAY_SECRET_KEY=DEV_KEY[:40],
                            GATEWAY_OIDC_KEYS_DIR=str(keys_dir), GATEWAY_PUBLIC_URL=browser.nodes[A].url)


def jwks_of(browser: Balancer, node: int) -> dict:
    response = browser.get(node, "/oidc/jwks")
    assert response.status_code == 200
    return response.json()


def kids(jwks: dict) -> set[str]:
    return {key["kid"] for key in jwks["keys"]}


def header(token: str) -> dict:
    import base64

    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify(id_token: str, jwks: dict, issuer: str) -> dict:
    claims = dict(jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims)
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer},
                          aud={"essential": True, "value": CLIENT_ID}).validate(claims)
    return claims
