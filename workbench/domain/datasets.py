"""Turning a file's rows into dataset records, all-or-nothing.

``RecordPlanner`` consumes rows from a reader and yields records ready to
store. It keeps going after a problem so the user sees every bad line at
once (up to a limit), but once anything is wrong the caller must discard the
import: nothing is half-imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from workbench.domain.importers import Row
from workbench.domain.records import DisplayFields, content_id, normalise_id
from workbench.domain.errors import InvalidInput

MAX_PROBLEMS = 20
DEFAULT_ID_FIELD = "id"


@dataclass(frozen=True)
class PreparedRecord:
    seq: int
    record_id: str
    title: str
    subtitle: str
    data: str  # the raw record as JSON text


class ImportRejected(InvalidInput):
    """The file has problems; nothing was imported."""

    def __init__(self, problems: list[str], more: int = 0):
        self.problems = problems
        self.more = more
        summary = "; ".join(problems[:3])
        extra = len(problems) - 3 + more
        super().__init__(summary + (f" (and {extra} more)" if extra > 0 else ""))

    def to_dict(self) -> dict:
        return {"detail": f"nothing imported: {self}", "problems": self.problems, "more": self.more}


@dataclass
class RecordPlanner:
    id_field: str | None = None  # None: use "id" when the file has it, else generate
    display: DisplayFields | None = None
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    id_source: str | None = None  # the field ids came from, or None when generated
    # Light: ids from a field are not remembered (at 1M records that dict was 120 MB; the store's
    # unique index refuses a duplicate instead) and the first problem ends the pass. The caller
    # then plans the file again, not light, to list every problem as before.
    light: bool = False
    _seen: dict[str, str] = field(default_factory=dict)
    _duplicates: list[str] = field(default_factory=list)
    _duplicate_count: int = 0
    _content_seen: dict[str, int] = field(default_factory=dict)
    _decided: bool = False

    def plan(self, rows: Iterable[Row]) -> Iterator[PreparedRecord]:
        seq = 0
        for row in rows:
            if row.problem is not None or row.record is None:
                self._problem(f"{row.location}: {row.problem}")
                if self.light:
                    return
                continue
            record = row.record
            if not self._decided:
                self._decide_ids_and_display(record)
            try:
                record_id = self._record_id(record, row.location)
                if record_id is None:
                    if self.light and self.problem_count:
                        return
                    continue
                seq += 1
                if self.problem_count:
                    continue  # still scanning for more problems; nothing will be stored
                data = row.text or orjson.dumps(record).decode()
            except orjson.JSONEncodeError as exc:  # the readers check the rule; this is the last line
                self._problem(f"{row.location}: can't be stored as JSON ({exc})")
                continue
            display = self.display
            assert display is not None  # decided with the first record
            yield PreparedRecord(
                seq=seq,
                record_id=record_id,
                title=display.title(record, record_id),
                subtitle=display.subtitle(record),
                data=data,
            )
        self._finish(seq)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def raise_if_rejected(self) -> None:
        if not self.ok:
            raise ImportRejected(self.problems, more=self.problem_count - len(self.problems))

    def _decide_ids_and_display(self, first: dict[str, Any]) -> None:
        self._decided = True
        if self.id_field is None:
            self.id_source = DEFAULT_ID_FIELD if DEFAULT_ID_FIELD in first else None
        else:
            self.id_source = self.id_field
        if self.display is None:
            self.display = DisplayFields.infer(first)

    def _record_id(self, record: dict[str, Any], location: str) -> str | None:
        if self.id_source is None:
            base = content_id(record)
            # Identical records are legitimate (e.g. repeated questions): number them.
            n = self._content_seen.get(base, 0) + 1
            self._content_seen[base] = n
            return base if n == 1 else f"{base}-{n}"
        if self.id_source not in record:
            self._problem(f"{location}: missing the id field {self.id_source!r}")
            return None
        record_id = normalise_id(record[self.id_source])
        if record_id is None:
            self._problem(f"{location}: the id field {self.id_source!r} must be a non-empty string or integer")
            return None
        if self.light:
            return record_id
        first_location = self._seen.get(record_id)
        if first_location is not None:
            self._duplicate_count += 1
            if len(self._duplicates) < 10:
                self._duplicates.append(f"{record_id!r} ({first_location} and {location})")
            return None
        self._seen[record_id] = location
        return record_id

    def _problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def _finish(self, count: int) -> None:
        if self._duplicate_count:
            listed = ", ".join(self._duplicates)
            more = self._duplicate_count - len(self._duplicates)
            self._problem(
                f"duplicate ids in field {self.id_source!r}: {listed}" + (f" and {more} more" if more else "")
                + " (ids must be unique; pass another id field, or remove the duplicates)"
            )
        if count == 0 and not self.problem_count:
            self._problem("the file has no records")
        self._seen.clear()
        self._content_seen.clear()


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:48].strip("-") or "dataset"
