"""Reading provisioning files for ``gateway users import``: JSON Lines and CSV.

A file is read whole and decoded as UTF-8 (a leading BOM, as Excel writes it,
is dropped) before anything is imported, so an undecodable file imports
nothing. :func:`entries` then turns it into numbered :class:`Entry` items: a
record ready for :func:`gateway.accounts.provisioning.apply_record`, or the
reason the line is rejected. Problems with the whole file (unreadable, not
UTF-8, unknown CSV column, a JSON array) raise :class:`FileProblem` before the
first entry.

JSON Lines: one object per line; blank lines and lines starting with ``#`` are
skipped. CSV: a header row of record field names (case and surrounding spaces
ignored); ``,`` separates cells, or ``;`` / tab when the header uses it (French
Excel). ``emails`` and ``affiliations`` cells list values separated by ``;``
(``,`` and spaces are accepted too); ``legacy_ids``, ``legacy_eppns`` and
``saml_persistent_ids`` hold a JSON object (SP entityID -> identifier; a
``legacy_ids`` identifier may itself be an object with its qualifiers). An empty cell leaves that field
unchanged; blank rows and columns without a name are skipped.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import click

from ..accounts.models import PERSISTENT_IDS, RECORD_FIELDS

Format = Literal["jsonl", "csv"]
#: File name extension -> format.
EXTENSIONS: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
_LIST_SEPARATORS = re.compile(r"[;,\s]+")
#: CSV columns holding a JSON object.
_JSON_COLUMNS = ("legacy_ids", "legacy_eppns", PERSISTENT_IDS)


class FileProblem(Exception):
    """The whole file cannot be imported; the message is one line for the operator."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of the file: a record to apply, or why it is rejected."""

    number: int
    record: dict[str, Any] | None = None
    problem: str = ""


def display_name(path: str) -> str:
    """How messages name the file (``-`` is stdin)."""
    return "stdin" if path == "-" else path


def file_format(path: str, given: str | None) -> Format:
    """``given`` if set, else from the extension (stdin defaults to JSON Lines). Raises FileProblem."""
    if given:
        return cast(Format, given)
    if path == "-":
        return "jsonl"
    found = EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise FileProblem(f"{path}: cannot tell the format from its name; give --format jsonl or csv")
    return found


def read_text(path: str) -> str:
    """The whole file (or stdin for ``-``) decoded as UTF-8, without a BOM. Raises FileProblem."""
    name = display_name(path)
    try:
        with click.open_file(path, "rb") as stream:  # "-" is stdin
            data: bytes = stream.read()
    except OSError as exc:
        raise FileProblem(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        advice = 'save it as UTF-8 (Excel: "CSV UTF-8")'
        raise FileProblem(f"{name}: not UTF-8 text (line {line}); {advice}") from None


def entries(text: str, fmt: Format) -> Iterator[Entry]:
    """The numbered entries of a decoded file. Raises FileProblem before returning."""
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        return _csv_entries(reader, _csv_header(reader))
    if text.lstrip().startswith("["):
        raise FileProblem("a JSON array, not JSON Lines: put one object per line (jq -c '.[]' converts)")
    return _jsonl_entries(text)


# -- JSON Lines ------------------------------------------------------------------

def _jsonl_entries(text: str) -> Iterator[Entry]:
    # Split on "\n" only: str.splitlines() would also cut at U+2028 and friends,
    # which json.dumps(ensure_ascii=False) leaves unescaped inside strings.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield _jsonl_entry(number, line)


def _jsonl_entry(number: int, line: str) -> Entry:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return Entry(number, problem=f"invalid JSON ({exc.msg}, column {exc.colno})")
    except RecursionError:
        return Entry(number, problem="invalid JSON (nested too deeply)")
    if not isinstance(record, dict):
        return Entry(number, problem=f"expected a JSON object, not {type(record).__name__}")
    return Entry(number, record)


# -- CSV -------------------------------------------------------------------------

def _delimiter(text: str) -> str:
    """``,`` unless the header line holds more ``;`` or tabs."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_header(reader: Any) -> list[str]:
    """The column names of the first non-blank row. Raises FileProblem."""
    try:
        header: list[str] = next((row for row in reader if any(cell.strip() for cell in row)), [])
    except csv.Error as exc:
        raise FileProblem(f"line {reader.line_num}: CSV header unreadable: {exc}") from None
    columns = [cell.strip().lower() for cell in header]
    for column in filter(None, columns):  # a column without a name (trailing separator) is ignored
        if column not in RECORD_FIELDS:
            known = ", ".join(RECORD_FIELDS)
            raise FileProblem(f"line {reader.line_num}: unknown column {column!r} (columns: {known})")
        if columns.count(column) > 1:
            raise FileProblem(f"line {reader.line_num}: column {column!r} appears twice")
    if header and "emails" not in columns and "id" not in columns:
        raise FileProblem(f"line {reader.line_num}: the header needs an emails or an id column")
    return columns


def _csv_entries(reader: Any, columns: list[str]) -> Iterator[Entry]:
    start = reader.line_num + 1
    while columns:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Entry(start, problem=f"CSV error: {exc}")
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            yield Entry(number, problem=f"{len(row)} cells, but the header has {len(columns)} columns")
            continue
        yield _csv_entry(number, columns, row)


def _csv_entry(number: int, columns: list[str], row: list[str]) -> Entry:
    record: dict[str, Any] = {}
    for column, cell in zip(columns, row):
        cell = cell.strip()
        if not column or not cell:
            continue  # an empty cell leaves the field as it is
        if column in ("emails", "affiliations"):
            record[column] = [value for value in _LIST_SEPARATORS.split(cell) if value]
        elif column in _JSON_COLUMNS:
            try:
                record[column] = json.loads(cell)
            except (json.JSONDecodeError, RecursionError):
                example = '{"entityID": "identifier"}'
                return Entry(number, problem=f"{column}: expected a JSON object such as {example}")
        else:
            record[column] = cell
    return Entry(number, record)
