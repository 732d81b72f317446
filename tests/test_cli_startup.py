"""Start-up: which modules `workbench --help` and `workbench datasets` load (no timings here; those are
bench/startup_bench.py's), and that the quick read of `datasets` lists exactly what the normal path does."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import unicodedata

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from workbench.cli import main
from workbench.config import Settings
from workbench.service import quick as service_quick
from workbench.service.workspace import open_workspace
from workbench.store import quick
from workbench.store.datasets import list_datasets
from workbench.store.migrations import MIGRATIONS
from workbench.store.schema import datasets

# Each of these takes tens to hundreds of milliseconds to import; `--help` needs none of them.
HEAVY = ("sqlalchemy", "pydantic", "jsonschema", "fastapi", "starlette", "uvicorn", "aiohttp", "pyarrow",
         "llama_cpp", "psycopg", "rich", "httpx", "jinja2", "yaml", "asyncio")
LOADED_MARK = "LOADED-MODULES:"


def _modules_loaded_by(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The top-level modules a fresh process has loaded after running `workbench ARGS`, and its output."""
    code = (
        "import sys\n"
        "from workbench.cli import main\n"
        "try:\n"
        f"    main({list(args)!r}, standalone_mode=False)\n"
        "finally:\n"
        f"    print({LOADED_MARK!r} + ' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          check=True)
    output, _, loaded = done.stdout.rpartition(LOADED_MARK)
    return {name.split(".")[0] for name in loaded.split()}, output


def test_help_loads_no_heavy_module():
    loaded, output = _modules_loaded_by("--help")
    assert "Dataset Workbench" in output
    assert not loaded & set(HEAVY), f"`workbench --help` imports {sorted(loaded & set(HEAVY))}"


def test_datasets_on_a_current_sqlite_database_loads_no_heavy_module(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)  # this one is SQLite's, on either suite
    data_dir = tmp_path / "data"
    with_data = Settings.load(data_dir=data_dir)
    open_workspace(with_data).close()  # a current schema
    _insert(with_data, [_row("cats", "Cats")])
    loaded, output = _modules_loaded_by("datasets", "--data-dir", str(data_dir))
    assert output.splitlines()[1].startswith("cats\tCats\t")
    assert not loaded & set(HEAVY), f"`workbench datasets` imports {sorted(loaded & set(HEAVY))}"


def test_a_run_loads_neither_yaml_pydantic_jsonschema_nor_the_task_starters():
    """What `workbench run` imports before its first request is its start-up (bench/floor_bench.py):
    YAML and the starters (four tasks compiled) are for other commands, pydantic for the web's
    bodies, jsonschema for schemas beyond the flat shape (domain/flat_schema.py)."""
    code = ("import sys\n"
            "import workbench.cli, workbench.service.workspace, workbench.service.runs, workbench.service.audit\n"
            "print(' '.join(sorted(sys.modules)))\n")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                check=True).stdout.split())
    assert "workbench.runner.executor" in loaded  # the run's own modules are there
    assert not loaded & {"yaml", "workbench.domain.task_starters", "pydantic", "jsonschema"}


def test_the_migration_names_read_from_the_text_are_the_migrations():
    assert quick.migration_names() == [name for name, _ in MIGRATIONS]


def _row(dataset_id: str, name: str, **fields) -> dict:
    return {"id": dataset_id, "name": name, "source_name": f"{name}.jsonl", "format": "jsonl", "id_field": "id",
            "title_field": None, "subtitle_fields": "[]", "record_count": 3,
            "created_at": "2026-01-02T03:04:05.123456+00:00"} | fields


def _insert(settings: Settings, rows: list[dict]) -> None:
    store = open_workspace(settings)
    try:
        with store.engine.begin() as conn:
            conn.execute(datasets.delete())
            if rows:
                conn.execute(datasets.insert(), rows)
    finally:
        store.close()


