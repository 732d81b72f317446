"""Export formats, streamed: rows are written as they come, never collected first.

Input items are any objects with ``record_id``, ``title``, ``subtitle``,
``data`` and ``results`` (column id -> result dict or None), e.g. the
store's RecordResults. CSV cells that a spreadsheet would run as a formula
are neutralised.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from workbench.domain.errors import InvalidInput, NotFound
from workbench.domain.names import EXPORT_FORMATS, EXPORT_KIND_FORMATS, EXPORT_KINDS, EXPORT_LAYOUTS, MAX_EXAMPLES

FORMATS = ("jsonl", "csv", "parquet")
# The kinds, their formats (the first is the default) and layouts: defined in names.py, light for the CLI.
KIND_FORMATS, KINDS, ALL_FORMATS = EXPORT_KIND_FORMATS, EXPORT_KINDS, EXPORT_FORMATS
LAYOUTS = EXPORT_LAYOUTS


class UnknownExportKind(NotFound):
    pass


def check_export(kind: str, fmt: str | None, layout: str = "long", examples: int = 5, judge: bool = False) -> str:
    """The format to write ``kind`` in (its default when none is asked), or a one-line refusal.
    ``judge``: add the judge's pairs, which only the preferences export has."""
    if kind not in KIND_FORMATS:
        raise UnknownExportKind(f"no export kind {kind!r}; use one of {', '.join(KINDS)}")
    fmt = fmt or KIND_FORMATS[kind][0]
    if fmt not in KIND_FORMATS[kind]:
        raise InvalidInput(f"{kind} exports as {' or '.join(KIND_FORMATS[kind])}, not {fmt}")
    if layout not in LAYOUTS:
        raise InvalidInput(f"layout must be {' or '.join(LAYOUTS)}")
    if not 1 <= examples <= MAX_EXAMPLES:
        raise InvalidInput(f"examples must be 1 to {MAX_EXAMPLES}")
    if judge and kind != "preferences":
        raise InvalidInput("judge pairs are for the preferences export only")
    return fmt


def export_file_name(dataset_id: str, kind: str, fmt: str, layout: str = "long") -> str:
    return f"{dataset_id}-{kind}{'-wide' if layout == 'wide' and kind == 'results' else ''}.{fmt}"
