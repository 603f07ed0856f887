"""Typed settings, loaded once: defaults -> TOML file -> ``GATEWAY_*`` environment.

The schema *is* the frozen dataclasses below: every field is a key, its type
annotation says how to parse it, and ``secret()`` marks the keys that may also
come from a file (``<key>_file``) and must never hold a development value in
production mode.

Top-level keys sit at the root of the TOML file and map to ``GATEWAY_<KEY>``;
keys of a section ``[redis]`` map to ``GATEWAY_REDIS_<KEY>``. ``REDIS_URL`` is
honoured too (below ``GATEWAY_REDIS_URL``), as most hosting platforms set it.

:func:`load_settings` collects *every* problem and raises one
:class:`ConfigError` listing them, so an operator fixes a file in one pass.

Each protocol owns its section and that section's checks:
:mod:`gateway.saml.settings` (``[saml]``) and :mod:`gateway.oidc.settings`
(``[oidc]``); this module composes them into :class:`Settings` and runs every
check once (:func:`check_settings`). The pieces every section is built with
(``secret()``, the project's folders) live in :mod:`gateway.configbase`.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from limits import parse_many

from .configbase import DEV_CONFIG_DIR, ROOT, secret  # noqa: F401 - ROOT: read from here by the rest
from .oidc.settings import OidcSettings
from .saml.settings import SamlSettings

#: Development secrets start with this marker; production refuses them.
DEV_SECRET_MARKER = "dev-only-"
MODES = ("development", "production")
#: The shortest SCIM bearer token production accepts (random characters, e.g. token_urlsafe(32)).
MIN_SCIM_TOKEN = 32
#: What a service's bearer token may open (``scim.token_scopes``).
TOKEN_SCOPES = ("scim", "support")


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    """Where accounts, sessions and one-time codes live."""

    url: str = secret("redis://127.0.0.1:6379/0")
    #: ``host:port`` of each Sentinel; when set, ``url`` only supplies db/password/TLS.
    sentinels: tuple[str, ...] = ()
    sentinel_service: str = "mymaster"
    sentinel_password: str = secret("")
    socket_timeout: float = 2.0
    connect_timeout: float = 1.0
    max_connections: int = 64
    #: The /healthz probe gives up after this many seconds.
    health_timeout: float = 0.5
    #: Replicas that must hold an account write before it is acknowledged (Redis WAIT); 0: do not wait.
    wait_replicas: int = 0
    #: How long an account write waits for them; fewer in time: the write is refused with a 503.
    wait_timeout_ms: int = 1000


@dataclasses.dataclass(frozen=True)
class PasswordSettings:
    """argon2id parameters (see README, "Password hashing"). Changing them rehashes at sign-in."""

    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1
    #: Hashes computed at once per worker process (the others wait their turn): with one
    #: worker per core, 1 keeps cores from thrashing and leaves threads free for cheap requests.
    concurrency: int = 1


@dataclasses.dataclass(frozen=True)
class ScimSettings:
    """Provisioning API for the authorised service ("cockpit")."""

    #: service name -> bearer token. Give it from the environment or a file in production, where
    #: each token must be at least :data:`MIN_SCIM_TOKEN` characters long.
    tokens: dict[str, str] = secret({})
    #: service name -> {addresses = [domains], scopes = [eppn scopes]}: what that service may write
    #: (see gateway/scim/reach.py). "*" allows any; "*.example.fr" any subdomain. A service without
    #: an entry is not limited.
    reach: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: service name -> what its token opens, among :data:`TOKEN_SCOPES`: "scim" (the SCIM API) and
    #: "support" (the support API, /support/v1). A service without an entry has ["scim"].
    token_scopes: dict[str, Any] = dataclasses.field(default_factory=dict)

    def scopes_of(self, service: str) -> tuple[str, ...]:
        """What ``service``'s token opens (``token_scopes``, by default the SCIM API only)."""
        return tuple(self.token_scopes.get(service, ("scim",)))

    def problems(self, production: bool, scopes: tuple[str, ...]) -> list[str]:
        """Token lengths in production, the shape of ``reach`` (its scopes among ``scopes``) and of
        ``token_scopes``."""
        found = []
        for name, listed in sorted(self.token_scopes.items()):
            if name not in self.tokens:
                found.append(f"scim.token_scopes.{name}: no token in scim.tokens for this service")
            if not isinstance(listed, list) or not set(listed) <= set(TOKEN_SCOPES) \
                    or not all(isinstance(v, str) for v in listed):
                found.append(f"scim.token_scopes.{name}: a list drawn from {', '.join(TOKEN_SCOPES)}")
        for name, token in sorted(self.tokens.items()):
            if production and len(token) < MIN_SCIM_TOKEN:
                found.append(f"scim.tokens.{name}: too short (at least {MIN_SCIM_TOKEN} random characters in "
                             "production; python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        for name, table in sorted(self.reach.items()):
            where = f"scim.reach.{name}"
            if name not in self.tokens:
                found.append(f"{where}: no token in scim.tokens for this service")
            if not isinstance(table, Mapping) or set(table) - {"addresses", "scopes"}:
                found.append(f"{where}: a table with addresses and scopes (lists of strings) only")
                continue
            for part in ("addresses", "scopes"):
                values = table.get(part, [])
                if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                    found.append(f"{where}.{part}: a list of strings")
            listed = table.get("scopes", [])
            unknown = sorted({v for v in listed if isinstance(v, str)} - {"*", *scopes})
            if isinstance(listed, list) and unknown:
                found.append(f"{where}.scopes: {', '.join(unknown)} not in saml.scope or saml.extra_scopes")
        return found


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    """The SSO session: an opaque id in a cookie, the record in Redis."""

    cookie_name: str = "uness_session"
    #: "Se souvenir de moi" checked: the session survives browser restarts this long.
    remember_days: int = 30
    #: Unchecked: ends after this much inactivity...
    idle_minutes: int = 480
    #: ...and at the latest this long after sign-in.
    absolute_minutes: int = 720
    #: A session that has not signed in yet (address step, CSRF token) lives this long.
    anonymous_minutes: int = 30


@dataclasses.dataclass(frozen=True)
class MailSettings:
    """Outgoing mail (SMTP), sent by the mail worker from a queue in Redis."""

    server: str = "127.0.0.1"
    port: int = 25
    #: "none", "starttls" or "tls"
    security: str = "starttls"
    username: str = ""
    password: str = secret("")
    sender: str = "UNESS <ne-pas-repondre@uness.fr>"
    #: Message-ID right-hand side; never the host's own name.
    message_id_domain: str = "uness.fr"
    timeout: float = 10.0
    #: Seconds between delivery attempts while SMTP fails; the job is kept (failed registry) after the last.
    retry_intervals: tuple[int, ...] = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 3600, 3600, 3600)
    #: Days each mail's fate (accepted, retrying, refused...) is kept for the pages and support (1 to 30).
    fate_days: int = 7
    #: Minutes after a mail was accepted before the pages explain challenge-response anti-spam
    #: filters such as Mailinblack (0 to 1440).
    filter_hint_minutes: int = 3


