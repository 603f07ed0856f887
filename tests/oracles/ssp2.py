"""A Python port of what a SimpleSAMLphp 2.x SP does with a received Response (checklist I: SSP01; TST07).

Sources: ``modules/saml/src/Message.php`` (processResponse, processAssertion,
checkSign, decryptAssertion, getBlacklistedAlgorithms), the ACS controller
(``modules/saml/src/Controller/ServiceProvider.php``: Issuer, InResponseTo state,
replay, "No AuthnStatement found in assertion(s).") and the parsing rules of
simplesamlphp/saml2 4.x (``Assertion``: one AuthnStatement with AuthnInstant and
an AuthnContext; eduPersonTargetedID values as NameID objects; other values
trimmed text). Defaults: ``assertion.allowed_clock_skew`` 180 s (clamped to
180-300), 60 s on SubjectConfirmationData, ``encryption.blacklisted-algorithms``
[RSA_1_5], ``enable_unsolicited`` true, no oid2name: attributes keep their raw
Name (ATT01).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Sequence

from lxml import etree

from .saml import (BEARER, NS, RSA_1_5, SUCCESS, IdpMetadata, NameId, Refused, decode_response, decrypt_assertion,
                   epoch, is_signed, status_codes)

SP = "SimpleSAMLphp 2"
EPTID = ("urn:oid:1.3.6.1.4.1.5923.1.1.1.10", "urn:mace:dir:attribute-def:eduPersonTargetedID")
_CONFIRMATION_METHODS = (BEARER, "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
                         "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches")


@dataclasses.dataclass(frozen=True)
class Login:
    """The SP's ``$state``: status, attributes by raw Name, NameID, SessionIndex, solicited or not."""

    status: tuple[str, ...]
    attributes: dict[str, list[str | NameId]] = dataclasses.field(default_factory=dict)
    name_formats: dict[str, str | None] = dataclasses.field(default_factory=dict)
    name_id: NameId | None = None
    session_index: str | None = None
    solicited: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status[:1] == (SUCCESS,)


