"""The task commands of the CLI: `tasks new --from`, `tasks preview`, `run --task NAME[:VERSION]`
refused for missing fields unless --allow-missing-fields, and `--runs` on export and compare."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from workbench.cli import main

REVIEWS = [{"id": "rev-1", "product": "Kettle", "text": "Boils fast and looks great. Love it.", "stars": 5},
           {"id": "rev-2", "product": "Kettle", "text": "Broke after a week.", "stars": 1}]


@pytest.fixture
def cli(tmp_path):
    runner = CliRunner()
    data_dir = str(tmp_path / "cli-data")

    def run(*args, ok=True):
        result = runner.invoke(main, [*args, "--data-dir", data_dir], catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        assert "Traceback" not in result.output
        return result

    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in REVIEWS), encoding="utf-8")
    run("import", str(path))
    return run


@pytest.fixture
def fake(cli):
    with FakeOpenAIServer(FaultConfig(latency_ms=1)) as server:
        cli("models", "add", "fake", "--provider", "openai", "--base-url", server.base_url, "--model", "fake-a")
        yield server


def test_tasks_new_from_a_starting_point_and_preview(cli):
    made = cli("tasks", "new", "my-sentiment", "--from", "sentiment")
    assert "name: my-sentiment" in made.stdout and "saved task my-sentiment version 1" in made.stderr
    assert "my-sentiment" in cli("tasks", "list").output
    assert "exists already" in cli("tasks", "new", "my-sentiment", "--from", "rating", ok=False).output
    assert "Invalid value" in cli("tasks", "new", "x", "--from", "nope", ok=False).output
    shown = cli("tasks", "preview", "my-sentiment", "--dataset", "reviews")
    assert "--- system" in shown.stdout and "--- user\nProduct: Kettle\nText: Boils fast" in shown.stdout
    other = cli("tasks", "preview", "my-sentiment", "--dataset", "reviews", "--record", "rev-2")
    assert "Broke after a week." in other.stdout
    assert "no record" in cli("tasks", "preview", "my-sentiment", "--dataset", "reviews", "--record", "x",
                              ok=False).output
    candidates = cli("tasks", "preview", "candidate-screening", "--dataset", "reviews")
    assert "missing fields: name, full_name, title" in candidates.stderr


def test_run_refuses_a_task_whose_fields_are_missing_naming_them(cli, fake):
    refused = cli("run", "--dataset", "reviews", "--model", "fake", ok=False)
    assert refused.exit_code == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: task 'candidate-screening' uses fields") and "work_history" in line
    cli("run", "--dataset", "reviews", "--model", "fake", "--allow-missing-fields")
    cli("tasks", "new", "senti", "--from", "sentiment")
    cli("run", "--dataset", "reviews", "--model", "fake", "--task", "senti:1")
    for version in ("x", "²", "٣", "0", "-1", "9223372036854775808"):  # "²".isdigit() holds; int() refuses it
        assert "version after ':'" in cli("run", "--dataset", "reviews", "--model", "fake", "--task",
                                          f"senti:{version}", ok=False).output
    assert "no task 'senti' version 7" in cli("run", "--dataset", "reviews", "--model", "fake", "--task",
                                              "senti:7", ok=False).output
    listed = cli("runs", "--dataset", "reviews").stdout
    assert "candidate-screening@" in listed and "senti@1" in listed


def test_runs_as_columns_in_export_and_compare(cli, fake, tmp_path):
    cli("tasks", "new", "senti", "--from", "sentiment")
    cli("run", "--dataset", "reviews", "--model", "fake", "--task", "senti")
    cli("run", "--dataset", "reviews", "--model", "fake", "--task", "senti", "--fresh", "--limit", "1")
    out = tmp_path / "comparison.csv"
    cli("export", "--dataset", "reviews", "--runs", "1,2", "--kind", "comparison", "-o", str(out))
    header = next(csv.reader(open(out, encoding="utf-8")))
    assert any("run:1" in h for h in header) and any("run:2" in h for h in header), header
    compared = cli("compare", "--dataset", "reviews", "--runs", "1,2", "--json").stdout
    assert json.loads(compared)["models"] == ["run:1", "run:2"]
    for junk in ("1,x", "²", "٣,1", "0", "9223372036854775808"):
        assert "not a run id" in cli("compare", "--dataset", "reviews", "--runs", junk, ok=False).output
