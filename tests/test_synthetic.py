"""Synthetic candidate generator: determinism, shapes, consistency, streaming."""

import json
import types
from pathlib import Path

from testkit.synthetic import CURRENT_YEAR, generate_candidates, write_jsonl

SAMPLE = Path(__file__).resolve().parents[1] / "workbench" / "data" / "sample_candidates.jsonl"
FIELDS = {"id", "name", "title", "company", "location", "years_experience", "education", "skills",
          "work_history", "summary"}


def test_is_a_generator():
    # Streaming matters: 200k records must never be built as one list.
    assert isinstance(generate_candidates(200_000), types.GeneratorType)
    first = next(generate_candidates(200_000, seed=3))
    assert first["id"] == "cand-000001"


def test_deterministic_and_prefix_stable():
    a = list(generate_candidates(50, seed=7))
    assert a == list(generate_candidates(50, seed=7))
    assert list(generate_candidates(80, seed=7))[:50] == a
    assert a != list(generate_candidates(50, seed=8))


def test_field_shapes():
    for rec in generate_candidates(500, seed=1):
        assert set(rec) == FIELDS
        assert isinstance(rec["name"], str) and " " in rec["name"]
        assert isinstance(rec["years_experience"], int) and 0 <= rec["years_experience"] <= 30
        assert 3 <= len(rec["skills"]) <= 12
        assert len(set(rec["skills"])) == len(rec["skills"])
        assert all(set(e) == {"degree", "field", "school"} for e in rec["education"])
        assert 1 <= len(rec["work_history"]) <= 6
        assert rec["summary"] and rec["summary"].endswith(".")
        json.dumps(rec)  # must be JSON-serialisable


def test_work_history_consistent():
    for rec in generate_candidates(500, seed=2):
        history = rec["work_history"]
        current = history[-1]
        assert (current["title"], current["company"]) == (rec["title"], rec["company"])
        assert current["end_year"] is None
        assert all(job["end_year"] is not None for job in history[:-1])
        assert history[0]["start_year"] == CURRENT_YEAR - rec["years_experience"]
        for prev, nxt in zip(history, history[1:], strict=False):
            assert prev["start_year"] < prev["end_year"] <= nxt["start_year"]
        assert current["start_year"] <= CURRENT_YEAR
        assert all(job["summary"] for job in history)


def test_variety():
    recs = list(generate_candidates(300))
    assert len({r["title"] for r in recs}) >= 20
    assert len({r["company"] for r in recs}) >= 20
    assert any(not r["education"] for r in recs)
    assert any(r["years_experience"] <= 2 for r in recs) and any(r["years_experience"] >= 15 for r in recs)
    assert len({r["id"] for r in recs}) == 300


def test_write_jsonl_roundtrip(tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, 20, seed=5)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == list(generate_candidates(20, seed=5))


def test_bundled_sample_matches_generator():
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100
    assert [json.loads(line) for line in lines] == list(generate_candidates(100, 0))
