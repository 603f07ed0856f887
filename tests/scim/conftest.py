"""Fixtures of the SCIM tests: a client speaking SCIM with cockpit's token, and the audit trail."""
from __future__ import annotations

import json
import logging
from typing import Any

import pytest

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
EXT = "urn:uness:params:scim:schemas:extension:gateway:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
COCKPIT_TOKEN = "scim-test-token-cockpit-0123456789"
OTHER_TOKEN = "scim-test-token-other-0123456789abc"
SCIM_JSON = "application/scim+json"


def user(user_name: str, *, emails: list[str] | None = None, ext: dict[str, Any] | None = None,
         **core: Any) -> dict[str, Any]:
    """A User body: ``emails`` as plain addresses, ``ext`` the extension attributes."""
    body: dict[str, Any] = {"schemas": [CORE], "userName": user_name, **core}
    if emails is not None:
        body["emails"] = [{"value": e, "type": "work"} for e in emails]
    if ext is not None:
        body["schemas"].append(EXT)
        body[EXT] = ext
    return body


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


class Scim:
    """The Flask test client, sending SCIM JSON with a bearer token."""

    def __init__(self, client: Any, token: str = COCKPIT_TOKEN) -> None:
        self.client = client
        self.token = token

    def request(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                raw: bytes | str | None = None, content_type: str = SCIM_JSON, **kwargs: Any) -> Any:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if body is not None:
            raw = json.dumps(body)
        if raw is not None:
            kwargs.update(data=raw, content_type=content_type)
        return self.client.open("/scim/v2" + path, method=method, headers=all_headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def create(self, user_name: str, **attrs: Any) -> dict[str, Any]:
        response = self.post("/Users", user(user_name, **attrs))
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()


def assert_error(response: Any, status: int, scim_type: str | None = None,
                 detail_has: str = "") -> dict[str, Any]:
    """What a SCIM client sees on failure (RFC 7644 §3.12)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == SCIM_JSON
    body = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert detail_has in body["detail"]
    return body


@pytest.fixture
def scim(client: Any) -> Scim:
    return Scim(client)


@pytest.fixture
def audit_records():
    """Audit records written during the test."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logger = logging.getLogger("gateway.audit")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