@dataclasses.dataclass(frozen=True)
class CodeSettings:
    """Lifetimes of what is sent by mail."""

    reset_minutes: int = 30
    signin_code_minutes: int = 10
    signin_code_attempts: int = 5
    activation_minutes: int = 60
    email_verification_minutes: int = 30


@dataclasses.dataclass(frozen=True)
class SupportSettings:
    """Support tools (README "Support"): the per-account activity history and the codes read out by phone."""

    #: Each account's recent activity (sign-ins, failures, mails, changes, delays) is kept this long...
    history_days: int = 30
    #: ...and at most this many entries (the oldest go first).
    history_size: int = 100
    #: A code given by support (``gateway support code``) works this long, once.
    code_minutes: int = 15

    def problems(self) -> list[str]:
        return [f"support.{f.name}: must be at least 1" for f in dataclasses.fields(self)
                if getattr(self, f.name) < 1]


@dataclasses.dataclass(frozen=True)
class LimitSettings:
    """Rate limits, in Flask-Limiter notation ("10/minute;100/hour"), counted in Redis.

    Every counter is keyed by something an attacker cannot spend for someone else:
    the client (an IPv4 address, an IPv6 /64), the pair (typed address, client), or
    a browser that signed in to the account before (the known-device cookie). The
    only counters shared by every client are ceilings set far above what one person
    uses (``mail_per_address``) and the account-wide delays, which a known device skips.
    """

    enabled: bool = True
    #: address step: every answer to a client (successes too), and unknown addresses only
    address_per_client: str = "600/minute;6000/hour"
    unknown_per_client: str = "30/minute;300/hour"
    #: address step, per (typed address, client): hammering someone's address refuses only the hammerer
    address_per_address_client: str = "10/minute;60/hour"
    #: password step, every try from a client (wrong ones also count in throttle_client)
    password_per_client: str = "600/minute;6000/hour"
    #: sign-in code, activation and reset mails: per (address, client), per client, and a
    #: ceiling per address over every client (far above one person's use)
    mail_per_address_client: str = "3/10minute;10/day"
    mail_per_client: str = "20/hour"
    mail_per_address: str = "20/hour;40/day"
    #: typing a code (sign-in, activation, address verification)
    code_per_client: str = "30/minute"
    #: SCIM requests with a missing or wrong bearer token, per client; over it: 429 for every request
    scim_auth_per_client: str = "10/minute;50/hour"
    #: wrong passwords before delays start: per (account, client) and per (account, known
    #: device), per account (browsers without a known-device cookie only), per client
    throttle_pair: int = 5
    throttle_account: int = 10
    throttle_client: int = 100
    #: the delay doubles with each further failure, up to this many seconds
    throttle_max_delay: int = 900
    #: Networks (CIDR) whose many people share one address (a hospital's NAT): their
    #: per-client rules are the trusted_* ones below instead.
    trusted_networks: tuple[str, ...] = ()
    trusted_address_per_client: str = "3000/minute;30000/hour"
    trusted_unknown_per_client: str = "300/minute;3000/hour"
    trusted_password_per_client: str = "3000/minute;30000/hour"
    trusted_mail_per_client: str = "1000/hour"
    trusted_code_per_client: str = "600/minute"
    trusted_throttle_client: int = 1000

    def problems(self) -> list[str]:
        """Rules that do not parse and networks that are not CIDR, one line each."""
        found = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "str" and not _is_rule(value):
                found.append(f"limits.{field.name}: not a rule like \"10/minute;100/hour\": {value!r}")
            elif field.type == "int" and value < 1:
                found.append(f"limits.{field.name}: must be at least 1")
        for network in self.trusted_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                found.append(f"limits.trusted_networks: not a network (CIDR): {network!r}")
        return found


