"""PATCH operations (RFC 7644 §3.5.2) applied to a User resource, pure functions.

The operations edit the resource that GET returns; the edited resource then
goes through :func:`.resources.to_account` exactly like a PUT body, so one
mapping serves both. After each operation on ``userName`` or ``emails``,
``userName`` is kept equal to the one ``primary`` address (RFC 7643 §2.4):
replacing ``userName`` makes that address primary (adding it if new), setting
``primary`` on an address makes it the ``userName``.

Paths: ``attr``, ``attr.sub``, ``attr[sub eq "v"]``, ``attr[sub eq "v"].sub``,
each optionally prefixed by its schema URN; the extension URN alone targets the
whole extension object.
"""
from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ..accounts.emails import normalize_email
from ..accounts.errors import InvalidEmail
from .filters import invalid_filter, parse_comparison
from .problems import invalid_path, invalid_syntax, invalid_value, mutability, no_target
from .schema import (
    CORE,
    CORE_ATTRS,
    EXTENSION,
    EXTENSION_ATTRS,
    PATCH_OP,
    READ_ONLY_COMMON,
    Attr,
    canonical_object,
    check_schemas,
    find,
)

_NAME = r"[A-Za-z][\w$-]*"
_PATH = re.compile(
    rf"^(?P<attr>{_NAME})(?:\.(?P<sub>{_NAME})|\[(?P<filter>[^\[\]]*)\](?:\.(?P<fsub>{_NAME}))?)?$"
)
_OPS = ("add", "replace", "remove")


