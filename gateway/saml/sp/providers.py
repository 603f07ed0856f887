"""The SPs the gateway answers, read from pysaml2's metadata store into typed values.

pysaml2 parses the metadata files (defusedxml underneath, after our own
:func:`~gateway.saml.wire.xml.check_safe`); this module copies what the IdP needs out of its
nested dicts, so the rest of the package never digs into them. The SPs of the local files are
read at start; those of the aggregates when each is first asked for (:class:`Providers`).
"""
from __future__ import annotations

import dataclasses
import logging
import textwrap
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from saml2.mdstore import MetadataStore

from ..wire.keys import Certificate
from .aggregates import Aggregates
from .policy import DEFAULT, SpPolicy

log = logging.getLogger("gateway.saml.aggregates")

SUBJECT_ID_REQ = "urn:oasis:names:tc:SAML:profiles:subject-id:req"
#: The mdattr:EntityAttributes Name carrying entity categories (REFEDS, NameFormat uri).
ENTITY_CATEGORY = "http://macedir.org/entity-category"
#: REFEDS Research and Scholarship (ATT06). Renater tags its R&S SPs with this same URI: it has no own one.
RESEARCH_AND_SCHOLARSHIP = "http://refeds.org/category/research-and-scholarship"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """An md:IndexedEndpointType (Meta §2.2.3)."""

    binding: str
    location: str
    index: int | None = None
    #: None when the attribute is absent (it matters for the default endpoint, REQ02).
    is_default: bool | None = None


@dataclasses.dataclass(frozen=True)
class ServiceProvider:
    """One SP's SPSSODescriptor, as the IdP uses it."""

    entity_id: str
    acs: tuple[Endpoint, ...]
    slo: tuple[Endpoint, ...] = ()
    authn_requests_signed: bool = False
    want_assertions_signed: bool = False
    #: base64 DER, every signing-capable key (rollover: all are tried, CRY06).
    signing_certs: tuple[str, ...] = ()
    encryption_certs: tuple[Certificate, ...] = ()
    #: md:EncryptionMethod algorithms of the encryption keys (CRY05 picks CBC when no GCM).
    encryption_methods: tuple[str, ...] = ()
    name_id_formats: tuple[str, ...] = ()
    #: md:RequestedAttribute Names and FriendlyNames.
    requested_attributes: frozenset[str] = frozenset()
    #: subject-id:req entity attribute (NID05): "subject-id", "pairwise-id", "none", "any" or None.
    subject_id_req: str | None = None
    #: entity-category values of its md:EntityAttributes (R&S, CoCo…), read once with the metadata.
    entity_categories: frozenset[str] = frozenset()
    #: (xml:lang, mdui:DisplayName) pairs of its mdui:UIInfo (MDUI §2.1.2), in metadata order.
    display_names: tuple[tuple[str, str], ...] = ()
    policy: SpPolicy = DEFAULT

    @property
    def is_research_and_scholarship(self) -> bool:
        """Tagged with the REFEDS R&S entity category (ATT06)."""
        return RESEARCH_AND_SCHOLARSHIP in self.entity_categories


def xs_boolean(value: Any) -> bool:
    """xs:boolean: "true"/"1" are true (REQ05, REQ08)."""
    return str(value).strip() in ("true", "1")


def load_service_providers(mds: MetadataStore,
                           policies: Mapping[str, SpPolicy]) -> dict[str, ServiceProvider]:
    """Every entity with a SAML 2.0 SPSSODescriptor."""
    found = {}
    for entity_id, entity in mds.with_descriptor("spsso").items():
        descriptor = _saml2_descriptor(entity["spsso_descriptor"])
        if descriptor is not None:
            found[entity_id] = _provider(mds, entity_id, descriptor, policies.get(entity_id, DEFAULT))
    return found


