"""Streaming readers for JSONL, CSV and Parquet files.

Each reader yields ``Row(location, record, problem)`` one at a time so a
200K-record file is never held in memory; a row with a problem carries a
message a person can act on ("line 7: malformed JSON ..."). The caller
decides what to do with problems (the import is all-or-nothing).

Every reader applies the one rule for JSON from outside (``workbench.domain.json_rules``:
nesting depth, 64-bit integers, finite floats, valid Unicode) to each record, so a file is
refused by line, item or row instead of failing at storage. CSV holds that rule by
construction: its values are strings decoded strictly as UTF-8 (no lone surrogates), flat.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from workbench.domain.json_rules import (INT64_MAX, INT64_MIN, MAX_DEPTH, TOO_DEEP, checked_value, decode_problem,
                                        json_problem, json_scan)
from workbench.domain.errors import InvalidInput
from workbench.domain.names import IMPORT_FORMATS

# Documented limit: one record (a JSONL line, a CSV row, a Parquet row as
# JSON) may be at most this large. Bigger ones are almost always a mistake
# (a whole document pasted into one field) and would bloat every prompt.
MAX_RECORD_BYTES = 2 * 1024 * 1024
# A JSON array file (not JSONL) has to be parsed whole, so it gets a cap.
MAX_JSON_ARRAY_BYTES = 256 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
# A record with more fields than this is a table turned sideways, not a record.
MAX_FIELDS = 2000
FORMATS = IMPORT_FORMATS
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    location: str
    record: dict[str, Any] | None
    problem: str | None = None
    text: str | None = None  # the record as compact JSON, when the reader made it already


class UnreadableFile(InvalidInput):
    """The file as a whole can't be read (empty, binary, wrong format)."""


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise UnreadableFile(f"unknown format {declared!r}; use one of {', '.join(FORMATS)}")
        return declared
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        raise UnreadableFile("the file is empty")
    suffix = path.suffix.lower()
    if head[:4] == b"PAR1" or suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if head.lstrip(BOM + b" \t\r\n")[:1] in (b"{", b"["):
        return "jsonl"
    return "csv"


def read_rows(path: Path, fmt: str) -> Iterator[Row]:
    readers = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
    return readers[fmt](path)


def _check_not_binary(head: bytes, what: str) -> None:
    if not head:
        raise UnreadableFile("the file is empty")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise UnreadableFile(f"this looks like a binary file, not {what} (NUL byte at offset {nul})")


def _parse_object(text: str, location: str) -> Row:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Row(location, None, decode_problem(exc))
    if not isinstance(value, dict):
        return Row(location, None, f"expected a JSON object, got {_json_type(value)}")
    if len(value) > MAX_FIELDS:
        return Row(location, None, f"{len(value)} fields; the limit is {MAX_FIELDS} per record")
    if _plainly_within_rule(value, text):
        return Row(location, value)
    value, problem = checked_value(value, text)
    return Row(location, None, problem) if problem else Row(location, value)


