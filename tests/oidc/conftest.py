"""OIDC fixtures: the gateway served live, a real relying party, a person's browser, an RP back end.

* ``live``: the app (real Redis, keys generated for the session, a clients file
  per test) served by werkzeug (tests.conftest.WsgiServer) in a thread on a free port;
  ``live.provider.clock`` is the injectable clock.
* ``rp_backend``: a real HTTP server of the relying party receiving Back-Channel
  Logout POSTs (``rp_backend.tokens``).
* ``browser``: tests.conftest.Browser on the live server, following redirects by hand
  and signing in through the real pages when the address page shows up.
* ``rp(client_id)``: authlib's ``OAuth2Session`` configured from discovery; ID
  tokens are verified with joserfc against ``/oidc/jwks`` (authlib.jose is
  deprecated in authlib 1.9 in favour of joserfc, which authlib itself uses).
"""
from __future__ import annotations

import dataclasses
import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from gateway import jobs
from gateway.accounts.models import Account
from gateway.oidc.credentials import hash_secret
from gateway.oidc.keys import init_directory
from tests.conftest import PASSWORD, WsgiServer, free_port, make_app
from tests.conftest import Browser as BaseBrowser

EMAIL = "camille.martin@univ-exemple.fr"
RP = "https://rp.example.org"
CALLBACK = f"{RP}/cb"
SECRETS = {"rp-basic": "basic-secret-0123456789", "rp-post": "post-secret-0123456789",
           "rp-pairwise-a": "pw-a-secret", "rp-pairwise-b": "pw-b-secret", "rp-pairwise-c": "pw-c-secret",
           "rp-es256": "es256-secret", "rp-legacy": "legacy-secret", "api": "api-secret-0123456789",
           "rp-other": "other-secret-0123456789", "rp-query": "other-secret-0123456789",
           "rp-browser": "basic-secret-0123456789"}
LEGACY_SP = "https://moodle.example.org/shibboleth"


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A managed key folder for the session: active + next keys for RS256 and ES256."""
    folder = tmp_path_factory.mktemp("oidc-keys")
    init_directory(folder, ["RS256", "ES256"], int(time.time()))
    return folder


@pytest.fixture(scope="session")
def client_key() -> RSAKey:
    """The private key of the private_key_jwt client."""
    return RSAKey.generate_key(2048, parameters={"kid": "rp-jwt-key"})


@pytest.fixture(scope="session")
def secret_hashes() -> dict[str, str]:
    return {name: hash_secret(secret) for name, secret in SECRETS.items()}


def _client(client_id: str, **fields: Any) -> dict[str, Any]:
    return {"client_id": client_id, "client_name": client_id, "redirect_uris": [CALLBACK, f"{RP}/cb2"],
            "post_logout_redirect_uris": [f"{RP}/logged-out"], **fields}


def clients_toml(hashes: dict[str, str], jwks: dict[str, Any], backchannel: str) -> str:
    every = ["openid", "profile", "email", "eduperson", "supann"]
    backend = backchannel.removesuffix("/backchannel-logout")  # the RP's own server, for a real browser
    clients = [
        _client("rp-basic", secret_hash=hashes["rp-basic"], scopes=every, backchannel_logout_uri=backchannel),
        _client("rp-post", secret_hash=hashes["rp-post"], token_endpoint_auth_method="client_secret_post"),
        _client("rp-other", secret_hash=hashes["rp-other"], redirect_uris=["https://other.example.net/cb"]),
        _client("rp-query", secret_hash=hashes["rp-other"], redirect_uris=[f"{RP}/cb?foo=bar"]),
        _client("rp-public", token_endpoint_auth_method="none",
                redirect_uris=["http://127.0.0.1/native/cb", "https://spa.example.org/cb"]),
        _client("rp-pairwise-a", secret_hash=hashes["rp-pairwise-a"], subject_type="pairwise",
                redirect_uris=["https://a.sector.example/cb"]),
        _client("rp-pairwise-b", secret_hash=hashes["rp-pairwise-b"], subject_type="pairwise",
                redirect_uris=["https://b.sector.example/cb"], sector_identifier="a.sector.example"),
        _client("rp-pairwise-c", secret_hash=hashes["rp-pairwise-c"], subject_type="pairwise",
                redirect_uris=["https://c.elsewhere.example/cb"]),
        _client("rp-es256", secret_hash=hashes["rp-es256"], id_token_signed_response_alg="ES256"),
        _client("rp-legacy", secret_hash=hashes["rp-legacy"], legacy_id_source=LEGACY_SP),
        _client("rp-jwt", token_endpoint_auth_method="private_key_jwt", jwks=jwks),
        _client("api", secret_hash=hashes["api"], introspection=True,
                redirect_uris=["https://api.example.org/cb"]),
        _client("rp-browser", secret_hash=hashes["rp-basic"], redirect_uris=[f"{backend}/cb"],
                post_logout_redirect_uris=[f"{backend}/bye"], backchannel_logout_uri=backchannel),
    ]
    return "\n".join(f"[[clients]]\n{_toml_table(c)}" for c in clients)


def _toml_table(data: dict[str, Any]) -> str:
    lines = []
    for name, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{name} = {json.dumps(value)}".replace('": ', '" = ').replace('{"', '{ "'))
        else:
            lines.append(f"{name} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


class RpBackend:
    """The RP's own web server: records Back-Channel Logout POSTs (answering ``statuses``, else 200)
    and serves a page for any GET (its callback for a real browser)."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.statuses: list[int] = []
        #: paths the person's browser opened on the RP (its callback, its post-logout page)
        self.visits: list[str] = []
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = parse_qs(self.rfile.read(length).decode())
                status = backend.statuses.pop(0) if backend.statuses else 200
                if status == 200:
                    backend.tokens.extend(body.get("logout_token", []))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                body = b"<!doctype html><title>RP</title><p>RP callback</p>"
                backend.visits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rp_backend() -> Iterator[RpBackend]:
    backend = RpBackend()
    yield backend
    backend.stop()


