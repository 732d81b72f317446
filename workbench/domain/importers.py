"""Streaming readers for JSONL, CSV and Parquet files.

Each reader yields ``Row(location, record, problem)`` one at a time so a
200K-record file is never held in memory; a row with a problem carries a
message a person can act on ("line 7: malformed JSON ..."). The caller
decides what to do with problems (the import is all-or-nothing).
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

# Documented limit: one record (a JSONL line, a CSV row, a Parquet row as
# JSON) may be at most this large. Bigger ones are almost always a mistake
# (a whole document pasted into one field) and would bloat every prompt.
MAX_RECORD_BYTES = 2 * 1024 * 1024
# A JSON array file (not JSONL) has to be parsed whole, so it gets a cap.
MAX_JSON_ARRAY_BYTES = 256 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
# A record with more fields than this is a table turned sideways, not a record.
MAX_FIELDS = 2000
FORMATS = ("jsonl", "csv", "parquet")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    location: str
    record: dict[str, Any] | None
    problem: str | None = None


class UnreadableFile(ValueError):
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


_INT64 = (-(2**63), 2**63 - 1)


def _too_big_number(value: Any, text: str | bytes) -> str | None:
    """An integer beyond 64 bits can't be stored exactly: say so instead of rounding it.

    orjson reads such an integer as an int past int64 or, past 64 bits, as a float; only then is
    the text read again exactly, to tell `1e20` (a float, fine) from `100000000000000000000`.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int and not _INT64[0] <= item <= _INT64[1]:
            return _too_big_message(item)
        elif kind is float and abs(item) > _INT64[1]:
            return _exact_check(text)
    return None


def _exact_check(text: str | bytes) -> str | None:
    stack = [json.loads(text)]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not _INT64[0] <= item <= _INT64[1]:
            return _too_big_message(item)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _too_big_message(number: int) -> str:
    shown = str(number)
    return f"the number {shown[:20]}{'…' if len(shown) > 20 else ''} is too large to keep exactly; quote it as a string"


def _parse_object(text: str | bytes, location: str) -> Row:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Row(location, None, f"malformed JSON ({exc.msg} at column {exc.colno})")
    big = _too_big_number(value, text)
    if big is not None:
        return Row(location, None, big)
    if not isinstance(value, dict):
        return Row(location, None, f"expected a JSON object, got {_json_type(value)}")
    if len(value) > MAX_FIELDS:
        return Row(location, None, f"{len(value)} fields; the limit is {MAX_FIELDS} per record")
    return Row(location, value)


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
            f"a JSON array file may be at most {_mib(MAX_JSON_ARRAY_BYTES)}; save large files as JSONL (one object per line)"
        )
    data = path.read_bytes().removeprefix(BOM)
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnreadableFile(f"malformed JSON array (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    for index, item in enumerate(items, 1):
        location = f"item {index}"
        if not isinstance(item, dict):
            yield Row(location, None, f"expected a JSON object, got {_json_type(item)}")
        elif len(orjson.dumps(item, default=str)) > MAX_RECORD_BYTES:
            yield Row(location, None, f"record is larger than the {_mib(MAX_RECORD_BYTES)} limit per record")
        else:
            yield Row(location, item)


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
            yield Row(location, dict(zip(header, values)))


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
    best = max(counts, key=counts.get)
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
    row_no = 0
    try:
        for batch in parquet.iter_batches(batch_size=2048):
            for item in batch.to_pylist():
                row_no += 1
                location = f"row {row_no}"
                if len(orjson.dumps(item, default=str)) > MAX_RECORD_BYTES:
                    yield Row(location, None, f"record is larger than the {_mib(MAX_RECORD_BYTES)} limit per record")
                else:
                    yield Row(location, item)
    except Exception as exc:
        yield Row(f"row {row_no + 1}", None, f"unreadable Parquet data ({_first_line(exc)})")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"
