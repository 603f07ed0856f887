"""The SAML identity provider's settings (the ``[saml]`` section) and their checks.

The settings of :mod:`gateway.saml`, owned here; :mod:`gateway.config` composes
them into its ``Settings`` and runs :meth:`SamlSettings.problems` with every
other check, so an operator gets one ConfigError listing every problem. This
module imports nothing of :mod:`gateway.saml` nor :mod:`gateway.config` (an
import-linter contract in ``setup.cfg`` holds it): config imports it.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..configbase import DEV_CONFIG_DIR, secret

#: A domain such as univ-exemple.fr: what ``saml.scope`` and ``saml.extra_scopes`` hold.
_SCOPE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclasses.dataclass(frozen=True)
class SamlSettings:
    """The SAML 2.0 identity provider (gateway/saml). Keys are read by the saml package.

    Keys and certificates are PEM text, or ``<key>_file`` naming a PEM file (text
    before ``-----BEGIN`` is ignored). Without ``signing_key`` the IdP uses the
    dev-only pair of config/dev/saml in development mode, and is off (its pages
    answer 404) in production mode. :meth:`problems` holds the SAML rules that span
    keys; :func:`gateway.config.check_settings` runs it with every other check, and
    ``gateway.saml.app.init_app`` adds what the values cannot tell: the per-SP policies
    of ``sp`` and the keys themselves.
    """

    #: Defaults to <public_url>/saml/metadata. Never change it once SPs trust it.
    entity_id: str = ""
    #: Folder of SP metadata files (*.xml) loaded at start (relative: to the repository root).
    sp_metadata_dir: str = "config/saml/sp"
    #: Per-SP overrides, keyed by entityID (release policy, signing, encryption, NameID format):
    #: see gateway/saml/sp/policy.py for the keys.
    sp: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: SECRET. PEM private key signing responses (RSA >= 2048 bits or EC >= 256), and its certificate
    #: (not secret, but it may come from a file too, and never a dev-only one in production).
    signing_key: str = secret("")
    signing_cert: str = secret("")
    #: The next signing certificate: published in metadata ahead of a rollover, never used to sign.
    next_signing_cert: str = secret("")
    #: SECRET. A separate encryption key pair. Only then does metadata offer an encryption key (A05).
    encryption_key: str = secret("")
    encryption_cert: str = secret("")
    #: The gateway's own scope: eppn of accounts without a legacy one, subject-id, pairwise-id.
    scope: str = "uness.fr"
    #: The legacy eppn scopes the gateway may assert (e.g. "univ-lille.fr"), compared byte for byte.
    #: An eppn outside ``scope`` and these is refused when written and never asserted.
    extra_scopes: tuple[str, ...] = ()
    #: Seconds of clock difference tolerated with SPs (AuthnRequest IssueInstant).
    clock_skew: int = 300
    #: Seconds an assertion is valid (Conditions and SubjectConfirmationData NotOnOrAfter).
    assertion_lifetime: int = 300
    #: Minutes an AuthnRequest waits for the person to sign in.
    pending_minutes: int = 30
    #: SessionNotOnOrAfter, in hours after the response (0: omitted; otherwise at least 8, RSP08).
    session_hours: int = 0
    #: "xmlsec": sign in-process (python-xmlsec); "xmlsec1": run the xmlsec1 program per signature.
    crypto_backend: str = "xmlsec"
    #: SOAP back-channel logout (a session ended with no browser to carry the front-channel chain):
    #: HTTP timeout of one attempt (seconds), then the delays between attempts while the SP is down or 5xx.
    backchannel_timeout: float = 5.0
    backchannel_retry_intervals: tuple[int, ...] = (10, 60, 300, 1800)
    #: Metadata validUntil (days from the start of the current UTC day) and cacheDuration (hours).
    metadata_valid_days: int = 14
    metadata_cache_hours: int = 6
    #: Sign /saml/metadata and /saml/metadata/aggregate (enveloped, RSA-SHA256, exc-c14n; A10).
    metadata_signing: bool = True
    #: SECRET. A separate key pair signing the metadata only (a federation's practice: the SPs pin
    #: its certificate); without it, the signing key signs the metadata too.
    metadata_key: str = secret("")
    metadata_cert: str = secret("")
    #: Name of the md:EntitiesDescriptor of /saml/metadata/aggregate; defaults to its URL.
    metadata_aggregate_name: str = ""
    #: mdui:UIInfo and Organization, by language (fr, en).
    display_name: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "fr": "UNESS", "en": "UNESS"})
    description: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "fr": "Connexion des personnes de l'environnement numérique UNESS",
        "en": "Sign-in for the people of the UNESS digital environment"})
    #: Defaults to public_url in each language.
    information_url: dict[str, str] = dataclasses.field(default_factory=dict)
    #: https or data: URI; defaults to <public_url>/saml/static/logo.png (80 x 60).
    logo_url: str = ""
    logo_width: int = 80
    logo_height: int = 60
    organization_name: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "fr": "UNESS", "en": "UNESS"})
    organization_display_name: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "fr": "Université Numérique En Santé et Sport", "en": "Université Numérique En Santé et Sport"})
    organization_url: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "fr": "https://www.uness.fr", "en": "https://www.uness.fr"})
    #: The technical contact's address (md:ContactPerson); required in production when the IdP is on.
    technical_contact: str = ""
    #: The security contact's address (md:ContactPerson, REFEDS remd:contactType security; REN04).
    security_contact: str = ""
    #: Assert REFEDS SIRTFI compliance in the metadata (needs security_contact; REN04).
    sirtfi: bool = False
    #: errorURL of the IdP role; defaults to <public_url>/saml/error.
    error_url: str = ""
    #: Remote SP metadata aggregates (the Renater SP aggregate is the model), each a table
    #: {url (http/https), cert (path of the PEM certificate that must have signed it),
    #: refresh_seconds (default 3600), cache_dir (disk cache, relative: to the repository root)}.
    #: Only SPSSODescriptor entities are used; see gateway/saml/sp/aggregates.py.
    aggregates: tuple[dict, ...] = ()
    #: How often each worker checks (one stat) whether an aggregate's cache file changed.
    aggregate_check_seconds: int = 30

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope the gateway may assert and publishes as shibmd:Scope, sorted (A03)."""
        return tuple(sorted({self.scope, *self.extra_scopes}))

    def problems(self, production: bool) -> list[str]:
        """The SAML rules that span keys (A04, A07, RSP08, RSP09), one line per problem."""
        found = []
        for value in self.scopes:
            if not _SCOPE.fullmatch(value):
                found.append(f"saml.scope, saml.extra_scopes: {value!r} is not a domain "
                             "such as univ-exemple.fr")
        if self.crypto_backend not in ("xmlsec", "xmlsec1"):
            found.append(f"saml.crypto_backend: must be xmlsec or xmlsec1, not {self.crypto_backend!r}")
        if not 0 <= self.clock_skew <= 600:
            found.append("saml.clock_skew: between 0 and 600 seconds")
        if not 30 <= self.assertion_lifetime <= 600:
            found.append("saml.assertion_lifetime: between 30 and 600 seconds")
        if self.session_hours and self.session_hours < 8:
            found.append("saml.session_hours: 0 (omitted) or at least 8 (Shibboleth SP sessions last 8 h)")
        if not 1 <= self.metadata_valid_days <= 28:
            found.append("saml.metadata_valid_days: between 1 and 28")
        if not 0 < self.backchannel_timeout <= 60:
            found.append("saml.backchannel_timeout: more than 0, at most 60 seconds")
        if any(v < 0 for v in self.backchannel_retry_intervals):
            found.append("saml.backchannel_retry_intervals: no negative delay")
        if bool(self.signing_key) != bool(self.signing_cert):
            found.append("saml.signing_key and saml.signing_cert: give both or neither")
        if bool(self.encryption_key) != bool(self.encryption_cert):
            found.append("saml.encryption_key and saml.encryption_cert: give both or neither")
        if bool(self.metadata_key) != bool(self.metadata_cert):
            found.append("saml.metadata_key and saml.metadata_cert: give both or neither")
        for name in ("display_name", "description", "information_url", "organization_name",
                     "organization_display_name", "organization_url"):
            if set(getattr(self, name)) - {"fr", "en"}:
                found.append(f"saml.{name}: languages fr and en only")
        if not 1 <= self.aggregate_check_seconds <= 3600:
            found.append("saml.aggregate_check_seconds: between 1 and 3600")
        for index, table in enumerate(self.aggregates):
            url, cert = table.get("url", ""), table.get("cert", "")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                found.append(f"saml.aggregates[{index}].url: an http(s) URL")
            if not isinstance(cert, str) or not cert:
                found.append(f"saml.aggregates[{index}].cert: the path of the PEM certificate that signs it")
            if not isinstance(table.get("cache_dir", ""), str) or not table.get("cache_dir"):
                found.append(f"saml.aggregates[{index}].cache_dir: a folder for the last good copy")
            refresh = table.get("refresh_seconds", 3600)
            if not isinstance(refresh, int) or isinstance(refresh, bool) or not 60 <= refresh <= 7 * 86400:
                found.append(f"saml.aggregates[{index}].refresh_seconds: between 60 and 604800")
            unknown = sorted(set(table) - {"url", "cert", "refresh_seconds", "cache_dir"})
            if unknown:
                found.append(f"saml.aggregates[{index}]: unknown keys {unknown}")
        if self.sirtfi and not self.security_contact:
            found.append("saml.sirtfi: needs saml.security_contact (SIRTFI requires a security contact)")
        if production:
            found.extend(self._production_problems())
        return found

    def _production_problems(self) -> list[str]:
        found = []
        if self.signing_key and not self.technical_contact:
            found.append("saml.technical_contact: required in production (md:ContactPerson, A07)")
        dev = {self.pem_body(p.read_text(encoding="utf-8")) for p in (DEV_CONFIG_DIR / "saml").glob("*.crt")}
        for name in ("signing_cert", "next_signing_cert", "encryption_cert", "metadata_cert"):
            if self.pem_body(getattr(self, name)) in dev - {""}:
                found.append(f"saml.{name}: the dev-only certificate of config/dev/saml, in production mode")
        return found

    @staticmethod
    def pem_body(text: str) -> str:
        """The base64 of the first PEM block of ``text``, whitespace removed ("" when none)."""
        if "-----BEGIN" not in text:
            return ""
        body = text.split("-----BEGIN", 1)[1].split("-----", 1)[1].split("-----END", 1)[0]
        return "".join(body.split())