@dataclasses.dataclass
class Live:
    url: str
    app: Any

    @property
    def provider(self) -> Any:
        return self.app.extensions["gateway.oidc"]

    @property
    def issuer(self) -> str:
        return self.url

    def endpoint(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def oidc_config(base_config: dict, keys_dir: Path, secret_hashes: dict, client_key: RSAKey,
                rp_backend: RpBackend, tmp_path: Path) -> dict:
    port = free_port()
    clients = tmp_path / "oidc-clients.toml"
    jwks = {"keys": [client_key.as_dict(private=False)]}
    clients.write_text(clients_toml(secret_hashes, jwks, rp_backend.url), encoding="utf-8")
    return {**base_config, "public_url": f"http://127.0.0.1:{port}", "limits": {"enabled": False},
            "oidc": {"keys_dir": str(keys_dir), "clients_file": str(clients),
                     "backchannel_retry_intervals": [1], "backchannel_timeout": 2.0}}


@pytest.fixture
def live(oidc_config: dict, redis_client) -> Iterator[Live]:
    """The gateway on a real port, in a thread of this process."""
    app = make_app(oidc_config)
    port = int(urlsplit(oidc_config["public_url"]).port or 0)
    server = WsgiServer(app, port)
    yield Live(oidc_config["public_url"], app)
    server.stop()
    jobs.service(app).close()


@pytest.fixture
def account(live: Live, make_account) -> Account:
    """An active account with two verified addresses, a password and R&E attributes."""
    return make_account(EMAIL, "c.martin@chu-exemple.fr", given_name="Camille", family_name="Martin",
                        display_name="Camille Martin", affiliations=("student", "member"),
                        establishment="{UAI}0751717J", eppn="cmartin@univ-exemple.fr",
                        legacy_ids={LEGACY_SP: "legacy-42"})


# -- the person's browser -------------------------------------------------------------------

class Browser(BaseBrowser):
    """The person's browser on the live gateway (tests.conftest.Browser), following redirects one by one
    and signing in when the address page shows up; ``login_pages`` counts the sign-ins."""

    def __init__(self, live: Live) -> None:
        super().__init__(url=live.url)
        self.live = live
        self.login_pages = 0

    def sign_in(self, address: str = EMAIL, password: str = PASSWORD, *, start: Any = None,
                remember: bool = False) -> requests.Response:
        """Fill the address and password pages (the address page is the Connexion page); returns the
        response to the password POST."""
        self.login_pages += 1
        page = start if start is not None and not isinstance(start, str) else self.get(start or "/login")
        assert page.status_code == 200 and "Connexion" in page.text
        return super().sign_in(address, password, start=page, remember=remember)

    def go(self, url: str, stop: str = RP, email: str | None = EMAIL, method: str = "GET",
           data: dict[str, Any] | None = None) -> str | requests.Response:
        """Follow redirects from ``url`` until one leaves for ``stop`` (returns that URL);
        signs in when the address page shows up (``email``); else returns the last page."""
        response = self.post(url, data or {}) if method == "POST" else self.get(url)
        for _ in range(20):
            if response.status_code in (301, 302, 303, 307, 308):
                target = urljoin(response.url, response.headers["Location"])
                if target.startswith(stop):
                    return target
                response = self.get(target)
            elif response.status_code == 200 and "Refresh" in response.headers:  # oidc/continue.html
                target = response.headers["Refresh"].split("url=", 1)[1]
                if target.startswith(stop):
                    return target
                response = self.get(target)
            elif response.status_code == 200 and urlsplit(response.url).path == "/login" and email:
                response = self.sign_in(email, start=response)
                email = None  # once
            else:
                return response
        raise AssertionError("redirect loop")


@pytest.fixture
def browser(live: Live) -> Iterator[Browser]:
    b = Browser(live)
    yield b
    b.close()


# -- the relying party -----------------------------------------------------------------------

@dataclasses.dataclass
class Attempt:
    url: str
    state: str
    nonce: str | None
    verifier: str | None


class RelyingParty:
    """A real OIDC client: authlib's OAuth2Session plus ID token checks (conformance ValidateIdToken)."""

    def __init__(self, live: Live, client_id: str, secret: str | None = None, *,
                 auth: str = "client_secret_basic", redirect_uri: str = CALLBACK,
                 scope: str = "openid profile email") -> None:
        self.live = live
        self.client_id = client_id
        self.discovery = requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10).json()
        self.session = OAuth2Session(client_id, secret, scope=scope, redirect_uri=redirect_uri,
                                     token_endpoint_auth_method=auth, code_challenge_method="S256")

    def authorization(self, nonce: bool = True, pkce: bool = True, **params: Any) -> Attempt:
        state = secrets.token_urlsafe(12)
        nonce_value = secrets.token_urlsafe(12) if nonce else None
        verifier = generate_token(48) if pkce else None
        if nonce_value:
            params["nonce"] = nonce_value
        url, _ = self.session.create_authorization_url(self.discovery["authorization_endpoint"], state=state,
                                                       code_verifier=verifier, **params)
        return Attempt(url, state, nonce_value, verifier)

    def callback(self, url: str, attempt: Attempt) -> dict[str, str]:
        """The authorization response: state returned unchanged, iss = issuer, no fragment (OIDC04)."""
        parts = urlsplit(url)
        assert not parts.fragment
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert params.get("state") == attempt.state
        assert params.get("iss") == self.discovery["issuer"]
        return params

    def token(self, url: str, attempt: Attempt) -> dict[str, Any]:
        return dict(self.session.fetch_token(self.discovery["token_endpoint"], authorization_response=url,
                                             state=attempt.state, code_verifier=attempt.verifier))

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.discovery["jwks_uri"], timeout=10).json())

    def verify(self, id_token: str, attempt: Attempt | None = None, alg: str = "RS256") -> dict[str, Any]:
        """Signature against jwks_uri by kid; iss, aud, exp, iat (not future, < 5 min old), nonce, sub."""
        header = json.loads(_b64(id_token.split(".")[0]))
        assert header["alg"] == alg and header.get("kid")
        token = jwt.decode(id_token, self.jwks(), algorithms=[alg])
        claims = dict(token.claims)
        now = time.time()
        issuer = self.discovery["issuer"]
        jwt.JWTClaimsRegistry(now=int(now), leeway=5, iss={"essential": True, "value": issuer},
                              aud={"essential": True, "value": self.client_id}, exp={"essential": True},
                              iat={"essential": True}, sub={"essential": True}).validate(claims)
        assert now - 300 <= claims["iat"] <= now + 5
        assert isinstance(claims["sub"], str) and 0 < len(claims["sub"]) <= 255 and claims["sub"].isascii()
        if attempt is not None and attempt.nonce:
            assert claims["nonce"] == attempt.nonce
        return claims

    def userinfo(self, token: dict[str, Any], method: str = "GET") -> requests.Response:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        return requests.request(method, self.discovery["userinfo_endpoint"], headers=headers, timeout=10)

    def close(self) -> None:
        self.session.close()


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture
def rp(live: Live) -> Iterator[Any]:
    """``rp("rp-basic")`` -> a RelyingParty with that client's secret and auth method."""
    made: list[RelyingParty] = []

    def make(client_id: str = "rp-basic", **kw: Any) -> RelyingParty:
        party = RelyingParty(live, client_id, SECRETS.get(client_id), **kw)
        made.append(party)
        return party

    yield make
    for party in made:
        party.close()


def sign_in_and_get_tokens(browser: Browser, party: RelyingParty,
                           **params: Any) -> tuple[Attempt, dict[str, Any]]:
    """The whole code flow through the real pages; returns the attempt and the token response."""
    attempt = party.authorization(**params)
    url = browser.go(attempt.url)
    assert isinstance(url, str), getattr(url, "text", "")[:500]
    party.callback(url, attempt)
    return attempt, party.token(url, attempt)


def code_from(url: str) -> str:
    return parse_qs(urlsplit(url).query)["code"][0]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
