"""`workbench run / runs / resume / export / compare` end to end, including real engines."""

from __future__ import annotations

import csv
import json

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from workbench.cli import main
from workbench.service.workspace import sample_path


@pytest.fixture
def cli(tmp_path):
    runner = CliRunner()
    data_dir = str(tmp_path / "cli-data")

    def run(*args, code=0):
        result = runner.invoke(main, [*args, "--data-dir", data_dir], catch_exceptions=False)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result

    run("import", str(sample_path()), "--name", "cands")
    return run


def test_run_export_compare(cli, tmp_path):
    with FakeOpenAIServer(FaultConfig(latency_ms=1)) as server:
        for model in ("gemma", "olmo"):
            cli("models", "add", model, "--provider", "openai", "--base-url", server.base_url, "--model", model)
        out = cli("run", "--dataset", "cands", "--model", "gemma", "--model", "olmo", "--concurrency", "8").output
    assert "run 1 gemma: completed — 100/100 done, 0 errors" in out
    assert "run 2 olmo: completed — 100/100 done, 0 errors" in out
    listing = cli("runs").output.splitlines()
    assert listing[0].startswith("run\tdataset\tmodel") and len(listing) == 3
    assert listing[1].split("\t")[4:6] == ["completed", "100/100"]

    cli("export", "--dataset", "cands", "--format", "jsonl", "-o", str(tmp_path / "r.jsonl"))
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 200 and {line["model_id"] for line in lines} == {"gemma", "olmo"}
    assert lines[0]["record"]["id"] == lines[0]["record_id"] and lines[0]["output"]["recommendation"]

    cli("export", "--dataset", "cands", "--models", "olmo", "--format", "csv", "-o", str(tmp_path / "r.csv"))
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 100 and {r["model_id"] for r in rows} == {"olmo"}
    assert {"recommendation", "trajectory", "pedigree", "reasoning", "latency_ms"} <= set(rows[0])

    cli("export", "--dataset", "cands", "--format", "parquet", "-o", str(tmp_path / "r.parquet"))
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.num_rows == 200 and table.schema.field("tokens_in").type == "int64"

    figures = orjson.loads(cli("compare", "--dataset", "cands", "--models", "gemma,olmo", "--json").output)
    assert figures["all_answered"] == 100 and 0 < figures["disagreement_share"] < 1
    text = cli("compare", "--dataset", "cands", "--models", "gemma,olmo").output
    assert "recommendation" in text and "any verdict differs" in text


def test_a_dead_endpoint_exits_paused_and_resume_continues(cli):
    with FakeOpenAIServer(FaultConfig(down=True)) as server:
        cli("models", "add", "m", "--provider", "openai", "--base-url", server.base_url, "--model", "m")
        out = cli("run", "--dataset", "cands", "--model", "m", "--limit", "20", "--timeout", "2", code=2).output
        assert "paused" in out and "endpoint unreachable" in out
        server.config.down = False
        cli("resume")
    assert "completed\t20/20" in cli("runs").output
    assert "nothing to resume" in cli("resume").output


def test_retry_errors_command(cli):
    with FakeOpenAIServer(FaultConfig(schema_violation_rate=0.5, seed=1)) as server:
        cli("models", "add", "m", "--provider", "openai", "--base-url", server.base_url, "--model", "m")
        cli("run", "--dataset", "cands", "--model", "m", "--limit", "30")
        errors = int(cli("runs").output.splitlines()[1].split("\t")[6])
        assert errors > 0
        server.config.schema_violation_rate = 0.0
        out = cli("runs", "retry-errors", "1").output
    assert f"retrying {errors} error(s)" in out and "30/30 done, 0 errors" in out


def test_user_mistakes_are_one_line(cli):
    assert "no dataset 'nope'" in cli("run", "--dataset", "nope", "--model", "x", code=1).output
    assert "no model 'ghost'" in cli("run", "--dataset", "cands", "--model", "ghost", code=1).output
    assert "no runs on dataset" in cli("export", "--dataset", "cands", "-o", "/dev/null", code=1).output
    assert "no run 99" in cli("runs", "retry-errors", "99", code=1).output


@pytest.mark.engine
def test_two_real_models_end_to_end(cli, llama_server):
    """The embedded model in-process and SmolLM2 behind llama.cpp's server, compared."""
    cli("models", "add", "embedded", "--provider", "local", "--max-tokens", "200")
    cli("models", "add", "llamacpp", "--provider", "openai", "--base-url", llama_server, "--model", "smollm2",
        "--max-tokens", "200", "--concurrency", "1")
    out = cli("run", "--dataset", "cands", "--model", "embedded", "--model", "llamacpp", "--limit", "3").output
    assert "embedded: completed — 3/3 done" in out and "llamacpp: completed — 3/3 done" in out
    figures = orjson.loads(cli("compare", "--dataset", "cands", "--json").output)
    assert figures["all_answered"] == 3 and set(figures["models"]) == {"embedded", "llamacpp"}


def test_export_kinds_and_few_shot_from_the_cli(cli, tmp_path):
    from workbench.config import Settings
    from workbench.store.annotations import annotate
    from workbench.service.workspace import open_workspace

    with FakeOpenAIServer() as server:
        cli("models", "add", "m", "--provider", "openai", "--base-url", server.base_url, "--model", "m")
        cli("run", "--dataset", "cands", "--model", "m")
        store = open_workspace(Settings.load(data_dir=tmp_path / "cli-data"))
        for i in (1, 2):
            annotate(store, dataset_id="cands", record_id=f"cand-{i:06d}", model_id="m", field="golden", value=True,
                     author="ann")
        for kind, name in (("golden", "g.jsonl"), ("training", "t.jsonl"), ("comparison", "c.csv"),
                           ("training-parquet", "t.parquet"), ("few-shot", "f.txt")):
            out = cli("export", "--dataset", "cands", "--kind", kind, "-o", str(tmp_path / name)).output
            assert "wrote" in out
        assert len((tmp_path / "g.jsonl").read_text().splitlines()) == 2
        assert (tmp_path / "f.txt").read_text().count("Answer:") == 2
        assert "exports as" in cli("export", "--dataset", "cands", "--kind", "golden", "--format", "csv",
                                   "-o", str(tmp_path / "x.csv"), code=2).output
        out = cli("run", "--dataset", "cands", "--model", "m", "--few-shot", "2", "--limit", "5").output
        assert "5/5 done" in out
    assert "no golden examples" in cli("run", "--dataset", "cands", "--model", "m", "--few-shot", "2",
                                       "--examples-from", "nope", code=1).output
