"""Datasets: import a file (or an upload), list, read records, rename, delete."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path, PurePath
from typing import BinaryIO

from workbench.domain.errors import InvalidInput, NotFound, WorkbenchError
from workbench.domain.importers import FORMATS
from workbench.domain.records import DisplayFields
from workbench.scratch import scratch_path
from workbench.store import Store
from workbench.store import datasets as stored
from workbench.store.datasets import DatasetInfo, StoredRecord

UPLOAD_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq"}
MAX_UPLOAD_BYTES = 2 * 1024**3
MAX_RECORDS_PAGE = 500
MAX_NAME_CHARS = 200  # as an upload's name (web/params.py FormText)


class UploadTooLarge(WorkbenchError):
    status = 413


class RecordNotFound(NotFound):
    pass


def list_datasets(store: Store) -> list[DatasetInfo]:
    return stored.list_datasets(store)


def get_dataset(store: Store, dataset_id: str) -> DatasetInfo:
    return stored.get_dataset(store, dataset_id)


def import_file(store: Store, path: Path, *, name: str | None = None, id_field: str | None = None,
                fmt: str | None = None, title_field: str | None = None,
                subtitle_fields: tuple[str, ...] = ()) -> DatasetInfo:
    """A JSONL, CSV or Parquet file as a new dataset (all or nothing: problems come back by line)."""
    display = DisplayFields(title_field, tuple(subtitle_fields)) if (title_field or subtitle_fields) else None
    return stored.import_dataset(store, path, name=name, id_field=id_field, fmt=fmt, display=display)


def import_upload(store: Store, stream: BinaryIO, client_name: str | None, *, name: str | None = None,
                  id_field: str | None = None, fmt: str | None = None) -> DatasetInfo:
    """An uploaded file, copied (bounded) to a scratch file and imported. Only the suffix of the
    client's name is used: the path is ours, so no traversal."""
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    shown_name = PurePath((client_name or "upload").replace("\\", "/")).name or "upload"
    suffix = PurePath(shown_name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES and fmt is None:
        raise InvalidInput(f"unsupported file type {suffix or '(none)'}; upload JSONL, CSV or Parquet")
    # Named after this process, so a restart can tell a dead process's leftover (workbench.scratch).
    target = scratch_path(store.settings.ensure_data_dir() / "uploads", suffix if suffix in UPLOAD_SUFFIXES else "")
    try:
        _copy_limited(stream, target)
        return stored.import_dataset(store, target, name=name or PurePath(shown_name).stem, id_field=id_field,
                                     fmt=fmt, source_name=shown_name)
    finally:
        target.unlink(missing_ok=True)


def _copy_limited(stream: BinaryIO, target: Path) -> None:
    written = 0
    with open(target, "wb") as out:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                raise UploadTooLarge(f"file larger than the {MAX_UPLOAD_BYTES // 1024**3} GiB upload limit")
            out.write(chunk)


def records_page(store: Store, dataset_id: str, *, after: int = 0, limit: int = 50) -> dict:
    """Records in file order after seq ``after`` (at most MAX_RECORDS_PAGE), and where the next page starts."""
    stored.get_dataset(store, dataset_id)  # an unknown id is an error, not an empty page
    rows = [asdict(r) for r in stored.iter_records(store, dataset_id, after_seq=after,
                                                    limit=max(1, min(limit, MAX_RECORDS_PAGE)))]
    return {"records": rows, "next_after": rows[-1]["seq"] if rows else None}


def first_records(store: Store, dataset_id: str, limit: int) -> list[StoredRecord]:
    stored.get_dataset(store, dataset_id)
    return list(stored.iter_records(store, dataset_id, limit=limit))


def get_record(store: Store, dataset_id: str, record_id: str) -> StoredRecord:
    record = stored.get_record(store, dataset_id, record_id)
    if record is None:
        raise RecordNotFound(f"no record {record_id!r} in dataset {dataset_id!r}")
    return record


def delete_dataset(store: Store, dataset_id: str) -> None:
    """The dataset and everything run on it."""
    stored.delete_dataset(store, dataset_id)


def dataset_name(text: object) -> str:
    """A dataset's display name as a person typed it: trimmed, not blank, at most MAX_NAME_CHARS
    characters, no NUL or other control characters (the rules an upload's name follows)."""
    if not isinstance(text, str):
        raise InvalidInput("name must be a text")
    name = text.strip()
    if not name:
        raise InvalidInput("name must not be blank")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"name is {len(name)} characters long; at most {MAX_NAME_CHARS}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput("name must not hold control characters (NUL, newlines, tabs)")
    return name


def rename_dataset(store: Store, dataset_id: str, name: object) -> DatasetInfo:
    """A new display name for the dataset; pages showing the list hear a live ``dataset`` message."""
    return stored.rename_dataset(store, dataset_id, dataset_name(name))