META_COLUMNS = ["record_id", "title", "subtitle", "model_id", "run_id", "status"]
TAIL_COLUMNS = ["error_kind", "error_message", "latency_ms", "tokens_in", "tokens_out", "attempts", "cached"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def result_columns(output_fields: list[str]) -> list[str]:
    return META_COLUMNS + [f for f in output_fields if f not in META_COLUMNS] + TAIL_COLUMNS


def long_rows(items: Iterable[Any], output_fields: list[str], *, include_record: bool = False) -> Iterator[dict]:
    """One row per record × column that has a result (its model and run named)."""
    for item in items:
        for column, result in item.results.items():
            if result is None:
                continue
            output = result.get("output") or {}
            row = {"record_id": item.record_id, "title": item.title, "subtitle": item.subtitle,
                   "model_id": result.get("model_id") or column, "run_id": result.get("run_id"),
                   "status": result["status"]}
            if include_record:
                row["output"] = result.get("output")
                row["raw_text"] = result.get("raw_text")
            else:
                row.update({f: _cell(output.get(f)) for f in output_fields})
            row.update({c: result.get(c) for c in TAIL_COLUMNS})
            row["cached"] = bool(row["cached"])
            if include_record:
                row["record"] = item.data
            yield row


def long_values(items: Iterable[Any], output_fields: list[str]) -> Iterator[list]:
    """long_rows(items, output_fields) as lists in result_columns(output_fields) order, without a dict
    per row: the CSV and Parquet exports' hot path. Nested output values are left as they are; both
    writers turn them into JSON text, as _cell would."""
    if set(output_fields) & set(META_COLUMNS + TAIL_COLUMNS):  # a field shadows a column: the general way
        columns = result_columns(output_fields)
        for as_dict in long_rows(items, output_fields):
            yield [as_dict[c] for c in columns]
        return
    tail = TAIL_COLUMNS[:-1]  # "cached" last, as a bool
    for item in items:
        head = (item.record_id, item.title, item.subtitle)
        for column, result in item.results.items():
            if result is None:
                continue
            get = result.get
            row: list[Any] = [*head, get("model_id") or column, get("run_id"), result["status"]]
            row += map((get("output") or {}).get, output_fields)
            row += map(get, tail)
            row.append(bool(get("cached")))
            yield row


def shadows_columns(output_fields: list[str]) -> bool:
    """Whether an output field has a column's name: then only the dict rows (long_rows) say which wins."""
    return bool(set(output_fields) & set(META_COLUMNS + TAIL_COLUMNS))


def flat_long_values(items: Iterable[tuple], output_fields: list[str]) -> Iterator[list]:
    """long_values from flat tuples (grid.views.iter_long_results: record_id, title, subtitle, column id,
    run id, model id, status, output JSON text, error_kind, error_message, latency_ms, tokens_in,
    tokens_out, attempts, cached) instead of RecordResults. Not for fields that shadow_columns."""
    loads = orjson.loads
    for item in items:
        output = (loads(item[7]) if item[7] else None) or {}
        row: list[Any] = [item[0], item[1], item[2], item[5] or item[3], item[4], item[6]]
        row += map(output.get, output_fields)
        row += item[8:14]
        row.append(bool(item[14]))
        yield row


def neutralised_long_values(items: Iterable[tuple], output_fields: list[str]) -> Iterator[list]:
    """flat_long_values with every cell as write_csv_values would neutralise it, for its
    ``neutralised=True``: a record's cells done once for its columns' rows, a column's names once,
    the number columns not at all (15M cells at 1M × 3)."""
    cell, loads, formula = _csv_value, orjson.loads, _FORMULA_CHARS
    last_id, head = None, [None, None, None]
    names: dict[tuple, list] = {}
    for item in items:
        if item[0] is not last_id:  # the same record as the row before (its columns' rows are adjacent)
            last_id, head = item[0], [cell(item[0]), cell(item[1]), cell(item[2])]
        key = item[3:7]
        named = names.get(key)
        if named is None:
            named = names[key] = [cell(item[5] or item[3]), item[4], cell(item[6])]
        output = (loads(item[7]) if item[7] else None) or {}
        texts = [output.get(f) for f in output_fields]
        texts += item[8:10]
        yield [*head, *named, *[(("'" + v if v and v[0] in formula else v) if type(v) is str else cell(v))
                                for v in texts], *item[10:14], bool(item[14])]


def _cell(value: Any) -> Any:
    return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else value


def neutralise(value: Any) -> Any:
    """A leading quote stops =HYPERLINK(...) and friends from running when opened in a spreadsheet."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


_FORMULA_CHARS = frozenset(_FORMULA_START)


def _csv_value(value: Any) -> Any:
    """_cell and neutralise in one step: this runs for every cell of a 200K-record export."""
    kind = type(value)
    if kind is str:
        return "'" + value if value and value[0] in _FORMULA_CHARS else value
    if kind is dict or kind is list:
        return neutralise(orjson.dumps(value).decode())
    return value


@contextmanager
def atomic_output(path: Path, mode: str = "wb"):
    """Write to a temp file beside the target and rename at the end: no half-written exports."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding="utf-8" if text else None, newline="" if text else None) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(rows: Iterable[dict], path: Path) -> int:
    count = 0
    with atomic_output(path) as f:
        for row in rows:
            f.write(orjson.dumps(row, default=str) + b"\n")
            count += 1
    return count


def write_csv(rows: Iterable[dict], path: Path, columns: list[str]) -> int:
    return write_csv_values(([row.get(c) for c in columns] for row in rows), path, columns)


def write_csv_values(rows: Iterable[list], path: Path, columns: list[str], *, neutralised: bool = False) -> int:
    """Rows as lists in ``columns`` order; every cell goes through _csv_value (inlined: 10M cells at scale),
    unless the rows come ``neutralised`` already (neutralised_long_values)."""
    count = 0
    formula, nested = _FORMULA_CHARS, (dict, list)
    with atomic_output(path, "w") as f:
        writer = csv.writer(f)
        writer.writerow([neutralise(c) for c in columns])  # field names come from data and tasks too
        write = writer.writerow
        if neutralised:
            for row in rows:
                write(row)
                count += 1
            return count
        for row in rows:
            write([(("'" + v if v and v[0] in formula else v) if type(v) is str
                    else _csv_value(v) if type(v) in nested else v) for v in row])
            count += 1
    return count


_PARQUET_NUMBERS = {"latency_ms": "float64", "tokens_in": "int64", "tokens_out": "int64", "attempts": "int64",
                    "run_id": "int64", "cached": "bool_"}


def write_parquet(rows: Iterable[dict], path: Path, columns: list[str], batch: int = 5000) -> int:
    return write_parquet_values(([row.get(c) for c in columns] for row in rows), path, columns, batch)


def write_parquet_values(rows: Iterable[list], path: Path, columns: list[str], batch: int = 5000) -> int:
    """Rows as lists in ``columns`` order, written a column at a time in row groups of ``batch``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = [getattr(pa, _PARQUET_NUMBERS[c])() if c in _PARQUET_NUMBERS else pa.string() for c in columns]
    schema = pa.schema(list(zip(columns, types, strict=True)))
    count = 0

    def table(chunk: list[list]):
        arrays = []
        for values, kind in zip(zip(*chunk, strict=True), types, strict=True):
            if kind == pa.string():
                try:  # all text already (bytes, which no export produces, would pass as UTF-8)
                    arrays.append(pa.array(values, kind))
                    continue
                except pa.ArrowTypeError:
                    arrays.append(pa.array([_as_text(v) for v in values], kind))
                    continue
            arrays.append(pa.array(values, kind))
        return pa.Table.from_arrays(arrays, schema=schema)

    with atomic_output(path) as f:
        with pq.ParquetWriter(f, schema) as writer:
            chunk: list[list] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= batch:
                    writer.write_table(table(chunk))
                    count += len(chunk)
                    chunk = []
            if chunk:
                writer.write_table(table(chunk))
                count += len(chunk)
    return count


def _as_text(value: Any) -> str | None:
    kind = type(value)
    if kind is str or value is None:
        return value
    return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else str(value)
