"""Rule-based baseline scorer: enums, robustness to junk, and sensible ordering."""

import pytest

from testkit.synthetic import generate_candidates
from workbench.providers.baseline_rules import score_candidate, title_rank

RECOMMENDATIONS = {"Strong Yes", "Yes", "Maybe", "No", "Strong No"}
LEVELS = {"Strong", "Good", "Average", "Weak"}
ORDER = ["Strong No", "No", "Maybe", "Yes", "Strong Yes"]


def assert_valid(result):
    assert set(result) == {"recommendation", "trajectory", "pedigree", "reasoning"}
    assert result["recommendation"] in RECOMMENDATIONS
    assert result["trajectory"] in LEVELS
    assert result["pedigree"] in LEVELS
    assert result["reasoning"].startswith("Rule-based baseline:")
    assert len(result["reasoning"]) <= 600


STRONG = {
    "title": "Staff Software Engineer",
    "company": "Google",
    "years_experience": 12,
    "education": [{"degree": "MS", "field": "Computer Science", "school": "Stanford University"}],
    "skills": ["Python", "Go", "SQL", "Kubernetes", "AWS", "System Design", "Kafka", "gRPC", "Redis"],
    "work_history": [
        {"title": "Software Engineer", "company": "Stripe", "start_year": 2013, "end_year": 2016},
        {"title": "Senior Software Engineer", "company": "Meta", "start_year": 2016, "end_year": 2020},
        {"title": "Staff Software Engineer", "company": "Google", "start_year": 2020, "end_year": None},
    ],
}
WEAK = {
    "title": "Junior Developer",
    "company": "Acme Corp",
    "years_experience": 9,
    "education": [],
    "skills": ["HTML"],
    "work_history": [
        {"title": "Developer", "company": "Acme Corp", "start_year": 2016, "end_year": 2020},
        {"title": "Junior Developer", "company": "Acme Corp", "start_year": 2020, "end_year": None},
    ],
}

JUNK = [
    {},
    None,
    "not a dict",
    42,
    {"years_experience": "abc"},
    {"years_experience": "7"},
    {"years_experience": float("nan"), "skills": 12},
    {"skills": "python, sql"},
    {"title": None, "company": None, "skills": None, "education": None, "work_history": None},
    {"work_history": "Engineer at Google; Senior Engineer at Meta", "education": "BS, MIT"},
    {"work_history": '[{"title": "Engineer", "start_year": "2015"}, {"title": "Staff Engineer"}]'},
    {"work_history": [None, 3, {"title": ["x"], "start_year": {}}], "education": [None, "PhD"]},
    {"title": "x" * 5000, "skills": ["a"] * 1000, "company": "Google " * 500},
]


def test_strong_and_weak_are_valid_and_ordered():
    strong, weak = score_candidate(STRONG), score_candidate(WEAK)
    assert_valid(strong)
    assert_valid(weak)
    assert ORDER.index(strong["recommendation"]) > ORDER.index(weak["recommendation"])
    assert strong["recommendation"] in {"Yes", "Strong Yes"}
    assert weak["recommendation"] in {"No", "Strong No"}
    assert strong["pedigree"] == "Strong" and weak["pedigree"] == "Weak"
    assert strong["trajectory"] in {"Strong", "Good"} and weak["trajectory"] == "Weak"


@pytest.mark.parametrize("record", JUNK, ids=range(len(JUNK)))
def test_junk_never_raises(record):
    assert_valid(score_candidate(record))


def test_missing_data_scores_low():
    assert score_candidate({})["recommendation"] in {"No", "Strong No"}


def test_string_numbers_and_csv_lists_are_read():
    assert "7y experience" in score_candidate({"years_experience": "7"})["reasoning"]
    assert "2 skills" in score_candidate({"skills": "python, sql"})["reasoning"]


def test_title_rank():
    assert title_rank("Junior Frontend Developer") == 0
    assert title_rank("Associate Product Manager") == 0
    assert title_rank("Product Manager") == 1
    assert title_rank("Senior Software Engineer") == 2
    assert title_rank("Engineering Manager") == 3
    assert title_rank("VP of Engineering") == 5
    assert title_rank(None) == 1


def test_spread_over_synthetic_candidates():
    results = [score_candidate(r) for r in generate_candidates(200)]
    for result in results:
        assert_valid(result)
    assert len({r["recommendation"] for r in results}) >= 3
    assert len({r["trajectory"] for r in results}) >= 3
    assert len({r["pedigree"] for r in results}) >= 3


def test_does_not_mutate_input():
    import copy
    record = copy.deepcopy(STRONG)
    score_candidate(record)
    assert record == STRONG