class SimpleSamlSP:
    """One ``saml:SP`` auth source with its entityID and keys, trusting one IdP's metadata."""

    def __init__(self, idp: IdpMetadata, entity_id: str, keys: Sequence[bytes] = (),
                 assertion_encryption: bool = False, allowed_clock_skew: int = 180,
                 enable_unsolicited: bool = True) -> None:
        self.idp = idp
        self.entity_id = entity_id
        self.keys = keys
        self.assertion_encryption = assertion_encryption
        self.skew = min(max(allowed_clock_skew, 180), 300)
        self.enable_unsolicited = enable_unsolicited
        self.received: set[str] = set()  # saml.AssertionReceived

    def receive(self, saml_response: str, url: str, outstanding: Collection[str] = (),
                now: float | None = None) -> Login:
        """The SAMLResponse POSTed to ``url``; ``outstanding`` are the IDs of the requests sent.
        Raises Refused where SSP throws.
        """
        now = time.time() if now is None else now
        response = decode_response(saml_response, SP)
        self._check_message(response)
        solicited = bool(response.get("InResponseTo")) and response.get("InResponseTo") in outstanding
        if not solicited and not self.enable_unsolicited:
            raise Refused(SP, "Unsolicited responses are denied by configuration.")
        status = status_codes(response)
        if status[:1] != (SUCCESS,):
            return Login(status, solicited=solicited)  # Message::getResponseError: the SP's error page
        assertions = self._process_response(response, url, now)
        for assertion in assertions:
            if assertion.get("ID") in self.received:
                raise Refused(SP, "Received duplicate assertion.")
            self.received.add(assertion.get("ID", ""))
        statements = [s for a in assertions for s in a.iterfind("saml:AuthnStatement", NS)]
        if not statements:
            raise Refused(SP, "No AuthnStatement found in assertion(s).")
        attributes: dict[str, list[str | NameId]] = {}
        formats: dict[str, str | None] = {}
        for assertion in assertions:
            for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
                attributes.setdefault(attribute.get("Name"), []).extend(_values(attribute))
                formats[attribute.get("Name")] = attribute.get("NameFormat")
        name_id = assertions[0].find("saml:Subject/saml:NameID", NS)
        return Login(status, attributes, formats, NameId.of(name_id) if name_id is not None else None,
                     statements[0].get("SessionIndex"), solicited)

    def _check_message(self, response: etree._Element) -> None:
        """The saml2 Message constructor and the ACS: Version, ID, IssueInstant, a known Issuer."""
        if response.get("Version") != "2.0":
            raise Refused(SP, f"Unsupported version: {response.get('Version')}")
        if not response.get("ID") or not response.get("IssueInstant"):
            raise Refused(SP, "Missing ID or IssueInstant attribute on SAML message.")
        issuer = response.findtext("saml:Issuer", namespaces=NS)
        if issuer is None:
            issuer = response.findtext("saml:Assertion/saml:Issuer", namespaces=NS)
        if issuer is None:
            raise Refused(SP, "Missing <saml:Issuer> in message delivered to AssertionConsumerService.")
        if issuer.strip() != self.idp.entity_id:
            raise Refused(SP, f"Could not find the metadata of an IdP with entity ID {issuer!r}")

    def _process_response(self, response: etree._Element, url: str, now: float) -> list[etree._Element]:
        """Message::processResponse."""
        destination = response.get("Destination")
        if destination is not None and destination != url.split("?", 1)[0]:
            raise Refused(SP, f"Destination in response doesn't match the current URL. Destination is "
                              f"{destination!r}, current URL is {url!r}.")
        response_signed = self._check_sign(response)
        assertions = [child for child in response if etree.QName(child).localname in
                      ("Assertion", "EncryptedAssertion") and etree.QName(child).namespace == NS["saml"]]
        if not assertions:
            raise Refused(SP, "No assertions found in response from IdP.")
        return [self._process_assertion(response, a, response_signed, url, now) for a in assertions]

    def _check_sign(self, element: etree._Element) -> bool:
        """Message::checkSign with saml2's Utils::validateElement (one signature, the root signed)."""
        if not self.idp.signing_certs:
            raise Refused(SP, f"Missing certificate in metadata for {self.idp.entity_id!r}")
        return is_signed(element, self.idp.signing_certs, SP)

    def _process_assertion(self, response: etree._Element, assertion: etree._Element, response_signed: bool,
                           url: str, now: float) -> etree._Element:
        """Message::processAssertion."""
        assertion = self._decrypt(assertion)
        _parse_assertion(assertion)
        if not self._check_sign(assertion) and not response_signed:
            raise Refused(SP, "Neither the assertion nor the response was signed.")
        conditions = assertion.find("saml:Conditions", NS)
        if conditions is not None:
            if conditions.get("NotBefore") and epoch(conditions.get("NotBefore")) > now + self.skew:
                raise Refused(SP, "Received an assertion that is valid in the future.")
            if conditions.get("NotOnOrAfter") and epoch(conditions.get("NotOnOrAfter")) <= now - self.skew:
                raise Refused(SP, "Received an assertion that has expired.")
            audiences = [a.text for a in conditions.iterfind("saml:AudienceRestriction/saml:Audience", NS)]
            if audiences and self.entity_id not in audiences:
                raise Refused(SP, f"This SP [{self.entity_id}] is not a valid audience for the assertion. "
                                  f"Candidates were: {audiences}")
        session_end = assertion.find("saml:AuthnStatement", NS)
        if session_end is not None and session_end.get("SessionNotOnOrAfter") \
                and epoch(session_end.get("SessionNotOnOrAfter")) <= now - self.skew:
            raise Refused(SP, "Received an assertion with a session that has expired.")
        self._check_subject_confirmation(response, assertion, url, now)
        return assertion

    def _decrypt(self, assertion: etree._Element) -> etree._Element:
        if etree.QName(assertion).localname == "Assertion":
            if self.assertion_encryption:
                raise Refused(SP, "Received unencrypted assertion, but encryption was enabled.")
            return assertion
        try:
            return decrypt_assertion(assertion, self.keys, forbidden=(RSA_1_5,))
        except ValueError as problem:
            raise Refused(SP, f"Error decrypting assertion: {problem}") from None

    def _check_subject_confirmation(self, response: etree._Element, assertion: etree._Element, url: str,
                                    now: float) -> None:
        last_error = "No SubjectConfirmation element in Subject."
        for confirmation in assertion.iterfind("saml:Subject/saml:SubjectConfirmation", NS):
            method, data = confirmation.get("Method"), confirmation.find("saml:SubjectConfirmationData", NS)
            if method not in _CONFIRMATION_METHODS:
                last_error = f"Invalid Method on SubjectConfirmation: {method!r}"
            elif method != BEARER:
                last_error = "Holder-of-Key SubjectConfirmation received, but the Holder-of-Key profile is not enabled."
            elif data is None:
                last_error = "No SubjectConfirmationData provided"
            elif data.get("NotBefore") and epoch(data.get("NotBefore")) > now + 60:
                last_error = f"NotBefore in SubjectConfirmationData is in the future: {data.get('NotBefore')}"
            elif data.get("NotOnOrAfter") and epoch(data.get("NotOnOrAfter")) <= now - 60:
                last_error = f"NotOnOrAfter in SubjectConfirmationData is in the past: {data.get('NotOnOrAfter')}"
            elif data.get("Recipient") is not None and data.get("Recipient") != url.split("?", 1)[0]:
                last_error = (f"Recipient in SubjectConfirmationData does not match the current URL. Recipient is "
                              f"{data.get('Recipient')!r}, current URL is {url!r}.")
            elif None not in (data.get("InResponseTo"), response.get("InResponseTo")) \
                    and data.get("InResponseTo") != response.get("InResponseTo"):
                last_error = "InResponseTo in SubjectConfirmationData does not match the Response."
            else:
                return
        raise Refused(SP, f"Error validating SubjectConfirmation in Assertion: {last_error}")


