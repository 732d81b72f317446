"""The CLI never prints a traceback. Junk invocations are generated from the click command tree:
every integer or number option and argument given 99999999999999999999, -1 and "abc" (numbers also
nan, inf), every id of something that must exist given "nope", every file given a missing path, a
directory and a junk file. Each must exit non-zero with an `error:` line and no traceback; every
command's --help must work. A few cases run as real subprocesses (Ctrl-C, a broken database)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import click
import pytest
from click.testing import CliRunner

from workbench.cli import main

INTEGER_JUNK = ("99999999999999999999", "-1", "abc")
NUMBER_JUNK = ("nan", "inf", "-1", "abc", "1e999")
# Parameters naming something that must already exist (not the id a command creates).
# (--examples-from is read only with --few-shot, which says when it's missing: test_runner_cli.py.)
EXISTING = {"dataset_id", "model_id", "model_ids", "task_name", "models", "run_id", "run_ids"}
CREATES = {("models", "add")}
ERROR_LINE = re.compile(r"^error:", re.I | re.M)


def leaf_commands(group: click.Group = main, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                yield (*path, name), command
            yield from leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_and_group_has_help():
    runner = CliRunner()
    paths = [()] + [path for path, _ in leaf_commands()] + [(n,) for n, c in main.commands.items()
                                                            if isinstance(c, click.Group)]
    for path in paths:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, (path, result.output)


@pytest.fixture
def workspace(tmp_path):
    """A data dir holding the sample dataset, the baseline model and a finished run on it."""
    data_dir = tmp_path / "data"
    runner = CliRunner()
    from workbench.service.workspace import sample_path

    def ok(*args):
        result = runner.invoke(main, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    dataset = ok("import", str(sample_path()), "--name", "People").stdout.split()[-1]
    ok("models", "add", "rules", "--provider", "baseline")
    ok("run", "--dataset", dataset, "--model", "rules", "--limit", "5")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    return {"data_dir": data_dir, "dataset": dataset, "model": "rules", "run": "1", "junk": junk, "tmp": tmp_path}


def _valid(param: click.Parameter, ws: dict, path: tuple[str, ...]) -> list[str]:
    """A value that works for a required parameter, so the junk elsewhere is the only problem."""
    name = param.name
    if name == "dataset_id":
        value = ws["dataset"]
    elif name in ("model_id", "model_ids"):
        value = "new-model" if path in CREATES else ws["model"]
    elif name in ("run_id", "run_ids"):
        value = ws["run"]
    elif name == "provider":
        value = "baseline"
    elif name == "output":
        value = str(ws["tmp"] / "out.jsonl")
    elif name == "file":
        from workbench.service.workspace import sample_path

        value = str(sample_path())
    elif name == "name" and path == ("tasks", "show"):
        value = "candidate-screening"
    else:
        value = "x"
    return [value] if isinstance(param, click.Argument) else [param.opts[0], value]


def _kind(param: click.Parameter) -> str | None:
    kind = param.type
    if getattr(param, "is_flag", False) or isinstance(kind, click.Choice):
        return None
    if isinstance(kind, (click.types.IntParamType,)):
        return "int"
    if isinstance(kind, click.types.FloatParamType):
        return "number"
    if isinstance(kind, click.Path):
        return "file" if not kind.file_okay or kind.dir_okay is False else None
    return "id" if param.name in EXISTING else None


def junk_invocations(ws: dict):
    for path, command in leaf_commands():
        params = [p for p in command.params if p.name not in ("data_dir", "help")]
        for param in params:
            kind = _kind(param)
            if kind is None or (kind == "id" and path in CREATES):
                continue
            if kind == "file" and isinstance(param, click.Option) and param.name == "output":
                values = [str(ws["tmp"])]  # a directory
            elif kind == "file":
                values = [str(ws["tmp"] / "missing.yaml"), str(ws["tmp"]), str(ws["junk"])]
                if path == ("import",):
                    values = values[:2] + [str(ws["junk"].with_suffix(".csv"))]
                    ws["junk"].with_suffix(".csv").write_bytes(ws["junk"].read_bytes())
            else:
                values = {"int": INTEGER_JUNK, "number": NUMBER_JUNK, "id": ("nope",)}[kind]
            others = [v for p in params if p is not param and p.required for v in _valid(p, ws, path)]
            for value in values:
                given = [value] if isinstance(param, click.Argument) else [param.opts[0], value]
                yield [*path, *given, *others, "--data-dir", str(ws["data_dir"])]


def test_junk_invocations_fail_with_one_error_line(workspace, monkeypatch):
    import uvicorn

    def serve_forever(*_args, **_kwargs):
        raise AssertionError("the server started despite the junk")

    monkeypatch.setattr(uvicorn, "run", serve_forever)
    runner = CliRunner()
    failures, count = [], 0
    for args in junk_invocations(workspace):
        count += 1
        result = runner.invoke(main, args)
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            failures.append((args, f"raised {result.exception!r}"))
        elif result.exit_code == 0 or "Traceback" in output or not ERROR_LINE.search(output):
            failures.append((args, result.exit_code, output[-300:]))
    assert count > 60
    assert not failures, "\n".join(map(str, failures))


def test_unknown_ids_are_errors(workspace):
    runner = CliRunner()
    data = ["--data-dir", str(workspace["data_dir"])]
    for args in (["datasets", "show", "nope"], ["datasets", "delete", "nope"], ["runs", "--dataset", "nope"],
                 ["tasks", "show", "candidate-screening", "--version", "999"], ["runs", "pause", "999"],
                 ["resume", "999"], ["models", "remove", "nope"], ["compare", "--dataset", "nope"]):
        result = runner.invoke(main, [*args, *data])
        assert result.exit_code == 1 and result.output.startswith("error: "), (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output


def _cli(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, **kwargs)


def test_overflowing_ids_in_a_real_process(tmp_path):
    for args in (["tasks", "show", "candidate-screening", "--version", "99999999999999999999"],
                 ["runs", "pause", "99999999999999999999"]):
        result = _cli(*args, "--data-dir", str(tmp_path))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "Error: Invalid value" in result.stderr


def test_a_database_that_cannot_be_opened(tmp_path):
    (tmp_path / "workbench.db").write_bytes(b"not a database" * 1000)
    result = _cli("datasets", "--data-dir", str(tmp_path), env={"WORKBENCH_DATABASE_URL": ""})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for url in ("nonsense://", "postgresql://127.0.0.1:1/nothing-listens-here"):
        result = _cli("datasets", "--data-dir", str(tmp_path), env={"WORKBENCH_DATABASE_URL": url})
        assert result.returncode == 1 and result.stderr.startswith("error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    (tmp_path / "file").write_text("x")
    result = _cli("datasets", "--data-dir", str(tmp_path / "file" / "data"))  # under a file
    assert result.returncode == 1 and result.stderr.startswith("error: "), result.stderr


def test_an_unexpected_error_is_one_line_unless_debugging(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("workbench.service.quick.list_datasets", broken)  # what `workbench datasets` calls
    result = CliRunner().invoke(main, ["datasets", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == "error: ZeroDivisionError: division by zero (a bug: please report it)"
    monkeypatch.setenv("WORKBENCH_DEBUG", "1")
    result = CliRunner().invoke(main, ["datasets", "--data-dir", str(tmp_path)])
    assert isinstance(result.exception, ZeroDivisionError)


def test_ctrl_c_is_a_short_message_and_exit_130(tmp_path):
    """SIGINT while a command waits (here: `models test` on a server that never answers)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(60)
    port = server.getsockname()[1]
    _cli("models", "add", "hang", "--provider", "openai", "--base-url", f"http://127.0.0.1:{port}/v1",
         "--model", "m", "--data-dir", str(tmp_path), check=True)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "models", "test", "hang", "--data-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        connection, _ = server.accept()  # the request is on its way: the command is waiting
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip() == "interrupted", err
