"""The bad input corpus (tests/data/bad/): each file is refused with a clear message and the
store is left exactly as it was; formula-like CSV cells import but are neutralised on export."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from click.testing import CliRunner
from fastapi.testclient import TestClient

from workbench.cli import main
from workbench.domain.datasets import ImportRejected
from workbench.domain.importers import UnreadableFile
from workbench.store.datasets import import_dataset, list_datasets
from workbench.web.app import create_app

BAD = Path(__file__).parent / "data" / "bad"

EXPECTED = {
    "malformed.jsonl": "line 2: malformed JSON",
    "truncated.jsonl": "line 3: malformed JSON",
    "invalid-utf8.jsonl": "line 2: invalid UTF-8",
    "nul-bytes.jsonl": "NUL byte",
    "deeply-nested.jsonl": "line 1: nested more than 64 levels deep",
    "nested-300.jsonl": "line 2: nested more than 64 levels deep",
    "nested-array.json": "item 2: nested more than 64 levels deep",
    "nested.parquet": "row 1: nested more than 64 levels deep",
    "huge-number-array.json": "item 2: the number 10000000000000000000… is too large to keep exactly",
    "huge-float.jsonl": "line 1: the number at column 19 is too large to keep exactly",
    "uint64.parquet": "row 2: the number 18446744073709551615 is too large to keep exactly",
    "nan.parquet": "row 2: nan is not a JSON number",
    "binary.parquet": "row 2: column 'blob': a binary value is not UTF-8 text",
    "lone-surrogate.jsonl": "line 2: a string holds a lone surrogate",
    "surrogate-bytes.csv": "line 3: invalid UTF-8",
    "duplicate-ids.jsonl": "duplicate ids in field 'id': 'r1' (line 1 and line 3)",
    "wrong-types.jsonl": "must be a non-empty string or integer",
    "huge-number.jsonl": "line 1: the number 12345678901234567890… is too large to keep exactly",
    "not-an-object.jsonl": "line 2: expected a JSON object, got an array",
    "binary.jsonl": "binary file",
    "empty.jsonl": "the file is empty",
    "ragged.csv": "row 2 (line 3): has 3 values but the header has 2 columns",
    "zip-bomb.parquet": "not a valid Parquet file",
}


def snapshot(store):
    with store.engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("datasets", "records", "events")}
    return counts, [d.id for d in list_datasets(store)]


def test_the_corpus_is_complete():
    assert set(EXPECTED) | {"csv-injection.csv", "README.md"} == {p.name for p in BAD.iterdir()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_is_refused_clearly(store, name):
    before = snapshot(store)
    with pytest.raises((ImportRejected, UnreadableFile)) as info:
        import_dataset(store, BAD / name)
    message = " ".join([str(info.value), *getattr(info.value, "problems", [])])
    assert EXPECTED[name] in message, message
    assert "\n" not in str(info.value)
    assert snapshot(store) == before


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_is_refused_clearly_by_the_api_and_the_cli(settings, store, name):
    before = snapshot(store)
    with TestClient(create_app(settings, store=store), base_url="http://localhost",
                    headers={"X-Workbench-Client": "tests"}) as client:
        answer = client.post("/api/datasets", files={"file": (name, (BAD / name).read_bytes())})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert EXPECTED[name] in " ".join([body["detail"], *(body.get("problems") or [])]), body
    result = CliRunner().invoke(main, ["import", str(BAD / name), "--data-dir", str(settings.data_dir)],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.startswith("error: ")
    assert EXPECTED[name] in result.output, result.output
    assert snapshot(store) == before


def test_ten_megabyte_line(store, tmp_path):
    path = tmp_path / "long-line.jsonl"
    path.write_text('{"id": "r1", "text": "' + "x" * 10_000_000 + '"}\n{"id": "r2"}\n', encoding="utf-8")
    before = snapshot(store)
    with pytest.raises(ImportRejected, match="line 1: record is larger than the 2 MiB limit"):
        import_dataset(store, path)
    assert snapshot(store) == before


def test_a_hundred_thousand_columns(store, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" * 100_000) + "\n",
                    encoding="utf-8")
    before = snapshot(store)
    with pytest.raises(UnreadableFile, match="100000 columns; the limit is 2000"):
        import_dataset(store, path)
    assert snapshot(store) == before


def test_formula_cells_import_and_are_neutralised_on_export(store, tmp_path):
    import asyncio

    from workbench.domain.models import build_model
    from workbench.runner.manager import RunManager
    from workbench.service.runs import start_runs
    from workbench.service.exports import export
    from workbench.store.models import save_model

    info = import_dataset(store, BAD / "csv-injection.csv")
    assert info.record_count == 2
    save_model(store, build_model({"id": "rules", "provider": "baseline"}))
    runs = start_runs(store, info.id, ["rules"])
    asyncio.run(RunManager(store).execute([r.id for r in runs]))
    out = tmp_path / "results.csv"
    export(store, "results", info.id, None, "csv", out)
    cells = [cell for row in csv.reader(open(out, encoding="utf-8")) for cell in row]
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in cells and "'@SUM(1+1)" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
