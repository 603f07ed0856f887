"""Relying parties: the client model authlib asks questions of, and the clients file.

Configured clients come from ``oidc.clients_file`` (TOML, ``[[clients]]``
tables, see config/oidc-clients.example.toml); dynamically registered ones
(RFC 7591, :mod:`gateway.oidc.registration`) live in Redis (:class:`Registrations`). Both are
:class:`Client` values and pass the same checks (:func:`client_problems`).

Predicates follow the specs they implement: redirect URIs are compared by simple
string comparison (OIDC Core §3.1.2.1, RFC 9700 §4.1.3; checklist OIDC02,
BCP01), with the single exception RFC 8252 §7.3 allows: any port on a loopback
``http`` redirect URI registered for a native app. Only strings that browsers
and the gateway read alike are registered or compared
(:mod:`gateway.identity.redirects`); a back-channel logout URI is a server the
worker calls, held to :func:`gateway.outbound.endpoint_problem`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list

from ..identity.names import name_problem
from ..identity.redirects import UnsafeUrl, browser_url
from ..outbound import endpoint_problem
from ..store import Store, key
from .claims import SUPPORTED_SCOPES
from .credentials import looks_like_hash, verify_secret
from .errors import ClientConfigError
from .keys import ALGORITHMS

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")
SUBJECT_TYPES = ("public", "pairwise")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
#: A loopback redirect URI of a native app; only its port may differ from the one registered (RFC 8252 §7.3).
_LOOPBACK = re.compile(r"http://(?P<host>127\.0\.0\.1|\[::1\])(?::[1-9][0-9]{0,4})?(?P<rest>[/?].*)?", re.DOTALL)
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:~-]{1,128}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


@dataclasses.dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """One relying party, as configured or registered."""

    client_id: str
    client_name: str = ""
    #: :func:`gateway.oidc.credentials.hash_secret` form; never the secret itself
    secret_hash: str = ""
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str = ""
    #: the scopes this client may be given (its release policy); ``openid`` is required
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    grant_types: tuple[str, ...] = GRANT_TYPES
    token_endpoint_auth_method: str = "client_secret_basic"
    id_token_signed_response_alg: str = "RS256"
    subject_type: str = "public"
    #: pairwise sector (a host name); defaults to the one host of redirect_uris
    sector_identifier: str = ""
    #: public keys for private_key_jwt (RFC 7523 §2.2), a JWK Set
    jwks: Mapping[str, Any] | None = None
    #: release ``account.legacy_ids[legacy_id_source]`` as claim ``legacy_id_claim``
    legacy_id_source: str = ""
    legacy_id_claim: str = "uness_legacy_id"
    #: a resource server: may introspect tokens issued to other clients (RFC 7662 §2.1)
    introspection: bool = False
    #: may receive the name and email claims of a person on the liste rouge (supannListeRouge, ATT07)
    liste_rouge: bool = False
    #: set for dynamically registered clients (RFC 7591)
    registered: bool = False
    registration_token_hash: str = ""
    issued_at: int = 0
    expires_at: int = 0

    # -- authlib's ClientMixin ---------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """None: ``redirect_uri`` is required in every request (OIDC Core §3.1.2.1, OIDC02)."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Requested scopes this client may have, in request order; unknown ones are ignored
        (RFC 6749 §3.3). None (invalid_scope) without ``openid``: only OIDC requests are served."""
        granted = [s for s in dict.fromkeys(scope_to_list(scope) or []) if s in self.scopes]
        return " ".join(granted) if "openid" in granted else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_is_registered(self, redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.token_endpoint_auth_method not in SECRET_METHODS:
            return False
        return verify_secret(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """A client authenticates with its one registered method, at every endpoint."""
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        """Code flow only (checklist OIDC03, BCP02)."""
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    # -- derived ---------------------------------------------------------------------------------
    @property
    def is_public(self) -> bool:
        """A client without credentials (SPA, native app): PKCE is required (PKCE01)."""
        return self.token_endpoint_auth_method == "none"

    @property
    def sector(self) -> str:
        """Pairwise sector identifier (OIDC Core §8.1): configured, else the redirect URIs' host."""
        if self.sector_identifier:
            return self.sector_identifier
        hosts = {urlsplit(uri).hostname or "" for uri in self.redirect_uris}
        return hosts.pop() if len(hosts) == 1 else ""

    @property
    def client_metadata(self) -> dict[str, Any]:
        """Registration metadata (RFC 7591 §2, OIDC Registration §2) as authlib endpoints read it."""
        data: dict[str, Any] = {
            "client_name": self.client_name,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "grant_types": list(self.grant_types),
            "response_types": ["code"],
            "scope": " ".join(self.scopes),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
            "subject_type": self.subject_type,
        }
        if self.backchannel_logout_uri:
            data["backchannel_logout_uri"] = self.backchannel_logout_uri
            data["backchannel_logout_session_required"] = True
        if self.jwks:
            data["jwks"] = dict(self.jwks)
        return data

    @property
    def client_info(self) -> dict[str, Any]:
        """RFC 7591 §3.2.1 client information (never the secret: only its hash is kept)."""
        return {"client_id": self.client_id, "client_id_issued_at": self.issued_at,
                "client_secret_expires_at": self.expires_at}