def _parse_assertion(assertion: etree._Element) -> None:
    """What saml2 4.x's Assertion constructor throws on."""
    if assertion.get("Version") != "2.0" or not assertion.get("ID") or not assertion.get("IssueInstant"):
        raise Refused(SP, "Assertion: missing or unsupported Version, ID or IssueInstant")
    if assertion.find("saml:Issuer", NS) is None:
        raise Refused(SP, "Missing <saml:Issuer> in assertion.")
    subject = assertion.find("saml:Subject", NS)
    if subject is not None:
        if len(subject.findall("saml:NameID", NS)) + len(subject.findall("saml:EncryptedID", NS)) > 1:
            raise Refused(SP, "More than one <saml:NameID> or <saml:EncryptedID> in <saml:Subject>.")
        if subject.find("saml:SubjectConfirmation", NS) is None:
            raise Refused(SP, "Missing <saml:SubjectConfirmation> in <saml:Subject>.")
    if len(assertion.findall("saml:Conditions", NS)) > 1:
        raise Refused(SP, "More than one <saml:Conditions> in <saml:Assertion>.")
    known = ("AudienceRestriction", "OneTimeUse", "ProxyRestriction")
    unknown = [etree.QName(c).localname for c in assertion.iterfind("saml:Conditions/*", NS)
               if etree.QName(c).localname not in known]
    if unknown:
        raise Refused(SP, f"Unknown condition: {unknown}")
    statements = assertion.findall("saml:AuthnStatement", NS)
    if len(statements) > 1:
        raise Refused(SP, "More than one <saml:AuthnStatement> in <saml:Assertion> not supported.")
    for statement in statements:
        if not statement.get("AuthnInstant"):
            raise Refused(SP, "Missing required AuthnInstant attribute on <saml:AuthnStatement>.")
        contexts = statement.findall("saml:AuthnContext", NS)
        if len(contexts) != 1:
            raise Refused(SP, f"{len(contexts)} <saml:AuthnContext> in <saml:AuthnStatement>, one required.")
        if not any(contexts[0].find(f"saml:{name}", NS) is not None
                   for name in ("AuthnContextClassRef", "AuthnContextDeclRef", "AuthnContextDecl")):
            raise Refused(SP, "Missing either <saml:AuthnContextClassRef> or <saml:AuthnContextDeclRef> or "
                              "<saml:AuthnContextDecl>")
    if any(not a.get("Name") for a in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)):
        raise Refused(SP, "Missing name on <saml:Attribute> element.")


def _values(attribute: etree._Element) -> list[str | NameId]:
    """saml2's Assertion::parseAttributeValue: ePTID as NameID (or a bare one from a string), else text."""
    values = attribute.findall("saml:AttributeValue", NS)
    if attribute.get("Name") in EPTID:
        return [NameId.of(v.find("saml:NameID", NS)) if v.find("saml:NameID", NS) is not None
                else NameId("".join(v.itertext())) for v in values]
    return [etree.tostring(v[0]).decode() if len(v) else (v.text or "").strip() for v in values]
