"""XML the safe way: namespaces, a hardened lxml parser, and the defusedxml gate (SEC02, SEC13).

Every inbound document goes through :func:`check_safe` (defusedxml: no DTD, no
entity, no external reference, at all) before lxml or pysaml2 parse it; the lxml
parser itself resolves nothing, loads no DTD, never uses the network and keeps
the default libxml2 size limits.
"""
from __future__ import annotations

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
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

    Raises UnsafeXml (forbidden constructs) or MalformedRequest (not XML, too big).
    """
    if len(document) > MAX_MESSAGE_BYTES:
        raise MalformedRequest(f"message of {len(document)} bytes")
    try:
        defused_fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(type(exc).__name__) from None
    except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
        raise MalformedRequest(f"not XML: {exc}") from None


def parse(document: bytes) -> etree._Element:
    """Parse with :func:`safe_parser` (after :func:`check_safe` for anything received)."""
    return etree.fromstring(document, safe_parser())


def text_of(element: etree._Element | None) -> str:
    """The whole text of an element, comments skipped but never cutting it short (SEC04)."""
    if element is None:
        return ""
    return "".join(element.itertext()).strip()