def redirect_uri_is_registered(client: Client, uri: str) -> bool:
    """Simple string comparison (RFC 9700 §4.1.3, OIDC Core §3.1.2.1; BCP01, OIDC02); for a registered
    loopback ``http`` URI, the port alone may differ (RFC 8252 §7.3). ``uri`` must also be a string
    browsers and the gateway read alike, in its re-serialised form (:mod:`gateway.identity.redirects`)."""
    if not in_served_form(uri):
        return False
    if uri in client.redirect_uris:
        return True
    asked = _LOOPBACK.fullmatch(uri)
    return asked is not None and any(
        (registered := _LOOPBACK.fullmatch(r)) is not None
        and (registered["host"], registered["rest"]) == (asked["host"], asked["rest"])
        for r in client.redirect_uris)


@functools.lru_cache(maxsize=1024)
def in_served_form(uri: str) -> bool:
    """``uri`` is an absolute http(s) URL browsers and the gateway read alike, written in its re-serialised
    form (:func:`~gateway.identity.redirects.browser_url`, a pure function: its answer is kept for the
    1,024 URIs asked last, so a relying party's own redirect URI is not parsed at each request)."""
    try:
        return browser_url(uri) == uri
    except UnsafeUrl:
        return False


# -- checks ------------------------------------------------------------------------------------

def uri_problem(uri: Any, *, production: bool) -> str | None:
    """Why ``uri`` cannot be a redirect URI or post-logout redirect URI: it must be a URL browsers read as
    the gateway does, written in its re-serialised form (no fragment), and https in production but loopback."""
    if not isinstance(uri, str) or not uri:
        return "expected a URL"
    try:
        serialised = browser_url(uri)
    except UnsafeUrl as exc:
        return f"{uri!r}: {exc.reason}"
    if serialised != uri:
        return f"{uri!r}: write it {serialised!r}"
    if production and uri.startswith("http:") and urlsplit(uri).hostname not in LOOPBACK_HOSTS:
        return f"{uri!r}: https is required in production (loopback http excepted)"
    return None


def client_problems(client: Client, *, production: bool) -> list[str]:
    """Every reason ``client`` cannot be served, one line each (empty when fine)."""
    problems: list[str] = []
    if not CLIENT_ID_PATTERN.match(client.client_id):
        problems.append("client_id: 1 to 128 letters, digits or . _ : ~ -")
    if not client.redirect_uris:
        problems.append("redirect_uris: at least one")
    if problem := name_problem(client.client_name):
        problems.append(f"client_name: {problem}")
    for name in ("redirect_uris", "post_logout_redirect_uris"):
        for uri in getattr(client, name):
            if problem := uri_problem(uri, production=production):
                problems.append(f"{name}: {problem}")
    backchannel = client.backchannel_logout_uri
    if backchannel and (problem := endpoint_problem(backchannel, production=production)):
        problems.append(f"backchannel_logout_uri: {problem}")
    problems += _auth_problems(client)
    if "openid" not in client.scopes or set(client.scopes) - set(SUPPORTED_SCOPES):
        problems.append(f"scopes: must include openid, from {', '.join(SUPPORTED_SCOPES)}")
    if not client.grant_types or set(client.grant_types) - set(GRANT_TYPES) \
            or "authorization_code" not in client.grant_types:
        problems.append("grant_types: authorization_code, optionally refresh_token")
    if client.id_token_signed_response_alg not in ALGORITHMS:
        problems.append(f"id_token_signed_response_alg: one of {', '.join(ALGORITHMS)} (never none)")
    if client.subject_type not in SUBJECT_TYPES:
        problems.append("subject_type: public or pairwise")
    elif client.subject_type == "pairwise" and not _HOST.match(client.sector):
        problems.append("sector_identifier: required (a host name) when redirect_uris span several hosts")
    return problems


