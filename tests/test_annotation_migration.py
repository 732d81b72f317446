"""m007_annotations_per_run: annotations written keyed by (record, model) move to the run that was
latest for that model when they were written (on SQLite and, with WORKBENCH_TEST_POSTGRES=1, PostgreSQL)."""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from workbench.store import migrations
from workbench.store.db import create_engine, open_store
from workbench.store.annotations import answer_states, history, record_notes, undo

BEFORE = [name for name, _ in migrations.MIGRATIONS].index("m007_annotations_per_run")


def _old_database(settings, monkeypatch) -> sa.Engine:
    """A database migrated up to m006, with runs and old-style annotations written in SQL."""
    settings.ensure_data_dir()
    engine = create_engine(settings.database_url)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:BEFORE])
    migrations.migrate(engine)
    monkeypatch.undo()
    snapshot = orjson.dumps({"id": "gemma", "name": "Gemma", "provider": "baseline"}).decode()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO datasets (id, name, format, subtitle_fields, record_count, created_at) "
                             "VALUES ('d', 'd', 'jsonl', '[]', 3, '2026-01-01T00:00:00')"))
        for seq in (1, 2, 3):
            conn.execute(sa.text("INSERT INTO records (dataset_id, seq, record_id, data) VALUES ('d', :s, :r, '{}')"),
                         {"s": seq, "r": f"r{seq}"})
        # gemma ran twice (10:00 and 12:00), olmo once (11:00): ids 1, 2, 3.
        for model, at in (("gemma", "2026-01-01T10:00:00"), ("olmo", "2026-01-01T11:00:00"),
                          ("gemma", "2026-01-01T12:00:00")):
            conn.execute(sa.text(
                "INSERT INTO runs (dataset_id, model_id, task_name, task_version, status, model_snapshot, options,"
                " total, done, created_at, updated_at) VALUES ('d', :m, 'candidate-screening', 1, 'completed', "
                ":snap, '{}', 3, 3, :at, :at)"), {"m": model, "snap": snapshot.replace("gemma", model), "at": at})
        for run_id in (1, 2, 3):
            for seq in (1, 2, 3):
                conn.execute(sa.text(
                    "INSERT INTO results (run_id, seq, record_id, status, output, created_at) "
                    "VALUES (:run, :seq, :rec, 'ok', :out, '2026-01-01T13:00:00')"),
                    {"run": run_id, "seq": seq, "rec": f"r{seq}",
                     "out": orjson.dumps({"recommendation": f"answer of run {run_id}"}).decode()})

        def old_row(seq, model, at, run_id=None, golden=0, preference=None, note=None):
            conn.execute(sa.text(
                "INSERT INTO annotations (dataset_id, seq, model_id, record_id, run_id, golden, preference, note,"
                " updated_by, updated_at) VALUES ('d', :seq, :model, :rec, :run, :golden, :pref, :note, 'ann', :at)"),
                {"seq": seq, "model": model, "rec": f"r{seq}", "run": run_id, "golden": golden, "pref": preference,
                 "note": note, "at": at})
            field, value = ("golden", True) if model else ("preference", preference)
            conn.execute(sa.text(
                "INSERT INTO annotation_events (dataset_id, seq, record_id, model_id, run_id, field, value, previous,"
                " author, created_at) VALUES ('d', :seq, :rec, :model, :run, :field, :value, :previous, 'ann', :at)"),
                {"seq": seq, "rec": f"r{seq}", "model": model, "run": run_id, "field": field,
                 "value": orjson.dumps(value).decode(), "previous": orjson.dumps(False if model else None).decode(),
                 "at": at})

        old_row(1, "gemma", "2026-01-01T11:30:00", golden=1)  # between gemma's runs: run 1
        old_row(2, "gemma", "2026-01-01T12:30:00", golden=1)  # after the second: run 3
        old_row(3, "gemma", "2026-01-01T09:00:00", golden=1)  # before any run: the first, run 1
        old_row(1, "olmo", "2026-01-01T11:30:00", run_id=2, golden=1)  # a run already named: kept
        old_row(2, "ghost", "2026-01-01T11:30:00", golden=1)  # a model that never ran here: no answer
        old_row(1, "", "2026-01-01T11:45:00", preference="gemma")  # then gemma's latest was run 1
        old_row(2, "", "2026-01-01T12:45:00", preference="tie", note="close call")
    return engine


def test_old_annotations_move_to_the_run_latest_when_they_were_written(settings, monkeypatch):
    _old_database(settings, monkeypatch).dispose()
    store = open_store(settings)  # applies m007
    try:
        states = answer_states(store, "d")
        by_record = {seq: sorted((s.model_id, s.run_id, s.output["recommendation"]) for s in found)
                     for seq, found in states.items()}
        assert by_record == {
            1: [("gemma", 1, "answer of run 1"), ("olmo", 2, "answer of run 2")],
            2: [("gemma", 3, "answer of run 3")],  # ghost's row is gone: it named no answer
            3: [("gemma", 1, "answer of run 1")],
        }
        notes = record_notes(store, "d", [1, 2])
        assert notes == {1: {"preference": "run:1", "note": None}, 2: {"preference": "tie", "note": "close call"}}
        with store.engine.connect() as conn:
            events = conn.execute(sa.text("SELECT seq, model_id, run_id, field, value FROM annotation_events "
                                          "ORDER BY id")).all()
        assert [(e.seq, e.model_id, e.run_id) for e in events if e.field == "golden"] == [
            (1, "gemma", 1), (2, "gemma", 3), (3, "gemma", 1), (1, "olmo", 2), (2, "ghost", None)]
        assert [orjson.loads(e.value) for e in events if e.field == "preference"] == ["run:1", "tie"]
        # The migrated log still undoes: the preference event's value matches the migrated state.
        undone = undo(store, dataset_id="d", author="ann")
        assert undone["field"] == "preference" and undone["seq"] == 2 and undone["value"] is None
        first_preference = next(e for e in history(store, "d") if e["field"] == "preference" and e["seq"] == 1)
        undone = undo(store, dataset_id="d", author="ann", event_id=first_preference["id"])
        assert undone["value"] is None and record_notes(store, "d", [1])[1]["preference"] is None
        assert "m007_annotations_per_run" in migrations.applied(store.engine)
    finally:
        store.close()

