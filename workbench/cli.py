"""The `workbench` command. Thin: parses arguments, calls the store and domain, prints.

Start-up is part of every command's time, so this module imports only click and light modules: each
command imports the store, the services and the runner it uses inside its function (SQLAlchemy,
pydantic, jsonschema and rich take ~0.6 s together; `workbench --help` needs none of them).
tests/test_cli_startup.py checks which modules `--help` and `datasets` load.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import sys
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench import __version__
from workbench.config import DEFAULT_HOST, DEFAULT_PORT, Settings
from workbench.domain.errors import InvalidInput, WorkbenchError
from workbench.domain.names import (DEFAULT_TASK, EXPORT_FORMATS, EXPORT_KINDS, EXPORT_LAYOUTS, IMPORT_FORMATS,
                                    INT64_MAX, MAX_EXAMPLES, STRUCTURED_OUTPUT_MODES)

if TYPE_CHECKING:
    from rich.console import Console

    from workbench.store import Store

# Mistakes a user can make (and files that can't be read or written): one line, never a traceback.
USER_ERRORS = (WorkbenchError, OSError)


@functools.cache
def console() -> Console:
    """The rich console, made when a run first draws its progress bars (rich takes ~0.1 s to import)."""
    from rich.console import Console

    return Console()


EXIT_INTERRUPTED = 130


class WorkbenchGroup(click.Group):
    """Every error becomes one `error: ...` line and exit 1; Ctrl-C `interrupted` and exit 130.
    Anything unforeseen is said to be a bug, in one line (WORKBENCH_DEBUG=1 shows the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and exits: click says them
        except USER_ERRORS as exc:
            _user_error(exc)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if _is_storage_error(exc):  # can't be reached, opened, written; or a bad URL
                from workbench.store.faults import storage_problem

                _fail(storage_problem(exc))
            if os.environ.get("WORKBENCH_DEBUG") == "1":
                raise
            _fail(f"{type(exc).__name__}: {exc} (a bug: please report it)")


def _user_error(exc: Exception) -> None:
    from workbench.domain.datasets import ImportRejected

    if isinstance(exc, ImportRejected):
        click.echo(f"error: nothing imported: {len(exc.problems) + exc.more} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        if exc.more:
            click.echo(f"  ... and {exc.more} more", err=True)
        sys.exit(1)
    _fail(_os_problem(exc) if isinstance(exc, OSError) else str(exc))


def _is_storage_error(exc: Exception) -> bool:
    """A SQLAlchemy error, told without importing SQLAlchemy: a command that never loaded it can't raise one."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)


def _fail(message: str) -> None:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    click.echo(f"error: {'; '.join(lines) or 'unknown'}", err=True)
    sys.exit(1)


def _os_problem(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc)


class DatabaseIdType(click.IntRange):
    """Run ids, task versions: positive and within the database's 64-bit integers."""

    name = "id"

    def __init__(self) -> None:
        super().__init__(1, INT64_MAX)


class FiniteFloat(click.FloatRange):
    """A number within its range that is a number: no nan, no inf (1e999 is inf)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


DATABASE_ID = DatabaseIdType()


def count(minimum: int = 1) -> click.IntRange:
    """A count or limit: at least ``minimum``, within 64 bits."""
    return click.IntRange(minimum, INT64_MAX)


SECONDS = FiniteFloat(min=0, min_open=True)
PRICE = FiniteFloat(min=0)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A table on a terminal; tab-separated lines (whole values, never cut) when piped."""
    if not _is_terminal():
        for line in [headers, *rows]:
            click.echo("\t".join(line))
        return
    size = shutil.get_terminal_size()
    plain = os.environ.get("NO_COLOR") is not None or os.environ.get("TERM") == "dumb"
    unicode_box = (sys.stdout.encoding or "").lower().replace("-", "").startswith("utf")
    click.echo("\n".join(terminal_table(headers, rows, size.columns, bold=not plain, unicode_box=unicode_box)))


def _is_terminal() -> bool:
    """Whether output goes to a terminal, as rich decides it for the progress bars: TTY_COMPATIBLE=0/1
    or FORCE_COLOR say so, else whether stdout is a tty."""
    told = os.environ.get("TTY_COMPATIBLE", "")
    if told in ("0", "1"):
        return told == "1"
    if "FORCE_COLOR" in os.environ:
        return os.environ["FORCE_COLOR"] != ""
    try:
        return sys.stdout.isatty()
    except ValueError:  # closed
        return False


# Boxes as rich draws its default table (HEAVY_HEAD): top, header, below the header, cells, bottom;
# each is left, line, joint, right. Drawn here because importing rich takes ~0.1 s.
_UNICODE_BOX = ("┏━┳┓", "┃ ┃┃", "┡━╇┩", "│ ││", "└─┴┘")
_ASCII_BOX = ("+-++", "| ||", "+=++", "| ||", "+-++")
_NARROWEST = 3  # a column is wrapped down to this many cells, no further (the first is never wrapped)


def terminal_table(headers: list[str], rows: list[list[str]], columns: int, *, bold: bool = True,
                   unicode_box: bool = True) -> list[str]:
    """The lines of a boxed table at most ``columns`` cells wide where it can be: the widest columns
    are wrapped first, the first (ids) never. Control characters are shown as U+FFFD, not sent to
    the terminal; text is never read as markup."""
    top, head, under, body, bottom = _UNICODE_BOX if unicode_box else _ASCII_BOX
    cells = [[_printable(cell) for cell in row] for row in [headers, *rows]]
    natural = [max((_width(line) for row in cells for line in row[i].split("\n")), default=0)
               for i in range(len(headers))]
    widths = _fitted(natural, columns - 3 * len(headers) - 1)

    def rule(box: str) -> str:
        return box[0] + box[2].join(box[1] * (w + 2) for w in widths) + box[3]

    def lines_of(row: list[str], box: str, strong: bool) -> list[str]:
        wrapped = [_wrap(cell, w) if i else cell.split("\n")
                   for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        out = []
        for n in range(max(len(lines) for lines in wrapped)):
            parts = []
            for lines, w in zip(wrapped, widths, strict=True):
                text = lines[n] if n < len(lines) else ""
                text += " " * (w - _width(text))
                parts.append(f"\x1b[1m{text}\x1b[0m" if strong and text.strip() else text)
            out.append(box[0] + " " + f" {box[2]} ".join(parts) + " " + box[3])
        return out

    table = [rule(top), *lines_of(cells[0], head, bold), rule(under)]
    for row in cells[1:]:
        table += lines_of(row, body, False)
    return [*table, rule(bottom)]


def _fitted(natural: list[int], available: int) -> list[int]:
    """Column widths: the natural ones, the widest (but the first) cut down until they fit."""
    widths = list(natural)
    excess = sum(widths) - available
    while excess > 0:
        cuttable = [i for i in range(1, len(widths)) if widths[i] > _NARROWEST]
        if not cuttable:
            break  # too narrow a terminal: the table runs over
        widest = max(cuttable, key=widths.__getitem__)
        next_widest = max([_NARROWEST, *(widths[i] for i in cuttable if i != widest)])
        step = max(1, min(excess, widths[widest] - next_widest))
        widths[widest] -= step
        excess -= step
    return widths


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines at most ``width`` cells wide: at spaces where it can, inside a word where not."""
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            joined = f"{line} {word}" if line else word
            if _width(joined) <= width:
                line = joined
                continue
            if line:
                lines.append(line)
            while _width(word) > width:
                cut = _fitting(word, width)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _fitting(word: str, width: int) -> int:
    """How many of ``word``'s first characters fit in ``width`` cells (at least one)."""
    used = 0
    for n, char in enumerate(word):
        used += _char_width(char)
        if used > width:
            return max(n, 1)
    return len(word)


def _printable(text: str) -> str:
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" and c != "\n" else c for c in text)


def _width(text: str) -> int:
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    """Terminal cells: 2 for wide (CJK, most emoji), 0 for combining marks and format characters."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def data_dir_option(fn: Callable) -> Callable:
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Where the database and files live [env WORKBENCH_DATA_DIR; default: the per-user data dir].",
    )(fn)


def _closed_with_the_command(store: Store) -> Store:
    """The store, closed when the command ends (also when the CLI runs in-process, as in tests)."""
    click.get_current_context().call_on_close(store.close)
    return store


def _store(data_dir: Path | None) -> Store:
    from workbench.service.workspace import open_workspace

    return _closed_with_the_command(open_workspace(Settings.load(data_dir=data_dir)))


def entry() -> None:
    """The `workbench` command. Once the command is done, the process ends without tearing its
    modules down one by one: after a run's imports (SQLAlchemy, aiohttp, pydantic, Jinja2) that
    takes ~0.13 s, a quarter of a short run's overhead over a bare aiohttp loop
    (bench/floor_bench.py). The command's stores are closed with its context (SQLite checkpoints its
    WAL); atexit handlers run and the streams are flushed first; with a thread still working it
    exits the usual way."""
    import atexit
    import threading

    try:
        main()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str) or any(
            t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe (`workbench ... | head`): nothing more can be said there
            code = code or 1
    os._exit(code or 0)


def _audit(store: Store, action: str, target: object = "", detail: dict[str, Any] | None = None) -> None:
    """An admin action made here, in the audit log (as ``cli:<os user>``)."""
    from workbench.service.audit import cli_actor, record

    record(store, cli_actor(), action, str(target), detail)


@click.group(cls=WorkbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__)  # not read from the package metadata: that costs ~0.1 s
def main() -> None:
    """Dataset Workbench: run language models over your data, compare them, curate the results."""


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--demo", is_flag=True, help="Load the bundled sample dataset and the embedded model first.")
@click.option("--max-runs", type=count(), envvar="WORKBENCH_MAX_RUNS",
              help="Runs executed by this server at once; the rest wait, or go to another server on the same "
                   "database [env WORKBENCH_MAX_RUNS; default: no limit].")
@click.option("--warm-up/--no-warm-up", default=True, show_default=True,
              help="Count the newest big datasets (50,000 records or more) in the background at start, so their "
                   "first page view doesn't wait for a scan.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Another host name the page may be opened by, besides loopback and the address served on "
                   "(repeatable; adds to WORKBENCH_ALLOWED_HOSTS, comma-separated). Other names are refused: "
                   "a guard against DNS rebinding.")
@data_dir_option
def serve(host: str, port: int, demo: bool, max_runs: int | None, warm_up: bool, allowed_hosts: tuple[str, ...],
          data_dir: Path | None) -> None:
    """Serve the workbench page and API."""
    import uvicorn

    from workbench.service.workspace import ensure_demo, open_workspace, start_demo_warm_up
    from workbench.web.app import create_app, refuse_unprotected_host

    settings = Settings.load(data_dir=data_dir).allowing(host, *allowed_hosts)
    store = _closed_with_the_command(open_workspace(settings))
    refuse_unprotected_host(host, settings, store)
    if demo:
        info = ensure_demo(store)
        start_demo_warm_up(store)  # the embedded model ready before Run is pressed
        click.echo(f"demo: dataset {info.id!r} ({info.record_count} records), models smollm2 and baseline")
    app = create_app(settings, store=store, max_runs=max_runs, warm_up=warm_up)
    click.echo(f"Dataset Workbench on http://{host}:{port}  (data: {settings.data_dir})")
    # X-Forwarded-For/-Proto only from a proxy the operator names (FORWARDED_ALLOW_IPS): uvicorn's
    # default trusts them from any loopback client, which could then pick the address that the
    # sign-in limit, and the audit log, count it under.
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers="FORWARDED_ALLOW_IPS" in os.environ)


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Dataset name [default: the file name].")
@click.option("--id-field", help="Field holding each record's unique id [default: 'id' when present].")
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS),
              help="File format [default: from the name/content].")
@click.option("--title-field", help="Field shown as each record's title [default: inferred, e.g. name].")
@click.option("--subtitle-field", multiple=True, help="Field(s) shown as the subtitle, joined by ' @ ' (repeatable).")
@data_dir_option
def import_(file: Path, name: str | None, id_field: str | None, fmt: str | None,
            title_field: str | None, subtitle_field: tuple[str, ...], data_dir: Path | None) -> None:
    """Import a JSONL, CSV or Parquet file as a dataset; prints the new dataset id."""
    from workbench.service import datasets as service_datasets

    store = _store(data_dir)
    info = service_datasets.import_file(store, file, name=name, id_field=id_field, fmt=fmt,
                                        title_field=title_field, subtitle_fields=subtitle_field)
    _audit(store, "dataset.import", info.id, {"name": info.name, "records": info.record_count})
    click.echo(f"imported {info.record_count} records as dataset:", err=True)
    click.echo(info.id)


@main.group(cls=WorkbenchGroup, invoke_without_command=True)
@data_dir_option
@click.pass_context
def datasets(ctx: click.Context, data_dir: Path | None) -> None:
    """List datasets (or manage them with a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from workbench.service import quick

    rows = []
    for info in quick.list_datasets(Settings.load(data_dir=data_dir)):
        shown = " / ".join(filter(None, [info.title_field or "(id)", " @ ".join(info.subtitle_fields)]))
        rows.append([info.id, info.name, str(info.record_count), info.format, info.id_field or "(generated)",
                     shown, info.created_at[:19]])
    print_table(["id", "name", "records", "format", "id field", "title / subtitle", "imported"], rows)


@datasets.command("show")
@click.argument("dataset_id")
@click.option("--limit", default=5, show_default=True, type=count(), help="How many records to show.")
@data_dir_option
def datasets_show(dataset_id: str, limit: int, data_dir: Path | None) -> None:
    """Show a dataset's first records."""
    from workbench.service import datasets as service_datasets

    for record in service_datasets.first_records(_store(data_dir), dataset_id, limit):
        click.echo(f"{record.record_id}\t{record.title}\t{record.subtitle}")


@datasets.command("delete")
@click.argument("dataset_id")
@data_dir_option
def datasets_delete(dataset_id: str, data_dir: Path | None) -> None:
    """Delete a dataset and everything run on it."""
    from workbench.service import datasets as service_datasets

    store = _store(data_dir)
    service_datasets.delete_dataset(store, dataset_id)
    _audit(store, "dataset.delete", dataset_id)
    click.echo(f"deleted {dataset_id}")


class LazyChoice(click.Choice):
    """Choices read from where they live when first needed (the provider registry, the task starters),
    so that `workbench --help` loads neither."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._load())

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # ``load`` holds them


def _provider_names() -> list[str]:
    from workbench.service import models as service_models

    return service_models.provider_names()


def _starter_ids() -> list[str]:
    from workbench.service import tasks as service_tasks

    return [s["id"] for s in service_tasks.starters()]


class ProviderOption(click.Option):
    """`--provider`, whose help lists each provider's label from the registry."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from workbench.service import models as service_models

        self.help = "; ".join(f"{p['name']}: {p['label']}" for p in service_models.describe_providers())
        return super().get_help_record(ctx)


@main.group(cls=WorkbenchGroup)
def models() -> None:
    """Configure models: one per endpoint, of any provider (see `models add --help`)."""


@models.command("add")
@click.argument("model_id")
@click.option("--provider", cls=ProviderOption, type=LazyChoice(_provider_names), required=True)
@click.option("--base-url", help="e.g. http://127.0.0.1:8000/v1 (for providers that call a server).")
@click.option("--replica", "replicas", multiple=True,
              help="Another base URL serving the same model (repeatable); requests go to the least busy.")
@click.option("--model", "model_name", help="The server's model name, or a model file [default: the provider's].")
@click.option("--api-key-env", help="NAME of the environment variable holding the API key (never the key).")
@click.option("--concurrency", type=count(), default=4, show_default=True,
              help="Requests in flight at once, per endpoint (replicas add up).")
@click.option("--rpm", type=count(), help="Requests per minute limit.")
@click.option("--name", help="Display name.")
@click.option("--temperature", type=FiniteFloat(min=0), default=0.0, show_default=True)
@click.option("--max-tokens", type=count(), default=512, show_default=True)
@click.option("--price-in", type=PRICE, default=0.0, help="Price per 1M input tokens.")
@click.option("--price-out", type=PRICE, default=0.0, help="Price per 1M output tokens.")
@click.option("--structured-output", type=click.Choice(STRUCTURED_OUTPUT_MODES),
              default="auto", show_default=True, help="How to ask for JSON; `models test` detects it.")
@data_dir_option
def models_add(model_id: str, provider: str, base_url: str | None, replicas: tuple[str, ...],
               model_name: str | None, api_key_env: str | None,
               concurrency: int, rpm: int | None, name: str | None, temperature: float, max_tokens: int,
               price_in: float, price_out: float, structured_output: str, data_dir: Path | None) -> None:
    """Add (or replace) a model configuration."""
    from workbench.service import models as service_models

    store = _store(data_dir)
    config = service_models.save_model(store, {
        "id": model_id, "name": name or model_id, "provider": provider, "base_url": base_url,
        "replicas": list(replicas), "model": model_name,
        "api_key_env": api_key_env, "max_concurrency": concurrency, "requests_per_minute": rpm,
        "price_in": price_in, "price_out": price_out,
        "params": {"temperature": temperature, "max_tokens": max_tokens}, "structured_output": structured_output,
    })
    _audit(store, "model.add", config.id)
    click.echo(f"saved model {config.id} ({config.provider})")


@models.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def models_import(file: Path, data_dir: Path | None) -> None:
    """Add or replace the models listed in a models.yaml."""
    from workbench.service import models as service_models

    store = _store(data_dir)
    configs = service_models.import_models(store, file)
    for config in configs:
        _audit(store, "model.add", config.id)
    click.echo(f"saved {len(configs)} model(s): {', '.join(c.id for c in configs)}")


@models.command("list")
@data_dir_option
def models_list(data_dir: Path | None) -> None:
    """List configured models."""
    from workbench.service import models as service_models

    rows = [[m.id, m.name, m.provider, " ".join(filter(None, [m.base_url, m.model])), m.api_key_env or "",
             str(m.max_concurrency), m.structured_output] for m in service_models.list_models(_store(data_dir))]
    print_table(["id", "name", "provider", "endpoint / model", "key env", "concurrency", "structured output"], rows)


@models.command("remove")
@click.argument("model_id")
@data_dir_option
def models_remove(model_id: str, data_dir: Path | None) -> None:
    """Remove a model configuration (its results stay)."""
    from workbench.service import models as service_models

    store = _store(data_dir)
    service_models.delete_model(store, model_id)
    _audit(store, "model.delete", model_id)
    click.echo(f"removed {model_id}")


@models.command("test")
@click.argument("model_id")
@click.option("--task", "task_name", default=DEFAULT_TASK, show_default=True)
@click.option("--timeout", default=120.0, show_default=True, type=SECONDS, help="Seconds to wait for the answer.")
@click.option("--save/--no-save", default=True, show_default=True,
              help="Remember the structured-output form that worked.")
@data_dir_option
def models_test(model_id: str, task_name: str, timeout: float, save: bool, data_dir: Path | None) -> None:
    """Send one sample record; show latency, the answer and the structured-output form that works."""
    import asyncio

    import orjson

    from workbench.service import models as service_models

    result = asyncio.run(service_models.test_model(_store(data_dir), model_id, task_name, timeout_s=timeout,
                                                   save=save))
    for attempt in result.attempts:
        mark = "ok" if attempt.ok else "no"
        click.echo(f"  {attempt.mode:<12} {mark}" + (f"  ({attempt.problem[:150]})" if attempt.problem else ""))
    if not result.ok:
        raise click.ClickException(f"{model_id}: {result.error}")
    click.echo(f"{model_id}: ok in {result.latency_ms:.0f} ms, structured output: {result.structured_output}, "
               f"tokens {result.input_tokens} in / {result.output_tokens} out")
    click.echo(orjson.dumps(result.output, option=orjson.OPT_INDENT_2).decode())


@main.group(cls=WorkbenchGroup)
def tasks() -> None:
    """Tasks: prompt templates and output schemas."""


@tasks.command("list")
@data_dir_option
def tasks_list(data_dir: Path | None) -> None:
    """List tasks (latest versions)."""
    from workbench.service import tasks as service_tasks

    rows = [[t.name, str(t.version), ", ".join(n for n, _ in t.verdict_fields), t.primary_verdict or "",
             t.description] for t in service_tasks.list_tasks(_store(data_dir))]
    print_table(["name", "version", "verdict fields", "primary", "description"], rows)


@tasks.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def tasks_add(file: Path, data_dir: Path | None) -> None:
    """Add a task from a YAML file (a changed task gets a new version)."""
    from workbench.service import tasks as service_tasks

    store = _store(data_dir)
    task = service_tasks.save_task_file(store, file)
    _audit(store, "task.save", task.name, {"version": task.version})
    click.echo(f"task {task.name} version {task.version}")


@tasks.command("show")
@click.argument("name")
@click.option("--version", type=DATABASE_ID, help="A specific version [default: latest].")
@data_dir_option
def tasks_show(name: str, version: int | None, data_dir: Path | None) -> None:
    """Print a task as YAML."""
    from workbench.service import tasks as service_tasks

    import yaml

    task = service_tasks.get_task(_store(data_dir), name, version)
    click.echo(yaml.safe_dump(task.to_dict(), sort_keys=False, allow_unicode=True))


@tasks.command("new")
@click.argument("name")
@click.option("--from", "starter", required=True, type=LazyChoice(_starter_ids),
              help="The starting point to copy.")
@data_dir_option
def tasks_new(name: str, starter: str, data_dir: Path | None) -> None:
    """Save a new task NAME from a starting point, and print it as YAML (edit it in the page's task
    editor, or in a file: `workbench tasks show NAME > f.yaml`, edit, `workbench tasks add f.yaml`)."""
    from workbench.service import tasks as service_tasks

    task = service_tasks.new_task(_store(data_dir), name, starter)
    click.echo(service_tasks.task_yaml_text(task), nl=False)
    click.echo(f"saved task {task.name} version {task.version} (from {starter}); edit it with "
               f"`workbench tasks show {task.name} > {task.name}.yaml` and `workbench tasks add {task.name}.yaml`",
               err=True)


@tasks.command("preview")
@click.argument("name")
@click.option("--dataset", "dataset_id", required=True, help="Dataset id (see `workbench datasets`).")
@click.option("--record", "record_id", help="Record id [default: the dataset's first record].")
@click.option("--version", type=DATABASE_ID, help="A specific version [default: latest].")
@data_dir_option
def tasks_preview(name: str, dataset_id: str, record_id: str | None, version: int | None,
                  data_dir: Path | None) -> None:
    """Print the messages task NAME would send for a record, and what is wrong with it there."""
    from workbench.service import tasks as service_tasks

    store = _store(data_dir)
    task = service_tasks.get_task(store, name, version)
    shown = service_tasks.preview_task(store, task.to_dict(), dataset_id, record_id)
    if shown["record_id"] is None:
        click.echo(f"dataset {dataset_id!r} has no records", err=True)
    else:
        click.echo(f"# task {task.name} v{task.version} on record {shown['record_id']} of {dataset_id}")
    for message in shown["messages"]:
        click.echo(f"--- {message['role']}")
        click.echo(message["content"])
    for problem in shown["problems"]:
        line = f", line {problem['line']}" if problem["line"] else ""
        click.echo(f"problem: {problem['where']}{line}: {problem['message']}", err=True)
    if shown["missing_fields"]:
        click.echo(f"missing fields: {', '.join(shown['missing_fields'])} (a run is refused without "
                   "--allow-missing-fields)", err=True)


# ---- runs ----------------------------------------------------------------------------------------

EXIT_PAUSED = 2


def _execute_runs(store: Store, run_ids: list[int]) -> None:
    """Run in this process with live bars; Ctrl-C pauses cleanly. Exits with the outcome."""
    import asyncio
    import signal

    from workbench.service.runs import InProcessRuns

    here = InProcessRuns(store, run_ids)
    labels = {r.id: f"{r.model_id} (run {r.id})" for r in here.runs}
    interrupted: list[bool] = []

    def on_sigint() -> None:
        if interrupted:
            raise KeyboardInterrupt  # second Ctrl-C: stop now (finished results are already saved)
        interrupted.append(True)
        console().print("[yellow]pausing… (finished results are saved; Ctrl-C again to quit now)[/yellow]")
        here.pause_all("paused from the command line")

    async def go():
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_sigint)
        if not _is_terminal():  # bars are drawn for a terminal only (rich: ~40 ms to import, CPU per redraw)
            return await here.execute()
        from workbench.runner.console import RunBars

        with RunBars(labels, console=console()) as bars:
            return await here.execute(on_progress=bars.update)

    code = 0
    for outcome in asyncio.run(go()):
        info = outcome.run
        if info is None:
            click.echo(f"run {outcome.run_id} {outcome.model_id}: cancelled (its dataset was deleted while it ran)",
                       err=True)
            continue
        line = f"run {info.id} {info.model_id}: {outcome.status} — {info.done}/{info.total} done, {info.errors} errors"
        if info.status_reason:
            line += f" ({info.status_reason})"
        click.echo(line, err=True)
        if outcome.status == "failed":
            code = 1
        elif outcome.status in ("paused", "queued", "running") and code == 0:
            code = EXIT_PAUSED
    if interrupted:
        ids = " ".join(str(r) for r in run_ids)
        click.echo(f"paused; continue with `workbench resume {ids}` (or the same `workbench run`)", err=True)
        code = EXIT_INTERRUPTED
    sys.exit(code)


@main.command()
@click.option("--dataset", "dataset_id", required=True, help="Dataset id (see `workbench datasets`).")
@click.option("--model", "model_ids", multiple=True, required=True, help="Model id; repeat for several.")
@click.option("--task", "task_name", default=DEFAULT_TASK, show_default=True,
              help="Task NAME or NAME:VERSION [default version: the latest].")
@click.option("--allow-missing-fields", is_flag=True,
              help="Run even if the task's templates use fields the dataset lacks.")
@click.option("--concurrency", type=count(), help="Requests in flight per model [default: the model's].")
@click.option("--limit", type=count(), help="Only the first N records.")
@click.option("--fresh", is_flag=True, help="Ask the model again instead of using cached answers.")
@click.option("--timeout", "timeout_s", type=SECONDS, default=120.0, show_default=True,
              help="Seconds before a request counts as timed out (it is retried).")
@click.option("--few-shot", type=click.IntRange(0, 50), default=0, show_default=True,
              help="Show N golden examples before each record (never the record itself).")
@click.option("--examples-from", help="Dataset holding the golden examples [default: the same dataset].")
@data_dir_option
def run(dataset_id: str, model_ids: tuple[str, ...], task_name: str, allow_missing_fields: bool,
        concurrency: int | None, limit: int | None, fresh: bool, timeout_s: float, few_shot: int,
        examples_from: str | None, data_dir: Path | None) -> None:
    """Run models over a dataset with live progress; an interrupted run continues where it stopped."""
    from workbench.service.runs import RunOptions, start_runs, task_reference

    store = _store(data_dir)
    options = RunOptions(limit=limit, fresh=fresh, concurrency=concurrency, timeout_s=timeout_s,
                         few_shot=few_shot, examples_from=examples_from)
    name, version = task_reference(task_name)
    runs = start_runs(store, dataset_id, model_ids, name, options, task_version=version,
                      allow_missing_fields=allow_missing_fields)
    for r in runs:
        _audit(store, "run.start", r.id, {"dataset_id": dataset_id, "model_id": r.model_id, "task": name})
        state = "continuing" if r.done else "starting"
        click.echo(f"{state} run {r.id}: {r.model_id} on {r.dataset_id} ({r.done}/{r.total} done)", err=True)
    _execute_runs(store, [r.id for r in runs])


@main.command()
@click.argument("run_ids", nargs=-1, type=DATABASE_ID)
@data_dir_option
def resume(run_ids: tuple[int, ...], data_dir: Path | None) -> None:
    """Continue runs (default: every unfinished run, e.g. after a crash)."""
    from workbench.service.runs import unfinished_runs

    store = _store(data_dir)
    ids = list(run_ids) or [r.id for r in unfinished_runs(store)]
    if not ids:
        click.echo("nothing to resume: every run has ended", err=True)
        return
    _execute_runs(store, ids)


@main.group(cls=WorkbenchGroup, invoke_without_command=True)
@click.option("--dataset", "dataset_id", help="Only runs on this dataset.")
@data_dir_option
@click.pass_context
def runs(ctx: click.Context, dataset_id: str | None, data_dir: Path | None) -> None:
    """List runs with status and figures (or act on one with a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from workbench.service.runs import list_runs

    rows = []
    for r in list_runs(_store(data_dir), dataset_id):
        rate = r.done / r.active_seconds if r.active_seconds else 0.0
        rows.append([str(r.id), r.dataset_id, r.model_id, f"{r.task_name}@{r.task_version}", r.status,
                     f"{r.done}/{r.total}", str(r.errors), f"{rate:.1f}", str(r.tokens_in), str(r.tokens_out),
                     f"{r.cost:.4f}", r.status_reason or ""])
    print_table(["run", "dataset", "model", "task", "status", "done", "errors", "rec/s", "tok in", "tok out",
                 "cost", "reason"], rows)


@runs.command("retry-errors")
@click.argument("run_id", type=DATABASE_ID)
@data_dir_option
def runs_retry_errors(run_id: int, data_dir: Path | None) -> None:
    """Run again only the records of RUN that ended in an error."""
    from workbench.service.runs import retry_errors

    store = _store(data_dir)
    removed = retry_errors(store, run_id)
    click.echo(f"retrying {removed} error(s) of run {run_id}", err=True)
    _execute_runs(store, [run_id])


def _control(action: str):
    @data_dir_option
    @click.argument("run_id", type=DATABASE_ID)
    def command(run_id: int, data_dir: Path | None) -> None:
        from workbench.service.runs import control_run

        store = _store(data_dir)
        info = control_run(store, run_id, action)
        _audit(store, f"run.{action}", run_id)
        click.echo(f"run {run_id}: {info.status}")

    command.__doc__ = f"{action.capitalize()} RUN (the process running it obeys within a second)."
    return command


runs.command("pause")(_control("pause"))
runs.command("cancel")(_control("cancel"))


@main.command()
@click.option("--dataset", "dataset_id", required=True, help="Dataset id (see `workbench datasets`).")
@click.option("--models", "columns", required=True, help="The two columns judged: a,b (model ids or run:ID).")
@click.option("--judge", "judge_model", required=True, help="The judge's model id (any configured model).")
@click.option("--rubric", help="What makes an answer better (TEXT, or @FILE) [default: a general rubric].")
@click.option("--rubric-file", type=click.Path(dir_okay=False, path_type=Path), help="Read the rubric from a file.")
@data_dir_option
def judge(dataset_id: str, columns: str, judge_model: str, rubric: str | None, rubric_file: Path | None,
          data_dir: Path | None) -> None:
    """Ask a judge model which of two columns' answers is better, in both orders, on the records where
    they disagree; runs to the end with live bars (the same command continues an interrupted judge)."""
    from workbench.service.judges import judge_view, start_judge

    if rubric is not None and rubric.startswith("@"):
        rubric_file, rubric = Path(rubric[1:]), None
    if rubric_file is not None:
        try:
            rubric = rubric_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"can't read {rubric_file}: {exc}", param_hint="--rubric-file") from None
    store = _store(data_dir)
    pair = start_judge(store, dataset_id, [c.strip() for c in columns.split(",") if c.strip()], judge_model, rubric)
    view = judge_view(pair)
    click.echo(f"judge {view['id']}: {judge_model} on {' vs '.join(view['columns'])} — {view['total'] // 2} "
               f"record(s) where they disagree, asked in both orders (runs {', '.join(map(str, view['runs']))})",
               err=True)
    _execute_runs(store, view["runs"])


# ---- export and compare ----------------------------------------------------------------------------


def _run_columns(value: str | None) -> list[str]:
    """--runs 5,7 → ["run:5", "run:7"] (a usage error for anything but run ids)."""
    from workbench.domain.model_ids import positive_id, run_column

    if value is None:
        return []
    columns = []
    for part in filter(None, (part.strip() for part in value.split(","))):
        run_id = positive_id(part)
        if run_id is None:
            raise click.BadParameter(f"{part!r} is not a run id (see `workbench runs`)", param_hint="--runs")
        columns.append(run_column(run_id))
    return columns


def _column_ids(models: str | None, run_columns: list[str]):
    """The columns --models and --runs name together (None: the default columns)."""
    from workbench.domain.model_ids import parse_model_ids

    if not run_columns:
        return parse_model_ids(models)
    return parse_model_ids(",".join(filter(None, [models, *run_columns])))


@main.command()
@click.option("--dataset", "dataset_id", required=True)
@click.option("--models", help="Comma-separated column ids: model ids (the latest run of each) or run:ID "
                                "[default: every model run on the dataset].")
@click.option("--runs", "run_ids", callback=lambda _c, _p, v: _run_columns(v),
              help="Comma-separated run ids (e.g. 5,7), as columns beside --models.")
@click.option("--kind", type=click.Choice(EXPORT_KINDS), default="results", show_default=True,
              help="results; golden (JSONL, corrections applied); comparison / comparison-summary (CSV); "
                   "training (OpenAI chat JSONL); training-parquet (Hugging Face); few-shot (prompt text); "
                   "preferences (TRL preference pairs, JSONL).")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS),
              help="File format [default: the kind's first: results jsonl, comparison csv, few-shot txt...].")
@click.option("--layout", type=click.Choice(EXPORT_LAYOUTS), default="long", show_default=True,
              help="results: a row per record × model (long) or per record (wide).")
@click.option("--examples", type=click.IntRange(1, MAX_EXAMPLES), default=5, show_default=True,
              help="few-shot: how many golden examples.")
@click.option("--judge", is_flag=True,
              help='preferences: add the judge\'s consistent verdicts as pairs (source "judge").')
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@data_dir_option
def export(dataset_id: str, models: str | None, run_ids: list[str], kind: str, fmt: str | None, layout: str,
           examples: int, judge: bool, output: Path, data_dir: Path | None) -> None:
    """Export results, golden data, comparisons or training data (latest run of each model), streamed."""
    from workbench.domain.exports import check_export
    from workbench.service.exports import export as export_kind

    try:
        check_export(kind, fmt, layout, examples, judge)
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    count = export_kind(_store(data_dir), kind, dataset_id, _column_ids(models, run_ids), fmt, output,
                        layout=layout, examples=examples, judge=judge)
    click.echo(f"wrote {count} {'examples' if kind == 'few-shot' else 'rows'} to {output}", err=True)


@main.command()
@click.option("--dataset", "dataset_id", required=True)
@click.option("--models", help="Comma-separated column ids: model ids (the latest run of each) or run:ID "
                                "[default: every model run on the dataset].")
@click.option("--runs", "run_ids", callback=lambda _c, _p, v: _run_columns(v),
              help="Comma-separated run ids (e.g. 5,7), as columns beside --models.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@data_dir_option
def compare(dataset_id: str, models: str | None, run_ids: list[str], as_json: bool, data_dir: Path | None) -> None:
    """Agreement per verdict field, and the share of records where the models disagree."""
    import orjson

    from workbench.service.metrics import compare as compare_models

    summary = compare_models(_store(data_dir), dataset_id, _column_ids(models, run_ids))
    if as_json:
        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value * 100:.1f}%"

    click.echo(f"models: {', '.join(summary.models)}; {summary.records} records, "
               f"{summary.all_answered} answered by all")
    rows = [[f, pct(summary.field_agreement(f))] for f in summary.verdict_fields]
    rows.append(["any verdict differs", pct(summary.disagreement_share())])
    print_table(["verdict field", "all agree"], rows)
    pairs = summary.to_dict()["pairs"]
    if len(summary.models) > 2 or pairs:
        print_table(["pair", "both answered", *summary.verdict_fields],
                    [[" vs ".join(p["models"]), str(p["both_answered"]),
                      *[pct(p["agreement"][f]) for f in summary.verdict_fields]] for p in pairs])


from workbench import cli_accounts  # noqa: E402,F401 (registers `users` and `audit` on main)