def _plainly_within_rule(value: dict, text: str) -> bool:
    """True when ``value`` (orjson's reading of ``text``) can't break the JSON rule, by a lighter
    walk than json_scan's (a third of an import's time): orjson has refused lone surrogates already
    and the line is strict UTF-8 without a raw NUL, so strings and keys are fine unless the text
    escapes U+0000; what is left is depth and the numbers. False means "look closely", not "bad"."""
    if "\\u0000" in text:
        return False
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return False
        for child in (item.values() if type(item) is dict else item):
            kind = type(child)
            if kind is str:
                continue
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is int:
                if not INT64_MIN <= child <= INT64_MAX:
                    return False
            elif kind is float and not -INT64_MAX <= child <= INT64_MAX:  # orjson's reading of a big integer
                return False
    return True


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _read_jsonl(path: Path) -> Iterator[Row]:
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        _check_not_binary(head, "JSONL")
        if head.lstrip(BOM + b" \t\r\n")[:1] == b"[":
            yield from _read_json_array(path)
            return
        f.seek(0)
        line_no = 0
        while True:
            raw = f.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                return
            line_no += 1
            location = f"line {line_no}"
            if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
                _skip_rest_of_line(f)
                yield Row(location, None, f"record is larger than the {_mib(MAX_RECORD_BYTES)} limit per record")
                continue
            if line_no == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Row(location, None, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
                continue
            if "\x00" in text:
                yield Row(location, None, "contains a NUL byte")
                continue
            yield _parse_object(text, location)


def _skip_rest_of_line(f: io.BufferedReader) -> None:
    while True:
        chunk = f.readline(1024 * 1024)
        if not chunk or chunk.endswith(b"\n"):
            return


def _read_json_array(path: Path) -> Iterator[Row]:
    if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
        raise UnreadableFile(
            f"a JSON array file may be at most {_mib(MAX_JSON_ARRAY_BYTES)}; "
            "save large files as JSONL (one object per line)"
        )
    data = path.read_bytes().removeprefix(BOM)
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if decode_problem(exc) == TOO_DEEP:
            raise UnreadableFile(f"line {exc.lineno}, column {exc.colno}: {TOO_DEEP}") from None
        raise UnreadableFile(f"malformed JSON array (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(items, list):
        raise UnreadableFile(f"expected a JSON array of objects, got {_json_type(items)}")
    exact = False
    for index in range(len(items)):
        item, location = items[index], f"item {index + 1}"
        if not isinstance(item, dict):
            yield Row(location, None, f"expected a JSON object, got {_json_type(item)}")
            continue
        if len(item) > MAX_FIELDS:
            yield Row(location, None, f"{len(item)} fields; the limit is {MAX_FIELDS} per record")
            continue
        problem, big_float = json_scan(item)
        if problem is None and big_float and not exact:
            # As for a JSONL line, read exactly: the whole array, once, in place of orjson's.
            items, exact = _read_exactly(data, items), True
            item = items[index]
            problem = json_problem(item)
        if problem is not None:
            yield Row(location, None, problem)
        elif len(text := orjson.dumps(item)) > MAX_RECORD_BYTES:
            yield Row(location, None, f"record is larger than the {_mib(MAX_RECORD_BYTES)} limit per record")
        else:
            yield Row(location, item, text=text.decode())


def _read_exactly(data: bytes, items: list) -> list:
    try:
        return json.loads(data)
    except RecursionError:  # an item nested far beyond MAX_DEPTH: it is refused for that anyway
        return items


def _read_csv(path: Path) -> Iterator[Row]:
    with open(path, "rb") as fb:
        head = fb.read(SNIFF_BYTES)
    _check_not_binary(head, "CSV")
    delimiter = _sniff_delimiter(head, path)
    csv.field_size_limit(MAX_RECORD_BYTES)
    with open(path, "rb") as f:
        reader = csv.reader(_decoded_lines(f), delimiter=delimiter)
        try:
            header = next(reader, None)
        except (csv.Error, _BadLine) as exc:
            raise UnreadableFile(f"line 1: {_csv_problem(exc)}") from None
        if not header or not any(h.strip() for h in header):
            raise UnreadableFile("the file is empty (no header row)")
        header = [h.strip() for h in header]
        if len(header) > MAX_FIELDS:
            raise UnreadableFile(f"line 1 (header): {len(header)} columns; the limit is {MAX_FIELDS}")
        bad = _header_problem(header)
        if bad:
            raise UnreadableFile(f"line 1 (header): {bad}")
        row_no = 0
        while True:
            start_line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except _BadLine as exc:
                yield Row(f"line {exc.line_no}", None, str(exc))
                return
            except csv.Error as exc:
                # The reader can't resynchronise after a broken quote.
                yield Row(f"line {start_line}", None, _csv_problem(exc))
                return
            row_no += 1
            location = f"row {row_no} (line {start_line})"
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if len(values) != len(header):
                yield Row(location, None, f"has {len(values)} values but the header has {len(header)} columns")
                continue
            yield Row(location, dict(zip(header, values, strict=True)))


class _BadLine(Exception):
    def __init__(self, line_no: int, message: str):
        super().__init__(message)
        self.line_no = line_no


def _decoded_lines(f: io.BufferedReader) -> Iterator[str]:
    """Physical lines as text, strictly UTF-8, each at most the record limit."""
    line_no = 0
    while raw := f.readline(MAX_RECORD_BYTES + 1):
        line_no += 1
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            raise _BadLine(line_no, f"a field is larger than the {_mib(MAX_RECORD_BYTES)} limit per record")
        if line_no == 1:
            raw = raw.removeprefix(BOM)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadLine(line_no, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None


def _sniff_delimiter(head: bytes, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    first_line = head.split(b"\n", 1)[0]
    counts = {d: first_line.count(d.encode()) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _header_problem(header: list[str]) -> str | None:
    if any(not h for h in header):
        return f"column {header.index('') + 1} has no name"
    seen: set[str] = set()
    for name in header:
        if name in seen:
            return f"column name {name!r} appears twice"
        seen.add(name)
    return None


def _csv_problem(exc: Exception) -> str:
    if isinstance(exc, _BadLine):
        return str(exc)
    message = str(exc)
    if "field larger than field limit" in message:
        return f"a field is larger than the {_mib(MAX_RECORD_BYTES)} limit per record"
    if "NUL" in message:
        return "contains a NUL byte"
    return f"malformed CSV ({message})"


def _read_parquet(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq  # heavy import, only when needed

    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise UnreadableFile("the file is empty")
    if head != b"PAR1":
        raise UnreadableFile("not a valid Parquet file (it does not start with the PAR1 marker)")
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise UnreadableFile(f"not a valid Parquet file ({_first_line(exc)})") from None
    checks = {field.name: _column_check(field.type) for field in parquet.schema_arrow}
    convert = "convert" in checks.values()
    walk = convert or "walk" in checks.values()
    vector = [name for name, check in checks.items() if check in ("float", "uint64", "string")]
    row_no = 0
    try:
        for batch in parquet.iter_batches(batch_size=2048):
            # Columns the schema can't vouch for are walked per row; a top-level float or uint64
            # column is checked at once, and only its flagged rows are walked (for the message).
            flagged = set() if walk else _flagged_rows(batch, vector, checks)
            for index, item in enumerate(batch.to_pylist()):
                row_no += 1
                yield _parquet_row(item, f"row {row_no}", convert, walk or index in flagged)
    except Exception as exc:
        problem = _first_line(exc)
        if "Nanosecond resolution" in problem:  # pyarrow's own advice (install pandas) doesn't apply here
            problem = "a timestamp has nanoseconds, which can't be kept; round it to microseconds or store it as text"
        yield Row(f"row {row_no + 1}", None, f"unreadable Parquet data ({problem})")


def _parquet_row(item: dict[str, Any], location: str, convert: bool, walk: bool) -> Row:
    if convert:
        plain = {}
        for key, value in item.items():
            try:
                plain[key] = _plain(value, 1)
            except _NotJson as exc:
                return Row(location, None, f"column {key!r}: {exc}")
        item = plain
    if walk:
        problem = json_problem(item)
        if problem is not None:
            return Row(location, None, problem)
    try:
        text = orjson.dumps(item)
    except orjson.JSONEncodeError as exc:  # a type not foreseen below: refused, never stored as its repr
        return Row(location, None, f"a value can't be kept as JSON ({exc})")
    if len(text) > MAX_RECORD_BYTES:
        return Row(location, None, f"record is larger than the {_mib(MAX_RECORD_BYTES)} limit per record")
    return Row(location, item, text=text.decode())


def _column_check(kind: Any, depth: int = 1) -> str:
    """What a column's values need for the JSON rule, from its type: "safe" (nothing: the type
    can't break it), "float" / "uint64" / "string" (a vectorised check; top level only), "walk" (json_scan
    per row) or "convert" (_plain, then the walk). Strings are checked for U+0000."""
    import pyarrow.types as t

    if t.is_dictionary(kind):
        return _column_check(kind.value_type, depth)
    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind) or t.is_struct(kind):
        if depth >= MAX_DEPTH:
            return "walk"  # refused by the walk, with its message
        children = ([kind.value_type] if not t.is_struct(kind)
                    else [kind.field(i).type for i in range(kind.num_fields)])
        checks = {_column_check(child, depth + 1) for child in children}
        return "convert" if "convert" in checks else "safe" if checks <= {"safe"} else "walk"
    if t.is_floating(kind) or t.is_uint64(kind):
        return "walk" if depth > 1 else "float" if t.is_floating(kind) else "uint64"
    if t.is_string(kind) or t.is_large_string(kind):
        # Valid UTF-8, but it may hold U+0000, which PostgreSQL can't store.
        return "walk" if depth > 1 else "string"
    if (t.is_null(kind) or t.is_boolean(kind) or t.is_integer(kind) or t.is_timestamp(kind) or t.is_date(kind)
            or t.is_time(kind)):
        return "safe"  # the other integers fit in 64 bits
    return "convert"


def _flagged_rows(batch: Any, columns: list[str], checks: dict[str, str]) -> set[int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    flagged: set[int] = set()
    for name in columns:
        column = batch.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if checks[name] == "float":
            bad = pc.invert(pc.fill_null(pc.is_finite(column), True))
        elif checks[name] == "string":
            bad = pc.fill_null(pc.match_substring(column, "\x00"), False)
        else:
            bad = pc.fill_null(pc.greater(column, pa.scalar(INT64_MAX, pa.uint64())), False)
        if pc.any(bad).as_py():
            flagged.update(pc.indices_nonzero(bad).to_pylist())
    return flagged


class _NotJson(ValueError):
    pass


def _plain(value: Any, depth: int) -> Any:
    """A Parquet value as JSON, decided per type: binary as UTF-8 text (else refused), decimals as
    exact text, durations as seconds, map entries as [key, value] arrays; anything else refused."""
    import datetime
    import decimal

    if value is None or isinstance(value, (str, int, float, datetime.date, datetime.time)):
        return value  # bool is an int; datetime is a date
    if depth > MAX_DEPTH:
        raise _NotJson(TOO_DEEP)
    if isinstance(value, dict):
        return {key: _plain(v, depth + 1) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _NotJson("a binary value is not UTF-8 text (store binary data as base64 text)") from None
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    raise _NotJson(f"a {type(value).__name__} value can't be kept as JSON")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"