def _is_rule(value: str) -> bool:
    try:
        return bool(parse_many(value))
    except ValueError:
        return False


ACCESSIBILITY = ("non", "partiellement", "totalement")
_FOOTER_SCHEMES = ("https://", "http://", "mailto:")


@dataclasses.dataclass(frozen=True)
class SiteSettings:
    """What every page shows around its form (gateway/web/site.py): establishments by name, the footer.

    Footer addresses and texts are by language ("fr", "en"); a language not given uses French, then
    any other. A link without an address is left out; the accessibility mention always shows.
    """

    #: supannEtablissement code -> name shown on "Mes informations" ("{UAI}0751717J" = "Université
    #: Paris Cité"); a code not listed shows as it is.
    establishments: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Conformity declared by the accessibility statement: "non", "partiellement" or "totalement".
    accessibility: str = "non"
    accessibility_url: dict[str, str] = dataclasses.field(default_factory=dict)
    legal_notice_url: dict[str, str] = dataclasses.field(default_factory=dict)
    personal_data_url: dict[str, str] = dataclasses.field(default_factory=dict)
    help_url: dict[str, str] = dataclasses.field(default_factory=dict)
    #: https: or mailto: address of the help desk.
    contact_url: dict[str, str] = dataclasses.field(default_factory=dict)
    #: A sentence above the footer's links (who helps with signing in).
    help_text: dict[str, str] = dataclasses.field(default_factory=dict)

    def problems(self) -> list[str]:
        """An unknown conformity, a language other than fr/en, an address that is not a link."""
        found = []
        if self.accessibility not in ACCESSIBILITY:
            found.append(f"site.accessibility: one of {', '.join(ACCESSIBILITY)}, not {self.accessibility!r}")
        for name in ("accessibility_url", "legal_notice_url", "personal_data_url", "help_url", "contact_url",
                     "help_text"):
            for lang, value in sorted(getattr(self, name).items()):
                if lang not in ("fr", "en"):
                    found.append(f"site.{name}: languages are fr and en, not {lang!r}")
                elif name.endswith("_url") and value and not value.startswith(_FOOTER_SCHEMES):
                    found.append(f"site.{name}.{lang}: an https:, http: or mailto: address, not {value!r}")
        return found


