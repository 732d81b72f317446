"""The long CSV and Parquet exports read plain tuples (grid.views.iter_long_results) instead of a
dict per result: the files are the same as the dict path's, cell for cell, for any results."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from testkit.scale import populate
from workbench.domain import exports
from workbench.domain.models import build_model
from workbench.grid.views import iter_long_results, iter_record_results
from workbench.service import exports as service
from workbench.store.datasets import delete_dataset, import_dataset
from workbench.store.models import save_model
from workbench.store.results import ResultRow, RunUpdate, write_batch
from workbench.store.runs import create_run
from workbench.store.tasks import get_task

_cell = st.none() | st.integers(-3, 3) | st.sampled_from(["=SUM(A1)", "+1", "-x", "@x", "\tx", "plain", "é/ü 名", ""])
_output = st.none() | st.dictionaries(st.sampled_from(["recommendation", "trajectory", "pedigree", "reasoning"]),
                                      _cell | st.lists(_cell, max_size=2) | st.dictionaries(st.just("k"), _cell),
                                      max_size=4)


def _dict_path(store, run_ids, fields, fmt, path):
    """The export as it was: RecordResults dicts through long_values."""
    items = iter_record_results(store, "people", run_ids, with_data=False)
    write = exports.write_csv_values if fmt == "csv" else exports.write_parquet_values
    return write(exports.long_values(items, fields), path, exports.result_columns(fields))


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.booleans(), _output, _cell, st.booleans()), min_size=1, max_size=12),
       st.sampled_from(["gemma", "m.2-x"]))
def test_long_exports_equal_the_dict_path(store, tmp_path, results, model_id):
    source = tmp_path / "people.jsonl"
    source.write_text("".join(json.dumps({"id": f"{i}é/x", "name": f"=N{i}", "title": "-t", "company": "C"}) + "\n"
                              for i in range(len(results))))
    dataset = import_dataset(store, source, name="people")
    task = get_task(store, "candidate-screening")
    run_ids = {}
    for model in (model_id, "other"):
        config = build_model({"id": model, "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": model})
        save_model(store, config)
        run_ids[model] = create_run(store, dataset_id=dataset.id, model=config, task_name=task.name,
                                    task_version=task.version, total=0, options={}).id
    rows: dict[str, list] = {m: [] for m in run_ids}
    for seq, (first, second, output, error, cached) in enumerate(results, start=1):
        for model, has in ((model_id, first), ("other", second)):
            if has:
                ok = output is not None
                rows[model].append(ResultRow(seq, f"{seq - 1}é/x", "ok" if ok else "error", output,
                                             None if ok else "parse", None if ok else str(error), None, 1.5, 3, 4,
                                             1, cached))
    write_batch(store, [RunUpdate(run_ids[m], r, [], {"run_id": run_ids[m], "done": 0, "errors": 0, "tokens_in": 0,
                                                      "tokens_out": 0, "cost": 0, "active_seconds": 0, "model_id": m,
                                                      "dataset_id": dataset.id}) for m, r in rows.items()])
    fields = service.output_fields(store, run_ids)
    for fmt in ("csv", "parquet"):
        old, new = tmp_path / f"old.{fmt}", tmp_path / f"new.{fmt}"
        counted = _dict_path(store, run_ids, fields, fmt, old)
        assert service.export_results(store, "people", None, fmt, new) == counted
        if fmt == "csv":
            assert new.read_bytes() == old.read_bytes()
        else:
            assert pq.read_table(new).equals(pq.read_table(old))
    delete_dataset(store, dataset.id)  # the next example imports "people" afresh


def test_flat_tuples_are_in_file_then_column_order(store, tmp_path):
    source = tmp_path / "big.jsonl"
    source.write_text("".join(json.dumps({"id": f"cand-{i:06d}"}) + "\n" for i in range(1, 31)))
    import_dataset(store, source, name="big")
    populate(store.settings, "big")
    run_ids = service.column_run_ids(store, "big", None)
    flat = list(iter_long_results(store, "big", run_ids, batch=7))
    assert [(t[0], t[3]) for t in flat] == [(f"cand-{i:06d}", m) for i in range(1, 31) for m in run_ids]
