"""pysaml2's XML Schema validator, built when first used rather than when pysaml2 is imported.

``saml2.xml.schema`` builds a validator of every SAML schema as it is imported
(``_schema_validator_default``): about 0.8 s of CPU, half of the gateway's
start-up without SP aggregates, and memory in every process. The IdP never asks
pysaml2 to validate a document (AuthnRequests are read with lxml,
:mod:`gateway.saml.sso.authn_request`; signatures are checked by
:mod:`.signatures`); pysaml2's SP side (the demo SP, the tests' SPs) validates
each Response it verifies and gets the very same validator, built by the same
``xmlschema.XMLSchema`` call at that first use.
"""
from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

import xmlschema


class DeferredSchema:
    """Stands for ``xmlschema.XMLSchema(*args, **kwargs)``, built at the first attribute asked of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._arguments = (args, kwargs)
        self._built: Any = None
        self._building = threading.Lock()

    @property
    def built(self) -> bool:
        return self._built is not None

    def _schema(self) -> Any:
        if self._built is None:
            with self._building:
                if self._built is None:
                    args, kwargs = self._arguments
                    self._built = xmlschema.XMLSchema(*args, **kwargs)
        return self._built

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema(), name)


def defer_pysaml2_schema() -> None:
    """Import ``saml2.xml.schema`` with its default validator deferred; nothing if it is already imported
    (then pysaml2 built it as usual)."""
    if "saml2.xml.schema" in sys.modules:
        return
    real = xmlschema.XMLSchema
    xmlschema.XMLSchema = DeferredSchema  # type: ignore[misc]  # what pysaml2's module binds
    try:
        importlib.import_module("saml2.xml.schema")
    finally:
        xmlschema.XMLSchema = real  # type: ignore[misc]