@dataclasses.dataclass(frozen=True)
class MetricsSettings:
    """``/metrics`` (Prometheus), served apart from the public site (README "Metrics")."""

    #: host:port of the metrics listener that gunicorn's master starts; "" turns it off.
    bind: str = "127.0.0.1:9100"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the gateway reads from configuration."""

    mode: str = "production"
    #: The one public base URL: mail links, SAML entityID, OIDC issuer derive from it.
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = secret("")
    #: Set when running on plain http on localhost (development); cookies lose ``Secure``.
    insecure_http: bool = False
    redis: RedisSettings = dataclasses.field(default_factory=RedisSettings)
    passwords: PasswordSettings = dataclasses.field(default_factory=PasswordSettings)
    scim: ScimSettings = dataclasses.field(default_factory=ScimSettings)
    sessions: SessionSettings = dataclasses.field(default_factory=SessionSettings)
    mail: MailSettings = dataclasses.field(default_factory=MailSettings)
    codes: CodeSettings = dataclasses.field(default_factory=CodeSettings)
    limits: LimitSettings = dataclasses.field(default_factory=LimitSettings)
    support: SupportSettings = dataclasses.field(default_factory=SupportSettings)
    # Each protocol owns its section (gateway/saml/settings.py, gateway/oidc/settings.py).
    saml: SamlSettings = dataclasses.field(default_factory=SamlSettings)
    oidc: OidcSettings = dataclasses.field(default_factory=OidcSettings)
    metrics: MetricsSettings = dataclasses.field(default_factory=MetricsSettings)
    site: SiteSettings = dataclasses.field(default_factory=SiteSettings)
    #: Languages of the interface, the first is the default.
    languages: tuple[str, ...] = ("fr", "en")
    #: The file the settings came from, if any (not a key).
    source: str = dataclasses.field(default="", metadata={"internal": True})

    @property
    def is_production(self) -> bool:
        return self.mode == "production"


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings`. Raises :class:`ConfigError` with every problem found.

    ``overrides`` (as a nested mapping shaped like the TOML file) wins over the
    environment; the app factory and the tests use it.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = env.get("GATEWAY_CONFIG", "")
    if path:
        data = _read_toml(Path(path), problems)
    loader = _Loader(env, problems)
    settings = typing.cast(Settings, loader.build(Settings, data, dict(overrides or {}), prefix=""))
    if path:
        settings = dataclasses.replace(settings, source=path)
    problems.extend(check_settings(settings, loader.secret_files))
    if problems:
        raise ConfigError(problems)
    return settings


def check_settings(settings: Settings, secret_files: Mapping[str, str] | None = None) -> list[str]:
    """Every check of the settings, each section's own included, run once: mode, URLs, no development secret
    in production, and the rules of each section (``problems``), the protocols' from their own modules."""
    problems: list[str] = []
    if settings.mode not in MODES:
        problems.append(f"mode: must be one of {', '.join(MODES)}, not {settings.mode!r}")
    if not settings.public_url.startswith(("http://", "https://")):
        problems.append(f"public_url: must be an http(s) URL, not {settings.public_url!r}")
    if not settings.secret_key:
        problems.append("secret_key: missing (set GATEWAY_SECRET_KEY or secret_key_file)")
    elif len(settings.secret_key) < 32:
        problems.append("secret_key: too short (at least 32 characters)")
    if settings.passwords.memory_cost < 8 * settings.passwords.parallelism:
        problems.append("passwords.memory_cost: must be at least 8 KiB per lane")
    for name in ("time_cost", "parallelism", "concurrency"):
        if getattr(settings.passwords, name) < 1:
            problems.append(f"passwords.{name}: must be at least 1")
    if settings.mail.security not in ("none", "starttls", "tls"):
        problems.append(f"mail.security: must be none, starttls or tls, not {settings.mail.security!r}")
    if not 1 <= settings.mail.fate_days <= 30:
        problems.append(f"mail.fate_days: from 1 to 30, not {settings.mail.fate_days}")
    if not 0 <= settings.mail.filter_hint_minutes <= 1440:
        problems.append(f"mail.filter_hint_minutes: from 0 to 1440, not {settings.mail.filter_hint_minutes}")
    if not settings.languages or any(lang not in ("fr", "en") for lang in settings.languages):
        problems.append("languages: a list drawn from fr, en")
    if settings.redis.wait_replicas < 0 or settings.redis.wait_timeout_ms < 1:
        problems.append("redis.wait_replicas: 0 or more; redis.wait_timeout_ms: at least 1")
    problems.extend(settings.limits.problems())
    problems.extend(settings.site.problems())
    problems.extend(settings.support.problems())
    problems.extend(settings.saml.problems(settings.is_production))
    problems.extend(settings.oidc.problems(settings.is_production))
    problems.extend(settings.scim.problems(settings.is_production, settings.saml.scopes))
    if settings.is_production:
        problems.extend(_production_problems(settings, secret_files or {}))
    return problems


