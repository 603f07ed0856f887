"""A Python port of what Shibboleth SP 3 does with a received Response (checklist H: SHIB01, SHIB02,
SHIB04; TST07).

Sources (cpp-sp 3.x ``configs/``): ``attribute-map.xml`` with the entries Renater
SPs enable by hand (mail, names, affiliations, supannEtablissement, ePTID and the
persistent NameID as ``persistent-id``), ``attribute-policy.xml`` (ScopingRules,
the affiliation whitelist, NameIDQualifierString, ValueMatchesShibMDScope),
``shibboleth2.xml`` (``REMOTE_USER="eppn subject-id pairwise-id persistent-id"``,
``clockSkew="180"``) and ``security-policy.xml`` (MessageFlow ``checkReplay="true"
expires="60"``); the checks of OpenSAML's SAML2POSTDecoder (Destination),
BearerConfirmationRule (checkCorrelation off by default), ConditionsRule and
AudienceRestrictionRule, and SAML2Consumer ("A valid authentication statement
was not found in the incoming message").
"""
from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Sequence

from lxml import etree

from .saml import (BEARER, ENTITY, NS, PERSISTENT, RSA_1_5, SUCCESS, UNSPECIFIED, URI, IdpMetadata, NameId,
                   Refused, decode_response, decrypt_assertion, epoch, is_signed, status_codes)

SP = "Shibboleth SP 3"
EDU = "urn:oid:1.3.6.1.4.1.5923.1.1.1."


class Decoder(enum.Enum):
    STRING = "StringAttributeDecoder"
    SCOPED = "ScopedAttributeDecoder"
    NAME_ID = "NameIDAttributeDecoder"


#: Attribute Name (NameFormat uri, unspecified or absent) -> (id, decoder).
ATTRIBUTE_MAP: dict[str, tuple[str, Decoder]] = {
    "urn:oasis:names:tc:SAML:attribute:subject-id": ("subject-id", Decoder.SCOPED),
    "urn:oasis:names:tc:SAML:attribute:pairwise-id": ("pairwise-id", Decoder.SCOPED),
    EDU + "6": ("eppn", Decoder.SCOPED),
    EDU + "9": ("affiliation", Decoder.SCOPED),
    EDU + "7": ("entitlement", Decoder.STRING),
    EDU + "10": ("persistent-id", Decoder.NAME_ID),
    EDU + "1": ("unscoped-affiliation", Decoder.STRING),
    EDU + "5": ("primary-affiliation", Decoder.STRING),
    "urn:oid:0.9.2342.19200300.100.1.3": ("mail", Decoder.STRING),
    "urn:oid:2.16.840.1.113730.3.1.241": ("displayName", Decoder.STRING),
    "urn:oid:2.5.4.42": ("givenName", Decoder.STRING),
    "urn:oid:2.5.4.4": ("sn", Decoder.STRING),
    "urn:oid:2.5.4.3": ("cn", Decoder.STRING),
    "urn:oid:1.3.6.1.4.1.25178.1.2.9": ("schacHomeOrganization", Decoder.STRING),
    "urn:oid:1.3.6.1.4.1.7135.1.2.1.14": ("supannEtablissement", Decoder.STRING),
}
#: Subject NameID Format -> id (the "Fourth" entry of attribute-map.xml).
NAME_ID_MAP = {PERSISTENT: "persistent-id"}
AFFILIATIONS = frozenset({"faculty", "student", "staff", "alum", "member", "affiliate", "employee",
                          "library-walk-in"})
SCOPED_RULES = frozenset({"affiliation", "subject-id", "pairwise-id", "eppn", "targeted-id"})
REMOTE_USER = ("eppn", "subject-id", "pairwise-id", "persistent-id")


class Rule(enum.Enum):
    """Why a value was lost: the decoder, the attribute-map, or an attribute-policy rule."""

    UNMAPPED = "not in attribute-map.xml"
    DECODER = "the decoder skips it"
    SCOPE = "ScopeMatchesShibMDScope / ValueMatchesShibMDScope"
    VALUES = "eduPersonAffiliationValues whitelist"
    QUALIFIERS = "NameIDQualifierString"


@dataclasses.dataclass(frozen=True)
class Dropped:
    attribute: str  # the id, or the SAML Name when unmapped
    value: str
    rule: Rule
    reason: str


