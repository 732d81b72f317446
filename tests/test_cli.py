"""The CLI: the documented commands, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from workbench.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli(tmp_path):
    runner = CliRunner()
    data_dir = str(tmp_path / "cli-data")

    def run(*args, ok=True):
        result = runner.invoke(main, [*args, "--data-dir", data_dir], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
            assert "Traceback" not in result.output
        return result

    return run


def test_import_prints_the_dataset_id(cli):
    from workbench.service.workspace import sample_path

    result = cli("import", str(sample_path()), "--name", "Candidates")
    assert result.stdout.strip().splitlines()[-1] == "candidates"
    assert "candidates" in cli("datasets").output and "100" in cli("datasets").output
    assert "cand-000001" in cli("datasets", "show", "candidates", "--limit", "1").output


def test_import_errors_are_clear_and_store_nothing(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1}\n{oops\n[1]\n')
    result = cli("import", str(bad), ok=False)
    assert "nothing imported" in result.output
    assert "line 2: malformed JSON" in result.output and "line 3: expected a JSON object" in result.output
    assert "bad" not in cli("datasets").output.split("imported")[-1]
    missing = cli("import", str(tmp_path / "nope.jsonl"), ok=False)
    assert "no such file" in missing.output and len(missing.output.strip().splitlines()) == 1


def test_models_add_list_test(cli):
    cli("models", "add", "rules", "--provider", "baseline", "--name", "Rules")
    with FakeOpenAIServer(FaultConfig(reject_response_formats={"json_schema"})) as server:
        cli("models", "add", "fake", "--provider", "openai", "--base-url", server.base_url, "--model", "fake-a",
            "--api-key-env", "FAKE_KEY_ENV", "--concurrency", "8")
        listing = cli("models", "list").output
        assert "rules" in listing and "fake" in listing and "FAKE_KEY_ENV" in listing
        import os
        os.environ["FAKE_KEY_ENV"] = "sk-cli-test"
        try:
            tested = cli("models", "test", "fake").output
        finally:
            del os.environ["FAKE_KEY_ENV"]
    assert "structured output: json_object" in tested and '"recommendation"' in tested
    assert "json_object" in cli("models", "list").output  # the detected form was saved
    assert "structured output: rules" in cli("models", "test", "rules").output


def test_model_errors_are_one_line(cli):
    result = cli("models", "add", "x", "--provider", "openai", "--model", "m", ok=False)
    assert "needs a base URL" in result.output
    assert "no model 'ghost'" in cli("models", "test", "ghost", ok=False).output
    cli("models", "add", "down", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert "connection failed" in cli("models", "test", "down", "--timeout", "5", ok=False).output


def test_tasks_commands(cli, tmp_path):
    assert "candidate-screening" in cli("tasks", "list").output
    shown = cli("tasks", "show", "candidate-screening").output
    assert "recommendation" in shown and "Strong Yes" in shown
    bad = tmp_path / "t.yaml"
    bad.write_text("name: t\nsystem: s\nuser: '{{ x'\noutput_schema: {type: object}\n", encoding="utf-8")
    assert "user template" in cli("tasks", "add", str(bad), ok=False).output


def test_every_command_has_help():
    runner = CliRunner()
    commands = [[], ["serve"], ["import"], ["datasets"], ["models"], ["models", "add"], ["models", "list"],
                ["models", "test"], ["tasks"], ["tasks", "add"]]
    for command in commands:
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_serve_refuses_a_public_host_without_token(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0 and "WORKBENCH_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_readme_cli_section_matches_help():
    """The README's command list is checked against the real --help output."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- cli -->")[1].split("<!-- /cli -->")[0]
    documented = set(re.findall(r"^workbench ([a-z-]+(?: [a-z][a-z-]*)?)", section, re.M))
    runner = CliRunner()
    actual = set()
    for name, command in main.commands.items():
        subs = getattr(command, "commands", None)
        if subs:
            actual |= {f"{name} {sub}" for sub in subs}
        if not subs or getattr(command, "invoke_without_command", False):
            actual.add(name)
    assert documented == actual
    options: dict[str, set[str]] = {}  # the flags the README shows for each command
    current = None
    for line in section.splitlines():
        if line.startswith("workbench "):
            current = next(e for e in sorted(documented, key=len, reverse=True) if line.startswith(f"workbench {e}"))
        if current and (line.startswith("workbench ") or line[:1].isspace()):
            options.setdefault(current, set()).update(re.findall(r"(--[a-z][a-z-]*)", line.split("#")[0]))
    for entry in documented:
        result = runner.invoke(main, [*entry.split(), "--help"])
        assert result.exit_code == 0
        for option in options.get(entry, ()):
            assert option in result.output, f"README shows {option} for `workbench {entry}`; --help doesn't"


def test_the_command_ends_quickly_but_cleanly(tmp_path):
    """entry() ends the process with os._exit: what it must still do first is seen from outside.
    The store is closed (SQLite checkpointed its WAL: no -wal file left), what was printed arrives,
    and exit codes are kept (0, 1 for a user's mistake, 2 for a usage error)."""
    from workbench.service.workspace import sample_path

    def workbench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "workbench", *args, "--data-dir", str(tmp_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    imported = workbench("import", str(sample_path()), "--name", "Candidates")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip().splitlines()[-1] == "candidates"
    assert sqlite_files(tmp_path) == ([] if os.environ.get("WORKBENCH_DATABASE_URL") else ["workbench.db"])
    missing = workbench("import", str(tmp_path / "no-such-file.jsonl"))
    assert missing.returncode == 1 and missing.stderr.startswith("error:") and "Traceback" not in missing.stderr
    assert workbench("no-such-command").returncode == 2


def test_a_command_run_in_process_closes_its_store(cli, tmp_path):
    """The store a command opens is closed when the command ends, also under CliRunner (as the
    tests and any caller of `main` run it): SQLite has checkpointed its WAL, no connection stays."""
    from workbench.service.workspace import sample_path

    cli("import", str(sample_path()), "--name", "Candidates")
    cli("models", "list")
    expected = [] if os.environ.get("WORKBENCH_DATABASE_URL") else ["workbench.db"]  # PostgreSQL: no file
    assert sqlite_files(tmp_path / "cli-data") == expected


def sqlite_files(data_dir) -> list[str]:
    """The SQLite database's files in a data dir: a -wal beside it means a connection was left open."""
    return sorted(p.name for p in data_dir.glob("workbench.db*"))