def _listed(data_dir, *, quick_read: bool, monkeypatch) -> str:
    """`workbench datasets` output, read the quick way where it can be, or always the normal way."""
    with monkeypatch.context() as patched:
        if not quick_read:
            patched.setattr(quick, "list_datasets", lambda _settings: None)
        result = CliRunner().invoke(main, ["datasets", "--data-dir", str(data_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# What SQLite and PostgreSQL both store as text: no NUL, no lone surrogates.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300)
_ROWS = st.lists(
    st.fixed_dictionaries({
        "id": _TEXT.filter(bool), "name": _TEXT | st.sampled_from(["[bold]x[/bold]", "<b>", "a\tb", "ünï ☃ 𝄞"]),
        "source_name": st.none() | _TEXT, "format": st.sampled_from(["jsonl", "csv", "parquet"]),
        "id_field": st.none() | _TEXT, "title_field": st.none() | _TEXT,
        "subtitle_fields": st.lists(_TEXT, max_size=3).map(json.dumps),
        "record_count": st.integers(0, 2**31 - 1),  # an INTEGER on PostgreSQL too
        "created_at": st.sampled_from(["2026-01-02T03:04:05.123456+00:00", "2026-01-02T03:04:05+00:00", "x"]),
    }),
    max_size=6, unique_by=lambda row: row["id"],
)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_ROWS)
def test_the_quick_read_lists_what_the_normal_path_lists(rows, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    settings = Settings.load(data_dir=data_dir)
    _insert(settings, rows)
    if settings.is_sqlite:
        found = quick.list_datasets(settings)
        assert found is not None, "a current SQLite database is read the quick way"
        store = open_workspace(settings)
        try:
            normal = [quick.DatasetRow(i.id, i.name, i.format, i.record_count, i.id_field, i.title_field,
                                       i.subtitle_fields, i.created_at) for i in list_datasets(store)]
        finally:
            store.close()
        assert found == normal
    else:
        assert quick.list_datasets(settings) is None, "PostgreSQL takes the normal path"
    assert _listed(data_dir, quick_read=True, monkeypatch=monkeypatch) == _listed(
        data_dir, quick_read=False, monkeypatch=monkeypatch)


def _future_migration(settings: Settings) -> None:
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as conn:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_a_newer_workbench', 'now')")


def _junk_file(settings: Settings) -> None:
    settings.ensure_data_dir()
    (settings.data_dir / "workbench.db").write_bytes(b"not a database at all" * 100)


@pytest.mark.parametrize("spoil", [_future_migration, _junk_file], ids=["other-schema", "not-a-database"])
def test_anything_but_a_current_sqlite_database_takes_the_normal_path(spoil, tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)
    settings = Settings.load(data_dir=tmp_path / "data")
    _insert(settings, [_row("cats", "Cats")])
    spoil(settings)
    assert quick.list_datasets(settings) is None
    result = CliRunner().invoke(main, ["datasets", "--data-dir", str(settings.data_dir)])
    if spoil is _junk_file:  # the normal path says what is wrong, in one line
        assert result.exit_code == 1 and result.output.startswith("error: ") and "Traceback" not in result.output
    else:
        assert result.exit_code == 0 and result.output.splitlines()[1].startswith("cats\tCats\t")


def test_no_database_yet_or_a_models_file_takes_the_normal_path(tmp_path, monkeypatch):
    settings = Settings.load(data_dir=tmp_path / "fresh")
    assert quick.list_datasets(settings) is None  # no file: the normal path creates the database
    assert service_quick.list_datasets(settings) == []
    models_file = tmp_path / "models.yaml"
    models_file.write_text("models:\n  - id: rules\n    provider: baseline\n")
    monkeypatch.setenv("WORKBENCH_MODELS_FILE", str(models_file))
    with_models = Settings.load(data_dir=tmp_path / "fresh")
    assert quick.list_datasets(with_models) is None  # the normal path loads (or refuses) the file


def test_a_database_url_the_normal_path_would_decode_takes_it(tmp_path):
    """SQLAlchemy reads `%20` in a URL's path as a space, `?` as options: which file that is is its call."""
    current = Settings.load(data_dir=tmp_path / "current", database_url=f"sqlite:///{tmp_path / 'current.db'}")
    open_workspace(current).close()
    assert quick.list_datasets(current) == []
    for name in ("a%20b", "a?mode=memory"):
        literal = tmp_path / name / "workbench.db"
        literal.parent.mkdir()
        shutil.copyfile(tmp_path / "current.db", literal)  # a current database, where the URL's text points
        assert quick.list_datasets(Settings.load(data_dir=literal.parent)) is None


def test_the_version_shown_is_the_installed_package_version():
    from importlib.metadata import version

    import workbench

    assert workbench.__version__ == version("dataset-workbench")  # --version prints workbench.__version__
    assert CliRunner().invoke(main, ["--version"]).output.endswith(f", version {workbench.__version__}\n")


# The terminal table is drawn without rich (rich takes ~0.1 s to import): what it keeps, whatever the text.
_CELL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="│┃"), max_size=60)


@hypothesis_settings(max_examples=300, deadline=None)
@given(headers=st.lists(_CELL.filter(lambda h: h.strip()), min_size=1, max_size=6), data=st.data(),
       columns=st.integers(20, 200))
def test_the_terminal_table_keeps_every_cell_in_its_box(headers, data, columns):
    from workbench import cli

    rows = data.draw(st.lists(st.lists(_CELL, min_size=len(headers), max_size=len(headers)), max_size=5))
    lines = cli.terminal_table(headers, rows, columns, bold=False)
    widths = {cli._width(line) for line in lines}
    assert len(widths) == 1, "every line as wide as the others"
    natural = [max(cli._width(part) for row in [headers, *rows] for part in cli._printable(row[i]).split("\n"))
               for i in range(len(headers))]
    borders = 3 * len(headers) + 1
    narrowest = borders + natural[0] + sum(min(width, cli._NARROWEST) for width in natural[1:])
    assert widths == {borders + sum(natural) if borders + sum(natural) <= columns else max(columns, narrowest)}
    assert not any(unicodedata.category(c) == "Cc" for line in lines for c in line), "no control character sent"
    # Each cell's text, read down its column, is all there (wrapping only moves it to the next line).
    body = [line for line in lines if line.startswith("│")]
    heads = [line for line in lines if line.startswith("┃")]
    for group, source in ((heads, [headers]), (body, rows)):
        shown = ["".join(line.split("│" if group is body else "┃")[i + 1] for line in group).replace(" ", "")
                 for i in range(len(headers))]
        expected = ["".join(cli._printable(row[i]) for row in source).replace(" ", "").replace("\n", "")
                    for i in range(len(headers))]
        assert shown == expected



def test_no_name_in_a_package_shadows_its_submodule():
    """`from workbench.store import annotations` is the module, whatever was imported before: no package
    binds a submodule's name to something else (`from __future__ import annotations` in the store's lazy
    __init__ once bound it to __future__'s feature, and annotating answered 500 in a fresh server)."""
    code = ("import importlib, pkgutil, workbench\n"
            "for pkg in pkgutil.walk_packages(workbench.__path__, 'workbench.'):\n"
            "    if pkg.ispkg:\n"
            "        names = vars(importlib.import_module(pkg.name))\n"
            "        for sub in pkgutil.iter_modules(importlib.import_module(pkg.name).__path__):\n"
            "            got = names.get(sub.name)\n"
            "            assert got is None or getattr(got, '__name__', '') == f'{pkg.name}.{sub.name}', (pkg.name, sub.name, got)\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
