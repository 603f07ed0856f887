"""Reading a SAML message off HTTP-Redirect or HTTP-POST (Bind §3.4, §3.5; REQ01, REQ12, SEC13).

Views hand over the request's parameters (``args.to_dict(flat=False)``: every
value of every name) and its raw query string; nothing here imports Flask.
Inflation stops at :data:`~.xml.MAX_MESSAGE_BYTES` (a DEFLATE bomb is refused
before it is fully expanded), RelayState is kept exactly as received and
refused only past :data:`MAX_RELAY_STATE` bytes.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import zlib
from collections.abc import Mapping, Sequence

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ..errors import MalformedRequest
from .xml import MAX_MESSAGE_BYTES

#: Bind §3.4.3 asks *senders* for 80 bytes; SimpleSAMLphp SPs send whole URLs (REQ12).
MAX_RELAY_STATE = 4096


@dataclasses.dataclass(frozen=True)
class InboundMessage:
    """A decoded message and what its binding says about it."""

    binding: str
    xml: bytes
    relay_state: str | None = None
    #: HTTP-Redirect signature (REQ06): the raw query string, SigAlg and Signature as sent.
    raw_query: bytes = b""
    sig_alg: str | None = None
    signature: str | None = None

    @property
    def has_query_signature(self) -> bool:
        return self.binding == BINDING_HTTP_REDIRECT and self.signature is not None


def read_redirect(args: Mapping[str, Sequence[str]], raw_query: bytes,
                  field: str = "SAMLRequest") -> InboundMessage:
    """base64 + raw DEFLATE in the query string. Raises MalformedRequest."""
    encoded = _single(args, field)
    if encoded is None:
        raise MalformedRequest(f"no {field} parameter")
    xml = inflate(_b64(encoded.replace(" ", "+")))
    return InboundMessage(
        BINDING_HTTP_REDIRECT, xml, relay_state(args), raw_query,
        sig_alg=_single(args, "SigAlg"), signature=_single(args, "Signature"),
    )


def read_post(form: Mapping[str, Sequence[str]], field: str = "SAMLRequest") -> InboundMessage:
    """base64 in a form field (deflated too, as pysaml2 tolerates). Raises MalformedRequest."""
    encoded = _single(form, field)
    if encoded is None:
        raise MalformedRequest(f"no {field} field")
    data = _b64("".join(encoded.split()))
    if not data.lstrip().startswith(b"<"):
        data = inflate(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise MalformedRequest("message too large")
    return InboundMessage(BINDING_HTTP_POST, data, relay_state(form))


def relay_state(values: Mapping[str, Sequence[str]]) -> str | None:
    """RelayState byte-for-byte; only its size is capped (REQ12). Raises MalformedRequest."""
    value = _single(values, "RelayState")
    if value is not None and len(value.encode("utf-8")) > MAX_RELAY_STATE:
        raise MalformedRequest("RelayState longer than 4 KB")
    return value


def inflate(data: bytes) -> bytes:
    """Raw DEFLATE (RFC 1951), refusing anything that expands past the limit (SEC13)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_MESSAGE_BYTES + 1)
    except zlib.error:
        raise MalformedRequest("not DEFLATE data") from None
    if len(out) > MAX_MESSAGE_BYTES or inflater.unconsumed_tail:
        raise MalformedRequest("message too large once inflated")
    return out


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequest("not base64") from None


def _single(values: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The one value of ``name``; a repeated parameter is refused (it could differ from the signed one)."""
    found = list(values.get(name) or ())
    if len(found) > 1:
        raise MalformedRequest(f"{name} given more than once")
    return found[0] if found else None