class Providers(Mapping[str, ServiceProvider]):
    """Every SP by entityID: those of the local files, read at start, then those of the aggregates,
    each read from its entity when first asked for and kept by the process.

    A kept SP is read again once its aggregate reloads with a changed entity (:meth:`Aggregates.document`
    then gives another object); an SP gone from the aggregate is gone. An entity pysaml2 refuses
    (or whose validUntil has passed) is no SP: one log line, and the refusal is kept until the
    entity changes (requests naming it cost no second parse). Iteration gives every entityID,
    read or not.
    """

    def __init__(self, local: dict[str, ServiceProvider], policies: Mapping[str, SpPolicy],
                 aggregates: Aggregates | None = None) -> None:
        self.local = local
        self.policies = policies
        self.aggregates = aggregates
        #: entityID -> (the entity document it was read from, the SP or None if refused)
        self._read: dict[str, tuple[bytes, ServiceProvider | None]] = {}
        self._reading = threading.Lock()

    def __getitem__(self, entity_id: str) -> ServiceProvider:
        sp = self.local.get(entity_id) or self._remote(entity_id)
        if sp is None:
            raise KeyError(entity_id)
        return sp

    def __iter__(self) -> Iterator[str]:
        remote = self.aggregates.entity_ids() - set(self.local) if self.aggregates else set()
        return iter([*self.local, *sorted(remote)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def configured(self) -> list[ServiceProvider]:
        """The SPs with a ``[saml.sp."<entityID>"]`` table that are in the metadata."""
        return [sp for sp in map(self.get, self.policies) if sp is not None]

    def _remote(self, entity_id: str) -> ServiceProvider | None:
        if self.aggregates is None:
            return None
        document = self.aggregates.document(entity_id)
        if document is None:
            return None
        kept = self._read.get(entity_id)
        if kept is not None and kept[0] is document:
            return kept[1]
        with self._reading:  # one thread reads it; the others then find it kept
            kept = self._read.get(entity_id)
            if kept is not None and kept[0] is document:
                return kept[1]
            sp = self._parse(self.aggregates, entity_id, document)
            self._read[entity_id] = (document, sp)
            return sp

    def _parse(self, aggregates: Aggregates, entity_id: str, document: bytes) -> ServiceProvider | None:
        """The SP of one aggregate entity, or None (logged) when pysaml2 refuses it."""
        try:
            found = load_service_providers(aggregates.metadata(document), self.policies)
        except Exception as exc:  # noqa: BLE001 - pysaml2 raises anything on bad metadata
            log.warning("saml aggregate SP %s: pysaml2 refused its metadata (%s: %s)", entity_id,
                        type(exc).__name__, exc)
            return None
        if entity_id not in found:
            log.warning("saml aggregate SP %s: no usable SAML 2.0 SP role (or past its validUntil)",
                        entity_id)
        return found.get(entity_id)


def _saml2_descriptor(descriptors: list[dict[str, Any]]) -> dict[str, Any] | None:
    for descriptor in descriptors:
        if SAML2_PROTOCOL in descriptor.get("protocol_support_enumeration", "").split():
            return descriptor
    return None


def _provider(mds: MetadataStore, entity_id: str, descriptor: dict[str, Any],
              policy: SpPolicy) -> ServiceProvider:
    signing, encryption, methods = _keys(descriptor.get("key_descriptor", []))
    attributes = mds.entity_attributes(entity_id) or {}
    return ServiceProvider(
        entity_id=entity_id,
        acs=tuple(_endpoint(e) for e in descriptor.get("assertion_consumer_service", [])),
        slo=tuple(_endpoint(e) for e in descriptor.get("single_logout_service", [])),
        authn_requests_signed=xs_boolean(descriptor.get("authn_requests_signed", "false")),
        want_assertions_signed=xs_boolean(descriptor.get("want_assertions_signed", "false")),
        signing_certs=signing, encryption_certs=encryption, encryption_methods=methods,
        name_id_formats=tuple(f["text"].strip() for f in descriptor.get("name_id_format", [])
                              if f.get("text")),
        requested_attributes=_requested(descriptor),
        subject_id_req=next(iter(attributes.get(SUBJECT_ID_REQ, [])), None),
        entity_categories=frozenset(v.strip() for v in attributes.get(ENTITY_CATEGORY, [])),
        display_names=_display_names(mds, entity_id),
        policy=policy,
    )


def _display_names(mds: MetadataStore, entity_id: str) -> tuple[tuple[str, str], ...]:
    """The mdui:DisplayName of each language, by primary subtag (fr-FR is fr; the first one per
    language; blank ones skipped)."""
    names: dict[str, str] = {}
    for uiinfo in mds.mdui_uiinfo(entity_id):
        for element in uiinfo.get("display_name", []):
            text = " ".join(str(element.get("text") or "").split())
            lang = str(element.get("lang") or "").split("-")[0].lower()
            if text and lang not in names:
                names[lang] = text[:200]
    return tuple(names.items())


def _endpoint(raw: dict[str, Any]) -> Endpoint:
    index = raw.get("index")
    default = raw.get("is_default")
    return Endpoint(raw["binding"], raw["location"], int(index) if index is not None else None,
                    None if default is None else xs_boolean(default))


def _keys(descriptors: list[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[Certificate, ...],
                                                      tuple[str, ...]]:
    """Signing certs, encryption certs and methods; a key without ``use`` serves both (Meta §2.4.1.1)."""
    signing: list[str] = []
    encryption: list[Certificate] = []
    methods: list[str] = []
    for key in descriptors:
        use = key.get("use")
        for data in (key.get("key_info") or {}).get("x509_data", []):
            b64 = "".join(data["x509_certificate"]["text"].split())
            if use in (None, "signing") and b64 not in signing:
                signing.append(b64)
            if use in (None, "encryption"):
                encryption.append(Certificate(_pem(b64)))
                methods.extend(m["algorithm"] for m in key.get("encryption_method", []))
    return tuple(signing), tuple(encryption), tuple(methods)


def _pem(b64: str) -> str:
    body = "\n".join(textwrap.wrap(b64, 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def _requested(descriptor: dict[str, Any]) -> frozenset[str]:
    names: set[str] = set()
    for service in descriptor.get("attribute_consuming_service", []):
        for attribute in service.get("requested_attribute", []):
            names.update(n for n in (attribute.get("name"), attribute.get("friendly_name")) if n)
    return frozenset(names)