@dataclasses.dataclass(frozen=True)
class Session:
    """What the application behind the SP sees: status, attributes (by id), REMOTE_USER, drops."""

    status: tuple[str, ...]
    attributes: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    remote_user: str | None = None
    dropped: list[Dropped] = dataclasses.field(default_factory=list)
    name_id: NameId | None = None
    session_index: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status[:1] == (SUCCESS,)


class ShibbolethSP:
    """One SP with its entityID and decryption keys, trusting one IdP's metadata."""

    def __init__(self, idp: IdpMetadata, entity_id: str, keys: Sequence[bytes] = (), clock_skew: int = 180,
                 expires: int = 60, check_correlation: bool = False) -> None:
        self.idp = idp
        self.entity_id = entity_id
        self.keys = keys
        self.clock_skew = clock_skew
        self.expires = expires
        self.check_correlation = check_correlation
        self.replay_cache: set[str] = set()
        #: NameQualifiers an OR of NameIDQualifierString rules also accepts (the cut-over runbook's rule)
        self.former_name_qualifiers: frozenset[str] = frozenset()

    def receive(self, saml_response: str, url: str, in_response_to: str | None = None,
                now: float | None = None) -> Session:
        """The SAMLResponse POSTed to ``url``. Raises Refused where the SP shows an error page."""
        now = time.time() if now is None else now
        response = decode_response(saml_response, SP)
        response_signed = self._check_message(response, url, now)
        status = status_codes(response)
        if status[:1] != (SUCCESS,):
            return Session(status)  # SAML2Consumer reports the IdP's error status
        assertion = self._valid_sso_assertion(response, response_signed, url, in_response_to, now)
        statement = assertion.find("saml:AuthnStatement", NS)
        attributes, dropped = self._attributes(assertion)
        name_id = assertion.find("saml:Subject/saml:NameID", NS)
        remote_user = next((attributes[i][0] for i in REMOTE_USER if attributes.get(i)), None)
        return Session(status, attributes, remote_user, dropped, NameId.of(name_id) if name_id is not None else None,
                       statement.get("SessionIndex"))

    # -- the message: SAML2POSTDecoder and the MessageFlow / XMLSigning rules -----------------------

    def _check_message(self, response: etree._Element, url: str, now: float) -> bool:
        if response.get("Version") != "2.0":
            raise Refused(SP, f"Version {response.get('Version')!r}")
        signed = self._issuer_and_signature(response, None)
        destination = response.get("Destination")
        if signed and not destination:
            raise Refused(SP, "Signed SAML message missing Destination attribute identifying intended destination.")
        if destination and destination != url.split("?", 1)[0]:
            raise Refused(SP, f"SAML message delivered with POST to incorrect server URL: Destination "
                              f"{destination!r}, delivered to {url!r}")
        self._fresh_and_unseen(response, now)
        return signed

    def _issuer_and_signature(self, element: etree._Element, expected_issuer: str | None) -> bool:
        """Check Issuer (a known IdP, entity format, the same as the Response's) and the signature;
        True when signed.
        """
        issuer = element.find("saml:Issuer", NS)
        name = etree.QName(element).localname
        if issuer is None:
            raise Refused(SP, f"{name} without Issuer")
        if issuer.get("Format") not in (None, ENTITY):
            raise Refused(SP, f"Issuer Format {issuer.get('Format')!r} is not entity")
        if issuer.text != self.idp.entity_id or expected_issuer not in (None, issuer.text):
            raise Refused(SP, f"unknown or mismatched Issuer {issuer.text!r} on the {name}")
        return is_signed(element, self.idp.signing_certs, SP)

    def _fresh_and_unseen(self, element: etree._Element, now: float) -> None:
        """MessageFlow checkReplay="true" expires="60" (+ clock skew): SHIB01."""
        name = etree.QName(element).localname
        issued = epoch(element.get("IssueInstant", "1970-01-01T00:00:00Z"))
        if issued > now + self.clock_skew:
            raise Refused(SP, f"{name} IssueInstant {element.get('IssueInstant')} is in the future")
        if issued < now - self.expires - self.clock_skew:
            raise Refused(SP, f"{name} expired: IssueInstant {element.get('IssueInstant')}")
        if element.get("ID") in self.replay_cache:
            raise Refused(SP, f"replay of the {name} ID {element.get('ID')}")
        self.replay_cache.add(element.get("ID", ""))

    # -- the assertion: SAML2Consumer, ConditionsRule, BearerConfirmationRule ---------------------

    def _valid_sso_assertion(self, response: etree._Element, response_signed: bool, url: str,
                             in_response_to: str | None, now: float) -> etree._Element:
        issuer = response.findtext("saml:Issuer", namespaces=NS)
        assertions = response.findall("saml:Assertion", NS)
        for encrypted in response.iterfind("saml:EncryptedAssertion", NS):
            try:
                assertions.append(decrypt_assertion(encrypted, self.keys, forbidden=(RSA_1_5,)))
            except ValueError as problem:
                raise Refused(SP, f"EncryptedAssertion: {problem}") from None
        for assertion in assertions:
            signed = self._issuer_and_signature(assertion, issuer)
            if not (signed or response_signed):
                raise Refused(SP, "unable to establish security of assertion (neither it nor the Response is signed)")
            self._fresh_and_unseen(assertion, now)
            self._check_conditions(assertion, now)
            self._check_bearer(assertion, url, in_response_to or response.get("InResponseTo"), now)
        with_statement = [a for a in assertions if a.find("saml:AuthnStatement", NS) is not None]
        if not with_statement:
            raise Refused(SP, "A valid authentication statement was not found in the incoming message.")
        statement = with_statement[0].find("saml:AuthnStatement", NS)
        if epoch(statement.get("AuthnInstant", "1970-01-01T00:00:00Z")) > now + self.clock_skew:
            raise Refused(SP, f"AuthnInstant {statement.get('AuthnInstant')} is in the future")
        if statement.get("SessionNotOnOrAfter") and epoch(statement.get("SessionNotOnOrAfter")) <= now:
            raise Refused(SP, "SessionNotOnOrAfter is already past: the session would end at once")
        return with_statement[0]

    def _check_conditions(self, assertion: etree._Element, now: float) -> None:
        conditions = assertion.find("saml:Conditions", NS)
        if conditions is None:
            raise Refused(SP, "assertion without Conditions: no AudienceRestriction for this SP")
        if conditions.get("NotBefore") and epoch(conditions.get("NotBefore")) > now + self.clock_skew:
            raise Refused(SP, "Assertion is not yet valid (Conditions NotBefore)")
        if conditions.get("NotOnOrAfter") and epoch(conditions.get("NotOnOrAfter")) <= now - self.clock_skew:
            raise Refused(SP, "Assertion is no longer valid (Conditions NotOnOrAfter)")
        restrictions = conditions.findall("saml:AudienceRestriction", NS)
        if not restrictions:
            raise Refused(SP, "no AudienceRestriction naming this SP")
        for restriction in restrictions:
            audiences = [a.text for a in restriction.iterfind("saml:Audience", NS)]
            if self.entity_id not in audiences:
                raise Refused(SP, f"Assertion contains an unacceptable AudienceRestriction {audiences}")
        unknown = [etree.QName(c).localname for c in conditions
                   if etree.QName(c).localname not in ("AudienceRestriction", "OneTimeUse")]
        if unknown:
            raise Refused(SP, f"unknown Conditions {unknown}")

    def _check_bearer(self, assertion: etree._Element, url: str, in_response_to: str | None,
                      now: float) -> None:
        """BearerConfirmationRule (checkValidity, checkRecipient on; checkCorrelation as configured)."""
        problem = "Assertion contained no bearer SubjectConfirmation"
        for confirmation in assertion.iterfind("saml:Subject/saml:SubjectConfirmation", NS):
            data = confirmation.find("saml:SubjectConfirmationData", NS)
            if confirmation.get("Method") != BEARER or data is None:
                continue
            if not data.get("NotOnOrAfter"):
                problem = "bearer SubjectConfirmationData missing NotOnOrAfter attribute"
            elif self.check_correlation and in_response_to and data.get("InResponseTo") != in_response_to:
                problem = "bearer confirmation failed with request correlation mismatch"
            elif data.get("Recipient") != url.split("?", 1)[0]:
                problem = f"bearer confirmation failed with recipient mismatch ({data.get('Recipient')!r})"
            elif data.get("NotBefore") and epoch(data.get("NotBefore")) > now + self.clock_skew:
                problem = "bearer confirmation failed with NotBefore in future"
            elif epoch(data.get("NotOnOrAfter")) <= now - self.clock_skew:
                problem = "bearer confirmation failed with NotOnOrAfter in past"
            else:
                return
        raise Refused(SP, problem)

    # -- attributes: attribute-map.xml, then attribute-policy.xml -------------------------------

    def _attributes(self, assertion: etree._Element) -> tuple[dict[str, list[str]], list[Dropped]]:
        decoded: list[tuple[str, str, NameId | tuple[str, str] | str]] = []  # (id, shown value, raw)
        dropped: list[Dropped] = []
        name_id = assertion.find("saml:Subject/saml:NameID", NS)
        if name_id is not None and name_id.get("Format") in NAME_ID_MAP:
            decoded.append(self._name_id_value(NAME_ID_MAP[name_id.get("Format")], NameId.of(name_id)))
        for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
            name = attribute.get("Name", "")
            mapped = ATTRIBUTE_MAP.get(name) if attribute.get("NameFormat") in (None, URI, UNSPECIFIED) else None
            values = attribute.findall("saml:AttributeValue", NS)
            if mapped is None:
                dropped += [Dropped(name, "".join(v.itertext()), Rule.UNMAPPED,
                                    f"{name} (NameFormat {attribute.get('NameFormat')}) is not mapped")
                            for v in values]
                continue
            for value in values:
                result = self._decode(mapped, value)
                if isinstance(result, Dropped):
                    dropped.append(result)
                else:
                    decoded.append(result)
        attributes: dict[str, list[str]] = {}
        for attribute_id, shown, raw in decoded:
            reason = self._policy_problem(attribute_id, raw)
            if reason:
                dropped.append(Dropped(attribute_id, shown, *reason))
            else:
                attributes.setdefault(attribute_id, []).append(shown)
        return attributes, dropped

    def _decode(self, mapped: tuple[str, Decoder], value: etree._Element):
        attribute_id, decoder = mapped
        if decoder is Decoder.NAME_ID:
            name_id = value.find("saml:NameID", NS)
            if name_id is None:
                return Dropped(attribute_id, "".join(value.itertext()), Rule.DECODER,
                               "NameIDAttributeDecoder: AttributeValue without a saml:NameID")
            return self._name_id_value(attribute_id, NameId.of(name_id))
        text = value.text or ""
        if len(value):
            return Dropped(attribute_id, etree.tostring(value).decode(), Rule.DECODER, "complex AttributeValue")
        if not text:
            return Dropped(attribute_id, text, Rule.DECODER, "empty AttributeValue")
        if decoder is Decoder.STRING:
            return attribute_id, text, text
        unscoped, at, scope = text.partition("@")  # strchr: the first "@"
        if not at or not scope:
            return Dropped(attribute_id, text, Rule.DECODER, "ScopedAttributeDecoder: unscoped AttributeValue")
        return attribute_id, text, (unscoped, scope)

    def _name_id_value(self, attribute_id: str, name_id: NameId) -> tuple[str, str, NameId]:
        """``$NameQualifier!$SPNameQualifier!$Name`` with defaultQualifiers="true"."""
        filled = dataclasses.replace(name_id, name_qualifier=name_id.name_qualifier or self.idp.entity_id,
                                     sp_name_qualifier=name_id.sp_name_qualifier or self.entity_id)
        return attribute_id, f"{filled.name_qualifier}!{filled.sp_name_qualifier}!{filled.value}", filled

    def _policy_problem(self, attribute_id: str, raw: NameId | tuple[str, str] | str) -> tuple[Rule, str] | None:
        """The attribute-policy.xml rule that drops this value, or None."""
        if attribute_id in ("affiliation", "unscoped-affiliation", "primary-affiliation"):
            value = raw[0] if isinstance(raw, tuple) else str(raw)
            if value.lower() not in AFFILIATIONS:  # caseSensitive="false"
                return Rule.VALUES, f"{value!r} is not an eduPersonAffiliation value"
        if attribute_id in SCOPED_RULES and isinstance(raw, tuple):
            if "@" in raw[0] or raw[1] not in self.idp.scopes:
                return Rule.SCOPE, f"scope {raw[1]!r} is not a shibmd:Scope of the IdP {sorted(self.idp.scopes)}"
        if attribute_id == "schacHomeOrganization" and raw not in self.idp.scopes:
            return Rule.SCOPE, f"{raw!r} is not a shibmd:Scope of the IdP"
        if attribute_id == "persistent-id" and isinstance(raw, NameId):
            accepted = {self.idp.entity_id, *self.former_name_qualifiers}
            if raw.name_qualifier not in accepted or raw.sp_name_qualifier != self.entity_id:
                return Rule.QUALIFIERS, (f"qualifiers {raw.name_qualifier!r}/{raw.sp_name_qualifier!r} are not "
                                         f"{self.idp.entity_id!r}/{self.entity_id!r}")
        return None
