"""The supported subset of SCIM filtering and paging (RFC 7644 §3.4.2.2, §3.4.2.4).

Filters: ``userName eq "…"``, ``emails.value eq "…"``, ``emails eq "…"`` and
``emails[value eq "…"]``; attribute names and the operator are
case-insensitive, the core schema URN may prefix the attribute. Anything else
is refused with ``invalidFilter`` rather than answered wrongly.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

from .problems import ScimProblem, invalid_value
from .schema import CORE

#: filter.maxResults of /ServiceProviderConfig: the most resources one page holds.
MAX_RESULTS = 200
DEFAULT_COUNT = 100

_STRING = r'"(?:[^"\\]|\\.)*"'
_LITERAL = rf"{_STRING}|true|false|null|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(rf"^\s*(?P<attr>[A-Za-z][\w.:$-]*)\s+(?P<op>eq)\s+(?P<value>{_LITERAL})\s*$", re.I)
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_MAX_START = 2**31
_VALUE_PATH = re.compile(rf"^\s*emails\s*\[\s*value\s+eq\s+(?P<value>{_STRING})\s*\]\s*$", re.I)

Attribute = Literal["userName", "emails"]
_FILTERABLE: dict[str, Attribute] = {"username": "userName", "emails.value": "emails", "emails": "emails"}


@dataclasses.dataclass(frozen=True)
class Query:
    """A parsed filter: ``attribute`` equals ``value`` (as given, not yet normalised)."""

    attribute: Attribute
    value: str


def invalid_filter(detail: str) -> ScimProblem:
    return ScimProblem(400, detail, "invalidFilter")


def parse_comparison(text: str) -> tuple[str, Any] | None:
    """``attr eq <literal>`` -> (attr, decoded JSON literal); None when it is not one."""
    match = _COMPARISON.match(text)
    if match is None:
        return None
    literal = match["value"]
    if not literal.startswith('"'):
        literal = literal.lower()
    return match["attr"], json.loads(literal)


def parse_filter(text: str) -> Query:
    """The one comparison this gateway can answer. Raises ScimProblem (invalidFilter)."""
    supported = 'supported filters: userName eq "…", emails.value eq "…" (also emails eq "…")'
    value_path = _VALUE_PATH.match(text)
    if value_path is not None:
        return Query("emails", json.loads(value_path["value"]))
    comparison = parse_comparison(text)
    if comparison is None:
        raise invalid_filter(f"cannot parse filter; {supported}")
    attr, value = comparison
    prefix = CORE.casefold() + ":"
    folded = attr.casefold()
    folded = folded[len(prefix):] if folded.startswith(prefix) else folded
    attribute = _FILTERABLE.get(folded)
    if attribute is None:
        raise invalid_filter(f"{attr}: not a filterable attribute; {supported}")
    if not isinstance(value, str):
        raise invalid_filter(f"{attr}: compare with a string")
    return Query(attribute, value)


def parse_paging(start_index: str | None, count: str | None) -> tuple[int, int]:
    """(startIndex >= 1, 0 <= count <= MAX_RESULTS) from the query string (RFC 7644 §3.4.2.4).

    Below 1 counts as 1, a negative count as 0, as the RFC says; non-integers are refused.
    """
    start = _integer(start_index, "startIndex", 1)
    size = _integer(count, "count", DEFAULT_COUNT)
    return min(max(1, start), _MAX_START), min(MAX_RESULTS, max(0, size))


def _integer(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    if not _INTEGER.fullmatch(raw.strip()):
        raise invalid_value(f"{name}: expected an integer")
    return int(raw.strip())