@dataclasses.dataclass(frozen=True)
class Target:
    """Where an operation applies (RFC 7644 §3.5.2 "path")."""

    schema: str
    #: None: the whole extension object
    attr: Attr | None
    sub: Attr | None = None
    #: a value selection filter: (sub-attribute, value it must equal)
    match: tuple[Attr, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Operation:
    op: str
    #: None: no path, ``value`` holds attributes (RFC 7644 §3.5.2.1, §3.5.2.3)
    target: Target | None
    value: Any


def parse_operations(body: Any) -> list[Operation]:
    """The operations of a PatchOp message (RFC 7644 §3.5.2). Raises ScimProblem."""
    if not isinstance(body, Mapping):
        raise invalid_syntax("expected a PatchOp JSON object")
    fields = {str(k).casefold(): v for k, v in body.items()}
    check_schemas(fields.get("schemas"), PATCH_OP)
    operations = fields.get("operations")
    if not isinstance(operations, list) or not operations:
        raise invalid_syntax("Operations: expected a non-empty list")
    return [_operation(item) for item in operations]


def _operation(item: Any) -> Operation:
    if not isinstance(item, Mapping):
        raise invalid_syntax("Operations: each operation is an object")
    fields = {str(k).casefold(): v for k, v in item.items()}
    unknown = sorted(set(fields) - {"op", "path", "value"})
    if unknown:
        raise invalid_syntax(f"Operations: unknown member {unknown[0]!r}")
    op = fields.get("op")
    if not isinstance(op, str) or op.casefold() not in _OPS:
        raise invalid_syntax("op: expected add, replace or remove")
    op = op.casefold()
    path = fields.get("path")
    if path is not None and not isinstance(path, str):
        raise invalid_path("path: expected a string")
    if path is None or not path.strip():
        if op == "remove":
            raise no_target("remove needs a path (RFC 7644 §3.5.2.2)")
        if not isinstance(fields.get("value"), Mapping):
            raise invalid_value(f"{op} without a path needs an object of attributes as value")
        return Operation(op, None, fields["value"])
    if op != "remove" and "value" not in fields:
        raise invalid_value(f"{op} needs a value")
    return Operation(op, parse_path(path), fields.get("value"))


def parse_path(path: str) -> Target:
    """A PATCH path (RFC 7644 §3.5.2, "PATH" ABNF subset). Raises ScimProblem."""
    schema, rest = _schema_of(path.strip())
    if rest is None:
        return Target(EXTENSION, None)
    match = _PATH.match(rest)
    if match is None:
        raise invalid_path(f"{path}: not a supported path")
    attr = find(CORE_ATTRS if schema == CORE else EXTENSION_ATTRS, match["attr"])
    if attr is None and schema == CORE and match["attr"].casefold() in READ_ONLY_COMMON:
        return Target(CORE, Attr(match["attr"].casefold(), mutability="readOnly"))  # refused when applied
    if attr is None:
        raise invalid_path(f"{path}: unknown attribute (see /Schemas)")
    sub_name = match["sub"] or match["fsub"]
    sub = attr.child(sub_name) if sub_name else None
    if sub_name and sub is None:
        raise invalid_path(f"{path}: {attr.name} has no sub-attribute {sub_name!r}")
    if match["sub"] and attr.multi:
        example = f'{attr.name}[{attr.key} eq "…"].{sub_name}'
        raise invalid_path(f"{path}: select one value first, e.g. {example}")
    if match["filter"] is None:
        return Target(schema, attr, sub)
    if not (attr.multi and attr.is_complex):
        raise invalid_path(f"{path}: only a multi-valued complex attribute takes a filter")
    return Target(schema, attr, sub, _value_filter(attr, match["filter"]))


def _schema_of(path: str) -> tuple[str, str | None]:
    folded = path.casefold()
    for urn in (EXTENSION, CORE):
        if folded == urn.casefold():
            if urn == CORE:
                raise invalid_path(f"{path}: name an attribute")
            return urn, None
        if folded.startswith(urn.casefold() + ":"):
            return urn, path[len(urn) + 1:]
    if folded.startswith("urn:"):
        raise invalid_path(f"{path}: unknown schema")
    return CORE, path


def _value_filter(attr: Attr, text: str) -> tuple[Attr, Any]:
    comparison = parse_comparison(text)
    if comparison is None:
        raise invalid_filter(f'{attr.name}[{text}]: expected [subAttribute eq "value"]')
    sub = attr.child(comparison[0])
    if sub is None:
        raise invalid_path(f"{attr.name}[{text}]: {attr.name} has no sub-attribute {comparison[0]!r}")
    return sub, comparison[1]


def apply_operations(resource: Mapping[str, Any], operations: list[Operation]) -> dict[str, Any]:
    """A copy of ``resource`` with the operations applied in order (RFC 7644 §3.5.2)."""
    doc = copy.deepcopy(dict(resource))
    for operation in operations:
        if operation.target is None:
            for key, value in operation.value.items():
                _apply(doc, operation.op, parse_path(str(key)), value)
        else:
            _apply(doc, operation.op, operation.target, operation.value)
    return doc


def _apply(doc: dict[str, Any], op: str, target: Target, value: Any) -> None:
    attr = target.attr
    if attr is None:
        _apply_extension(doc, op, value)
        return
    if attr.read_only:
        if attr.name == "id" and op != "remove" and value == doc.get("id"):
            return
        raise mutability(f"{attr.name} is readOnly")
    before = doc.get("userName")
    holder = doc if target.schema == CORE else doc.setdefault(EXTENSION, {})
    if target.match is not None:
        _apply_selected(holder, op, target, value)
    elif attr.multi:
        _apply_multi(holder, op, attr, value)
    elif target.sub is not None:
        _apply_sub(holder, op, attr, target.sub, value)
    elif attr.is_complex:
        _apply_complex(holder, op, attr, value)
    elif op == "remove":
        holder.pop(attr.name, None)
    else:
        holder[attr.name] = value
    if target.schema == CORE and attr.name == "emails":
        _settle_primary(doc, before)
    elif target.schema == CORE and attr.name == "userName" and op != "remove":
        _promote(doc)


def _apply_extension(doc: dict[str, Any], op: str, value: Any) -> None:
    if op == "remove":
        ext = doc.get(EXTENSION) or {}
        for writable in EXTENSION_ATTRS:
            if not writable.read_only:
                ext.pop(writable.name, None)
        return
    if not isinstance(value, Mapping):
        raise invalid_value(f"{EXTENSION}: expected an object")
    for key, item in value.items():
        attr = find(EXTENSION_ATTRS, str(key))
        if attr is None:
            raise invalid_path(f"{EXTENSION}:{key}: unknown attribute (see /Schemas)")
        _apply(doc, op, Target(EXTENSION, attr), item)


def _apply_selected(holder: dict[str, Any], op: str, target: Target, value: Any) -> None:
    """``attr[sub eq "v"]`` and ``attr[sub eq "v"].sub`` (RFC 7644 §3.5.2.2, §3.5.2.3)."""
    attr, sub = target.attr, target.sub
    assert attr is not None and target.match is not None
    key, wanted = target.match
    items = holder.get(attr.name)
    items = items if isinstance(items, list) else []
    hits = [i for i, item in enumerate(items) if _selected(attr, key, item, wanted)]
    if not hits:
        raise no_target(f"no value of {attr.name} matches the filter")
    if op == "remove" and sub is None:
        holder[attr.name] = [item for i, item in enumerate(items) if i not in hits]
        return
    for i in hits:
        if sub is not None and op == "remove":
            items[i].pop(sub.name, None)
        elif sub is not None:
            items[i][sub.name] = value
        elif op == "replace":
            items[i] = _member(attr, value)
        else:
            items[i] = {**items[i], **_member(attr, value)}


def _apply_multi(holder: dict[str, Any], op: str, attr: Attr, value: Any) -> None:
    """A whole multi-valued attribute: add appends, replace replaces, remove clears or drops listed values."""
    current = holder.get(attr.name)
    current = current if isinstance(current, list) else []
    members = [_member(attr, v) for v in _as_list(value)]
    if op == "replace":
        holder[attr.name] = members
    elif op == "remove" and value is None:
        holder.pop(attr.name, None)
    elif op == "remove":
        holder[attr.name] = [item for item in current if not any(_same_value(attr, item, m) for m in members)]
    else:
        for member in members:
            i = next((i for i, item in enumerate(current) if _same_value(attr, item, member)), None)
            if i is None:
                current.append(member)
            elif attr.is_complex:
                current[i] = {**current[i], **member}
        holder[attr.name] = current


def _apply_sub(holder: dict[str, Any], op: str, attr: Attr, sub: Attr, value: Any) -> None:
    """``name.givenName``: one sub-attribute of a single-valued complex attribute."""
    obj = holder.get(attr.name)
    obj = obj if isinstance(obj, dict) else {}
    if op == "remove":
        obj.pop(sub.name, None)
    else:
        obj[sub.name] = value
    holder[attr.name] = obj


def _apply_complex(holder: dict[str, Any], op: str, attr: Attr, value: Any) -> None:
    """``name``: add and replace merge the given sub-attributes (RFC 7644 §3.5.2.3); remove clears."""
    if op == "remove":
        holder.pop(attr.name, None)
        return
    obj = holder.get(attr.name)
    obj = obj if isinstance(obj, dict) else {}
    holder[attr.name] = {**obj, **_member(attr, value, keep_null=True)}


def _member(attr: Attr, value: Any, keep_null: bool = False) -> Any:
    """One value with canonical sub-attribute names (RFC 7643 §2.1: names are case-insensitive)."""
    return canonical_object(attr, value, keep_null=keep_null) if attr.is_complex else value


def _selected(attr: Attr, key: Attr, item: Any, wanted: Any) -> bool:
    return isinstance(item, dict) and _equal(attr, key, item.get(key.name), wanted)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _same_value(attr: Attr, a: Any, b: Any) -> bool:
    """Two values of a multi-valued attribute denote the same one (same key sub-attribute)."""
    if not attr.is_complex:
        return _equal(attr, attr, a, b)
    key = attr.child(attr.key)
    assert key is not None
    return isinstance(a, dict) and isinstance(b, dict) and _equal(attr, key, a.get(key.name), b.get(key.name))


def _equal(attr: Attr, sub: Attr, a: Any, b: Any) -> bool:
    """Equality under the sub-attribute's caseExact (RFC 7643 §2.2); addresses compare normalised."""
    if isinstance(a, str) and isinstance(b, str):
        if attr.name == "emails" and sub.name == "value":
            return bool(_address_key(a) == _address_key(b))
        return a == b if sub.case_exact else a.casefold() == b.casefold()
    return type(a) is type(b) and a == b


def _address_key(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return normalize_email(value)
    except InvalidEmail:
        return value.strip().casefold()


def _settle_primary(doc: dict[str, Any], before: Any) -> None:
    """After an ``emails`` operation: one primary address, and ``userName`` is it.

    A newly flagged primary wins over the previous one; with none flagged, the
    previous primary stays if still listed, else the first address takes over.
    """
    emails = doc.get("emails")
    if not isinstance(emails, list) or not emails:
        raise invalid_value("emails: an account keeps at least one address")
    flagged = [e for e in emails if e.get("primary") is True]
    fresh = [e for e in flagged if _address_key(e.get("value")) != _address_key(before)]
    previous = [e for e in emails if _address_key(e.get("value")) == _address_key(before)]
    chosen = (fresh or flagged or previous or emails)[0]
    for email in emails:
        email["primary"] = email is chosen
    doc["userName"] = chosen.get("value")


def _promote(doc: dict[str, Any]) -> None:
    """After ``userName`` is set: that address becomes the primary one, added if new."""
    name = doc.get("userName")
    emails = doc.get("emails")
    emails = emails if isinstance(emails, list) else []
    chosen = next((e for e in emails if _address_key(e.get("value")) == _address_key(name)), None)
    if chosen is None:
        chosen = {"value": name, "type": "work"}
        emails.insert(0, chosen)
    for email in emails:
        email["primary"] = email is chosen
    doc["userName"] = name
    doc["emails"] = emails