def _auth_problems(client: Client) -> list[str]:
    method = client.token_endpoint_auth_method
    if method not in AUTH_METHODS:
        return [f"token_endpoint_auth_method: one of {', '.join(AUTH_METHODS)}"]
    if method in SECRET_METHODS and not looks_like_hash(client.secret_hash):
        return ["secret_hash: required, made by `gateway keys client-secret`"]
    if method != "private_key_jwt" and client.jwks:
        return ["jwks: only for private_key_jwt"]
    if method == "private_key_jwt" and not (client.jwks and isinstance(client.jwks.get("keys"), list)):
        return ["jwks: a JWK Set (with 'keys') is required for private_key_jwt"]
    if method in ("none", "private_key_jwt") and client.secret_hash:
        return ["secret_hash: not used with this token_endpoint_auth_method"]
    return []


# -- the clients file --------------------------------------------------------------------------

_FILE_FIELDS = {f.name for f in dataclasses.fields(Client)} - {
    "registered", "registration_token_hash", "issued_at", "expires_at"}


def client_from_mapping(data: Mapping[str, Any]) -> Client:
    """A :class:`Client` from a TOML table or JSON object; lists become tuples. Raises ValueError."""
    unknown = set(data) - _FILE_FIELDS
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(Client)
    values: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if typing.get_origin(hint) is tuple:
            if isinstance(value, str) or not isinstance(value, (list, tuple)) \
                    or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name}: expected a list of strings")
            value = tuple(value)
        elif hint is bool and not isinstance(value, bool) or hint is str and not isinstance(value, str):
            raise ValueError(f"{name}: expected {'true or false' if hint is bool else 'a string'}")
        values[name] = value
    if "client_id" not in values:
        raise ValueError("client_id: missing")
    return Client(**values)


def load_clients(path: Path, *, production: bool) -> dict[str, Client]:
    """The configured clients by id; a missing file means none. Raises ClientConfigError (every problem)."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ClientConfigError([f"{path}: {exc}"]) from exc
    problems: list[str] = []
    if production and data.get("dev_only"):
        problems.append(f"{path}: a development-only clients file in production mode")
    clients: dict[str, Client] = {}
    for index, table in enumerate(data.get("clients", [])):
        where = f"{path}: clients[{index}]"
        try:
            client = client_from_mapping(table)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        for problem in client_problems(client, production=production):
            problems.append(f"{where} ({client.client_id}): {problem}")
        if client.client_id in clients:
            problems.append(f"{where}: client_id {client.client_id!r} is listed twice")
        clients[client.client_id] = client
    unknown = sorted(set(data) - {"clients", "dev_only"})
    if unknown:
        problems.append(f"{path}: unknown top-level key(s) {', '.join(unknown)}")
    if problems:
        raise ClientConfigError(problems)
    return clients


class Registrations:
    """Dynamically registered clients in Redis."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def get(self, client_id: str) -> Client | None:
        if not CLIENT_ID_PATTERN.match(client_id or ""):
            return None
        record = self.store.get(("oidc", "client", client_id))
        return None if record is None else client_from_record(record)

    def save(self, client: Client) -> None:
        ttl = client.expires_at - int(self.clock())
        self.store.put(("oidc", "client", client.client_id), client_to_record(client), ttl=max(ttl, 1))

    def delete(self, client_id: str) -> None:
        self.store.redis.delete(key("oidc", "client", client_id))


def client_to_record(client: Client) -> dict[str, Any]:
    return cast("dict[str, Any]", json.loads(json.dumps(dataclasses.asdict(client))))  # tuples -> lists


def client_from_record(record: Mapping[str, Any]) -> Client:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
    return Client(**values)
