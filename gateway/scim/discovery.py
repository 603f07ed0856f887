"""Discovery documents (RFC 7644 §4; RFC 7643 §5, §6, §7), built from :mod:`.schema`.

They describe what this gateway really implements: PATCH, the filters of
:mod:`.filters` with their page size, ETags; no bulk, sort or password change.
"""
from __future__ import annotations

from typing import Any

from .filters import MAX_RESULTS
from .schema import (
    CORE,
    CORE_ATTRS,
    EXTENSION,
    EXTENSION_ATTRS,
    LIST_RESPONSE,
    RESOURCE_TYPE,
    SCHEMA,
    SERVICE_PROVIDER_CONFIG,
    Attr,
    same_urn,
)

_SCHEMAS = (
    (CORE, "User", "A person of the UNESS network.", CORE_ATTRS),
    (EXTENSION, "GatewayUser", "UNESS gateway attributes of a person.", EXTENSION_ATTRS),
)


def service_provider_config(base_url: str) -> dict[str, Any]:
    """``/ServiceProviderConfig`` (RFC 7643 §5)."""
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A static bearer token per provisioning service (RFC 6750 §2.1).",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": True,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def user_resource_type(base_url: str) -> dict[str, Any]:
    """The one resource type, ``User`` (RFC 7643 §6)."""
    return {
        "schemas": [RESOURCE_TYPE],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "Accounts of the UNESS gateway",
        "schema": CORE,
        "schemaExtensions": [{"schema": EXTENSION, "required": False}],
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/User"},
    }


def schemas(base_url: str) -> list[dict[str, Any]]:
    """Every schema the gateway serves (RFC 7643 §7)."""
    return [
        {
            "schemas": [SCHEMA],
            "id": urn,
            "name": name,
            "description": description,
            "attributes": [_attribute(a) for a in attrs],
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{urn}"},
        }
        for urn, name, description, attrs in _SCHEMAS
    ]


def schema(base_url: str, urn: str) -> dict[str, Any] | None:
    return next((s for s in schemas(base_url) if same_urn(s["id"], urn)), None)


def list_response(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A complete, single-page ListResponse (RFC 7644 §3.4.2)."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources),
        "itemsPerPage": len(resources),
        "startIndex": 1,
        "Resources": resources,
    }


def _attribute(attr: Attr) -> dict[str, Any]:
    """An attribute definition (RFC 7643 §7 "attributes")."""
    out: dict[str, Any] = {
        "name": attr.name,
        "type": attr.type,
        "multiValued": attr.multi,
        "description": attr.description,
        "required": attr.required,
        "mutability": attr.mutability,
        "returned": "default",
        "uniqueness": attr.uniqueness,
    }
    if attr.type == "string":
        out["caseExact"] = attr.case_exact
    if attr.canonical:
        out["canonicalValues"] = list(attr.canonical)
    if attr.sub:
        out["subAttributes"] = [_attribute(s) for s in attr.sub]
    return out
