"""Where the Response goes: the AssertionConsumerService, from metadata only (REQ02, REQ03, SEC06).

Prof §4.1.4.1 and Meta §2.2.3. An ``AssertionConsumerServiceURL`` must equal an
``md:AssertionConsumerService/@Location`` *exactly* (case-sensitive, no
canonicalisation: no trailing-slash, ``:443`` or case leniency); an index must
equal an ``@index``. With neither, the default endpoint is the first with
``isDefault="true"``, else the first without ``isDefault="false"``, else the
first (pysaml2's ``pick_binding`` takes the first and ignores isDefault). The
gateway answers by HTTP-POST only, so only POST endpoints can be chosen.
"""
from __future__ import annotations

from collections.abc import Sequence

from saml2 import BINDING_HTTP_POST

from ..errors import AcsNotAllowed, MalformedRequest, UnsupportedBinding
from ..sp.providers import Endpoint, ServiceProvider

#: Response bindings the gateway can deliver (RSP01).
RESPONSE_BINDINGS = (BINDING_HTTP_POST,)


def choose_acs(sp: ServiceProvider, url: str | None, index: int | None, binding: str | None) -> Endpoint:
    """The endpoint to POST the Response to. Raises AcsNotAllowed, UnsupportedBinding, MalformedRequest."""
    if url is not None and index is not None:
        raise MalformedRequest("AssertionConsumerServiceURL and AssertionConsumerServiceIndex together")
    if index is not None and binding is not None:
        raise MalformedRequest("AssertionConsumerServiceIndex and ProtocolBinding together")
    if url is not None:
        candidates = [e for e in sp.acs if e.location == url]
    elif index is not None:
        candidates = [e for e in sp.acs if e.index == index]
    else:
        return default_endpoint(sp.acs, binding)
    if not candidates:
        raise AcsNotAllowed(f"ACS {url if url is not None else index!r} not in metadata", sp.entity_id)
    return _with_binding(candidates, binding, sp.entity_id)


def default_endpoint(endpoints: Sequence[Endpoint], binding: str | None = None) -> Endpoint:
    """Meta §2.2.3's default among the endpoints the gateway can use (and ``binding``, if asked).

    Raises UnsupportedBinding.
    """
    usable = [e for e in endpoints if e.binding in RESPONSE_BINDINGS and binding in (None, e.binding)]
    if not usable:
        raise UnsupportedBinding(f"no usable endpoint for binding {binding!r}")
    for wanted in (True, None):  # in document order: isDefault="true", then no isDefault, then the first
        for endpoint in usable:
            if endpoint.is_default is wanted:
                return endpoint
    return usable[0]


def _with_binding(candidates: list[Endpoint], binding: str | None, sp_entity_id: str) -> Endpoint:
    for endpoint in candidates:
        if endpoint.binding in RESPONSE_BINDINGS and binding in (None, endpoint.binding):
            return endpoint
    raise UnsupportedBinding(f"binding {binding!r} not usable at this ACS", sp_entity_id)
