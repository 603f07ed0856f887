"""XML the safe way: namespaces, a hardened lxml parser, and the defusedxml gate (SEC02, SEC13).

Every inbound document goes through :func:`check_safe` (defusedxml's gate: no DTD,
no entity, no external reference, at all) before lxml or pysaml2 parse it; the lxml
parser itself resolves nothing, loads no DTD, never uses the network and keeps
the default libxml2 size limits.
"""
from __future__ import annotations

import pyexpat

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from lxml import etree

from ..errors import MalformedRequest, UnsafeXml

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XS_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SAML = "{%s}" % SAML_NS
SAMLP = "{%s}" % SAMLP_NS
MD = "{%s}" % MD_NS
DS = "{%s}" % DS_NS

#: The most an inbound message may weigh once inflated (SEC13).
MAX_MESSAGE_BYTES = 256 * 1024


def safe_parser() -> etree.XMLParser:
    """A new hardened parser (lxml parsers must not be shared between threads)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_blank_text=False, remove_comments=False)


def check_safe(document: bytes) -> None:
    """Refuse DTDs, entities and external references before any other parser runs (SEC02).

    defusedxml's gate (its ``DefusedXMLParser``: expat, namespaces on, and its
    handlers refusing a DOCTYPE, an entity declaration, an external reference)
    without the element tree it would build and nobody reads.
    Raises UnsafeXml (forbidden constructs) or MalformedRequest (not XML, too big).
    """
    if len(document) > MAX_MESSAGE_BYTES:
        raise MalformedRequest(f"message of {len(document)} bytes")
    gate = pyexpat.ParserCreate(namespace_separator="}")
    gate.StartDoctypeDeclHandler = _no_dtd
    gate.EntityDeclHandler = _no_entity
    gate.UnparsedEntityDeclHandler = _no_unparsed_entity
    gate.ExternalEntityRefHandler = _no_external_reference
    try:
        gate.Parse(document, True)
    except DefusedXmlException as exc:
        raise UnsafeXml(type(exc).__name__) from None
    except pyexpat.ExpatError as exc:
        raise MalformedRequest(f"not XML: {exc}") from None


# The gate's handlers, as defusedxml's DefusedXMLParser defines them (expat's handler signatures).
def _no_dtd(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _no_entity(name: str, is_parameter_entity: bool, value: str | None, base: str | None, sysid: str | None,
               pubid: str | None, notation_name: str | None) -> None:
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _no_unparsed_entity(name: str, base: str | None, sysid: str | None, pubid: str | None,
                        notation_name: str | None) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _no_external_reference(context: str, base: str | None, sysid: str | None, pubid: str | None) -> None:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def parse(document: bytes) -> etree._Element:
    """Parse with :func:`safe_parser` (after :func:`check_safe` for anything received)."""
    return etree.fromstring(document, safe_parser())


def escaped_text(value: str) -> str:
    """``value`` as XML character data, for documents built as text: parsed, it is ``value`` again
    (a carriage return too, as ``&#13;``)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def escaped_attribute(value: str) -> str:
    """``value`` inside a double-quoted XML attribute, for documents built as text: parsed, it is
    ``value`` again (line breaks and tabs too, which attribute-value normalisation would turn into spaces)."""
    return escaped_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def text_of(element: etree._Element | None) -> str:
    """The whole text of an element, comments skipped but never cutting it short (SEC04)."""
    if element is None:
        return ""
    return "".join(element.itertext()).strip()
