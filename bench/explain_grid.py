"""Print the query plans of the grid's queries (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN),
to check they use the indexes: every page is a keyset scan over records with primary-key lookups.

    .venv/bin/python bench/explain_grid.py [--postgres]     (docs/grid-queries.md is its output)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

from _util import ROOT

sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    from sqlalchemy.dialects import postgresql, sqlite

    from tests.support.scale import populate
    from workbench.config import Settings
    from workbench.domain.synthetic import write_jsonl
    from workbench.store import grid as grid_module
    from workbench.store.datasets import import_dataset
    from workbench.store.views import latest_runs
    from workbench.workspace import open_workspace

    with contextlib.ExitStack() as stack:
        url = None
        if args.postgres:
            from tests.support.postgres import create_database, postgres_server, wait_ready

            server = stack.enter_context(postgres_server())
            wait_ready(server)
            url = create_database(server)
        work = Path(tempfile.mkdtemp(prefix="wb-explain-"))
        write_jsonl(work / "c.jsonl", 2000)
        settings = Settings.load(data_dir=work / "data", database_url=url)
        store = open_workspace(settings)
        import_dataset(store, work / "c.jsonl", name="big")
        populate(settings, "big")
        runs = latest_runs(store, "big", ["gemma", "olmo", "gptoss"])
        captured: list[tuple[str, object]] = []
        real_connect = store.engine.connect

        class Spy:
            def __init__(self, conn):
                self.conn = conn

            def __enter__(self):
                self.conn.__enter__()
                return self

            def __exit__(self, *exc):
                return self.conn.__exit__(*exc)

            def execute(self, statement, *a, **k):
                captured.append(statement)
                return self.conn.execute(statement, *a, **k)

        store.engine.connect = lambda: Spy(real_connect())  # type: ignore[method-assign]
        fields = ["recommendation", "trajectory", "pedigree"]
        for name in ("all", "differences", "golden", "needs_review"):
            captured.clear()
            grid_module.grid_page(store, grid_module.GridQuery("big", runs, fields, name), cursor="1000")
            show(store, real_connect, f"page, filter={name}, after seq 1000", captured[0], sqlite, postgresql)
        captured.clear()
        grid_module._COUNTS.clear()
        grid_module.grid_counts(store, grid_module.GridQuery("big", runs, fields))
        show(store, real_connect, "filter counts", captured[-1], sqlite, postgresql)


def show(store, connect, title, statement, sqlite, postgresql) -> None:
    dialect = postgresql.dialect() if store.dialect == "postgresql" else sqlite.dialect()
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN " if store.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    with connect() as conn:
        plan = conn.exec_driver_sql(prefix + sql).fetchall()
    print(f"\n### {title}\n\n```")
    for row in plan:
        print(row[-1] if store.dialect != "postgresql" else row[0])
    print("```")


if __name__ == "__main__":
    main()