def _production_problems(settings: Settings, secret_files: Mapping[str, str]) -> list[str]:
    problems = []
    if not settings.public_url.startswith("https://"):
        problems.append("public_url: must be https in production mode")
    if settings.insecure_http:
        problems.append("insecure_http: not allowed in production mode")
    for key, value in _secret_values(settings):
        if _is_dev_secret(value):
            problems.append(f"{key}: a development secret in production mode")
    for key, file in secret_files.items():
        if Path(file).resolve().is_relative_to(DEV_CONFIG_DIR):
            problems.append(f"{key}: read from {file}, a development file, in production mode")
    return problems


def _is_dev_secret(value: Any) -> bool:
    if isinstance(value, str):
        return DEV_SECRET_MARKER in value
    if isinstance(value, Mapping):
        return any(_is_dev_secret(v) for v in value.values())
    return False


def _secret_values(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            found.extend(_secret_values(value, f"{prefix}{f.name}."))
        elif f.metadata.get("secret"):
            found.append((prefix + f.name, value))
    return found


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.append(f"GATEWAY_CONFIG: no such file: {path}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror}")
    return {}


class _Loader:
    """Walks a settings dataclass, reading each key from overrides, env, then TOML."""

    def __init__(self, env: Mapping[str, str], problems: list[str]) -> None:
        self.env = env
        self.problems = problems
        self.secret_files: dict[str, str] = {}

    def build(self, cls: type, data: Any, overrides: dict[str, Any], prefix: str) -> Any:
        if not isinstance(data, dict):
            self.problems.append(f"{prefix.rstrip('.')}: must be a table")
            data = {}
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        secrets = {f"{n}_file" for n, f in fields.items() if f.metadata.get("secret")}
        for key in sorted(set(data) - set(fields) - secrets):
            self.problems.append(f"{prefix}{key}: unknown key")
        values: dict[str, Any] = {}
        for name, f in fields.items():
            hint = hints[name]
            if dataclasses.is_dataclass(hint):
                values[name] = self.build(
                    typing.cast(type, hint), data.get(name, {}), overrides.get(name, {}), f"{prefix}{name}."
                )
                continue
            found = self._raw(prefix, name, f, data, overrides)
            if found is not None:
                raw, origin = found
                parsed = _parse(raw, hint, from_env=origin != "config file")
                if isinstance(parsed, _Invalid):
                    self.problems.append(f"{prefix}{name}: {parsed.reason} (from {origin})")
                else:
                    values[name] = parsed
        return cls(**values)

    def _raw(
        self, prefix: str, name: str, f: dataclasses.Field[Any], data: dict[str, Any], overrides: dict[str, Any]
    ) -> tuple[Any, str] | None:
        key = prefix + name
        env_name = "GATEWAY_" + key.replace(".", "_").upper()
        if name in overrides:
            return overrides[name], "overrides"
        if env_name in self.env:
            return self.env[env_name], env_name
        if key == "redis.url" and "REDIS_URL" in self.env:
            return self.env["REDIS_URL"], "REDIS_URL"
        if f.metadata.get("secret"):
            file = self.env.get(env_name + "_FILE") or data.get(f"{name}_file")
            if file:
                return self._read_secret_file(key, str(file))
        if name in data:
            return data[name], "config file"
        return None

    def _read_secret_file(self, key: str, file: str) -> tuple[Any, str] | None:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.problems.append(f"{key}: cannot read secret file {file}: {exc.strerror}")
            return None
        self.secret_files[key] = file
        return text, f"file {file}"


class _Invalid:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse(raw: Any, hint: Any, from_env: bool) -> Any:
    """Coerce one raw value to ``hint``; strings from the environment are parsed."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and from_env and raw.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return raw.lower() in ("1", "true", "yes", "on")
        return _Invalid(f"expected true or false, got {raw!r}")
    if hint in (int, float):
        if isinstance(raw, bool):
            return _Invalid(f"expected a number, got {raw!r}")
        if isinstance(raw, (int, float)) and (hint is float or isinstance(raw, int)):
            return hint(raw)
        if isinstance(raw, str) and from_env:
            try:
                return hint(raw)
            except ValueError:
                pass
        return _Invalid(f"expected {'an integer' if hint is int else 'a number'}, got {raw!r}")
    if hint is str:
        return raw if isinstance(raw, str) else _Invalid(f"expected a string, got {raw!r}")
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(raw, str) and from_env:
            raw = _env_list(raw)
            if item is int and isinstance(raw, list):
                raw = [int(v) if isinstance(v, str) and v.strip().isdigit() else v for v in raw]
        if isinstance(raw, (list, tuple)) and all(isinstance(v, item) and not isinstance(v, bool) for v in raw):
            return tuple(raw)
        kind = "integers" if item is int else "strings"
        return _Invalid(f"expected a list of {kind}, got {raw!r}")
    if origin is dict:
        if isinstance(raw, str) and from_env:
            try:
                raw = json.loads(raw)
            except ValueError:
                return _Invalid("expected a JSON object")
        any_values = typing.get_args(hint)[1] is Any
        if isinstance(raw, Mapping) and (any_values or all(isinstance(v, str) for v in raw.values())):
            return dict(raw)
        return _Invalid(f"expected a table{'' if any_values else ' of strings'}, got {raw!r}")
    raise TypeError(f"unsupported settings type {hint!r}")  # a programming error, caught by tests


def _env_list(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("["):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return [part.strip() for part in raw.split(",") if part.strip()]

