"""Transparent rule-based candidate scorer behind the `baseline` provider.

It exists so model outputs have something simple to be compared against: every
point it gives comes from a named rule, and the reasoning lists them all.
Input may be anything a user imported (CSV strings, missing fields, None), so
every field is read defensively and missing data scores low or neutral; the
function never raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Matched case-insensitively as whole words ("Amazon Web Services" counts as Amazon).
TOP_COMPANIES = {
    "google", "alphabet", "deepmind", "meta", "facebook", "apple", "amazon", "microsoft", "netflix",
    "stripe", "nvidia", "airbnb", "uber", "databricks", "openai", "anthropic", "shopify", "spotify",
    "linkedin", "salesforce", "adobe", "snowflake", "palantir", "jane street", "two sigma", "citadel",
}
TOP_SCHOOLS = {
    "mit", "massachusetts institute of technology", "stanford", "carnegie mellon", "uc berkeley",
    "university of california, berkeley", "harvard", "caltech", "princeton", "cambridge", "oxford",
    "eth zurich", "eth zürich", "epfl", "iit", "tsinghua", "peking university", "university of toronto",
    "university of waterloo", "georgia tech", "cornell", "national university of singapore",
    "university of michigan", "columbia university", "yale", "imperial college",
}
# Title seniority, checked from most to least senior; the first matching rank wins.
# Junior markers are checked before everything else ("Associate Product Manager" is junior).
JUNIOR_WORDS = ("junior", "jr", "intern", "internship", "associate", "trainee", "apprentice",
                "graduate", "entry level", "help desk", "tester")
SENIORITY_WORDS = (
    (5, ("vp", "vice president", "chief", "cto", "cio", "ceo")),
    (4, ("director", "head of", "principal", "distinguished", "fellow")),
    (3, ("staff", "engineering manager", "group product manager", "senior manager", "architect",
         "it manager")),
    (2, ("senior", "sr", "lead", "manager")),
)
PRODUCT_MANAGER = "product manager"  # an IC role despite the word "manager"
MID_RANK = 1
DEGREE_WORDS = ("bs", "ba", "bsc", "b.s", "b.a", "bachelor", "ms", "msc", "m.s", "master", "mba",
                "phd", "ph.d", "doctor", "beng", "meng")

# Minimum points for each label; anything below the last is "Strong No".
RECOMMENDATION_CUTOFFS = ((10, "Strong Yes"), (7, "Yes"), (4, "Maybe"), (1, "No"))
MAX_REASONING = 600


# ---------- defensive readers ----------

def _to_int(value: Any) -> int | None:
    """7, 7.9, "7", "7 years" -> 7; junk -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value) if value == value and abs(value) < 1e6 else None  # value == value drops NaN
    if isinstance(value, str):
        match = re.search(r"-?\d+(?:\.\d+)?", value)
        return int(float(match.group())) if match else None
    return None


def _to_list(value: Any) -> list:
    """Lists pass through; JSON-ish or comma/semicolon separated strings are split."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):
            try:
                return _to_list(json.loads(text))
            except ValueError:
                pass
        return [part.strip() for part in re.split(r"[;,|\n]", text) if part.strip()]
    return []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return " ".join(_text(v) for v in value.values())
    return str(value)


def _has_word(text: str, words) -> list[str]:
    """Which of `words` occur in `text` as whole words (case-insensitive), as spelled in `text`."""
    found = []
    for word in words:
        match = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text, re.IGNORECASE)
        if match:
            found.append(match.group())
    return found


def title_rank(title: Any) -> int:
    """0 junior, 1 mid (default), 2 senior/lead, 3 staff/manager, 4 principal/director, 5 VP/C-level."""
    text = _text(title)
    if _has_word(text, JUNIOR_WORDS):
        return 0
    for rank, words in SENIORITY_WORDS:
        hits = _has_word(text, words)
        if rank == 2 and [h.lower() for h in hits] == ["manager"] and _has_word(text, (PRODUCT_MANAGER,)):
            continue  # plain "Product Manager" is mid-level
        if hits:
            return rank
    return MID_RANK


# ---------- rules ----------

def _experience_points(years: int | None) -> tuple[int, str]:
    if years is None:
        return 0, "experience unknown (+0)"
    points = 3 if years >= 10 else 2 if years >= 5 else 1 if years >= 2 else 0
    return points, f"{years}y experience (+{points})"


def _title_points(title: str) -> tuple[int, str]:
    if not title:
        return 0, "no current title (+0)"
    points = min(title_rank(title) - MID_RANK, 3)
    return points, f"title '{title[:40]}' seniority ({points:+d})"


def _skills_points(skills: list) -> tuple[int, str]:
    n = len([s for s in skills if _text(s).strip()])
    points = 2 if n >= 8 else 1 if n >= 4 else 0
    return points, f"{n} skills (+{points})"


def _history(record: dict) -> list[dict]:
    """Work history as dicts with title/start_year/end_year, oldest first when years are known."""
    entries = []
    for item in _to_list(record.get("work_history")):
        if isinstance(item, dict):
            entries.append({"title": _text(item.get("title")), "company": _text(item.get("company")),
                            "start": _to_int(item.get("start_year")), "end": _to_int(item.get("end_year"))})
        elif isinstance(item, str) and item.strip():
            entries.append({"title": item, "company": item, "start": None, "end": None})
    if entries and all(e["start"] is not None for e in entries):
        entries.sort(key=lambda e: int(e["start"] or 0))  # all ints here
    return entries


def _trajectory(history: list[dict], years: int | None) -> tuple[str, int, str]:
    """Seniority levels gained per year across the work history."""
    titled = [e for e in history if e["title"]]
    if len(titled) < 2:
        return "Average", 0, "trajectory Average: too little history to judge (+0)"
    gained = title_rank(titled[-1]["title"]) - title_rank(titled[0]["title"])
    known = [y for e in history for y in (e["start"], e["end"]) if y is not None]
    span = years if years is not None else (max(known) - min(known) if known else None)
    if not span or span <= 0:
        return "Average", 0, "trajectory Average: career length unknown (+0)"
    rate = gained / span
    current = title_rank(titled[-1]["title"])
    if gained < 0:
        label = "Weak"  # moved down in seniority
    elif rate >= 0.25:
        label = "Strong"
    elif rate >= 0.12:
        label = "Good"
    elif gained == 0 and current <= MID_RANK and span >= 4:
        label = "Weak"  # still junior/mid after 4+ years
    else:
        label = "Average"
    points = {"Strong": 2, "Good": 1, "Average": 0, "Weak": -1}[label]
    return label, points, f"trajectory {label}: {gained:+d} levels over {span}y ({points:+d})"


def _pedigree(record: dict, history: list[dict]) -> tuple[str, int, str]:
    companies = " | ".join([_text(record.get("company"))] + [e["company"] for e in history])
    top_companies = _has_word(companies, sorted(TOP_COMPANIES))[:2]
    education = _to_list(record.get("education"))
    schools = " | ".join(_text(e.get("school")) if isinstance(e, dict) else _text(e) for e in education)
    degrees = " | ".join(_text(e.get("degree")) if isinstance(e, dict) else _text(e) for e in education)
    top_school = _has_word(schools, sorted(TOP_SCHOOLS))[:1]
    has_degree = bool(_has_word(degrees, DEGREE_WORDS))

    score = len(top_companies) + len(top_school) + int(has_degree)
    label = "Strong" if score >= 3 else "Good" if score == 2 else "Average" if score == 1 else "Weak"
    points = {"Strong": 2, "Good": 1, "Average": 0, "Weak": -1}[label]
    why = [f"top company {c}" for c in top_companies] + [f"top school {s}" for s in top_school]
    why += ["degree"] if has_degree else ["no degree listed"]
    return label, points, f"pedigree {label}: {', '.join(why)} ({points:+d})"


def score_candidate(record: dict) -> dict:
    """Score one candidate record; always returns the four fields, never raises."""
    try:
        return _score(record if isinstance(record, dict) else {})
    except Exception as exc:  # last-resort guard: a baseline must not crash a run
        return {"recommendation": "No", "trajectory": "Average", "pedigree": "Weak",
                "reasoning": f"Rule-based baseline: could not read record ({type(exc).__name__})."[:MAX_REASONING]}


def _score(record: dict) -> dict:
    years = _to_int(record.get("years_experience"))
    if years is not None:
        years = max(0, min(years, 60))
    history = _history(record)
    title = _text(record.get("title")).strip() or (history[-1]["title"] if history else "")

    trajectory, traj_points, traj_why = _trajectory(history, years)
    pedigree, ped_points, ped_why = _pedigree(record, history)
    rules = [
        _experience_points(years),
        _title_points(title),
        _skills_points(_to_list(record.get("skills"))),
        (traj_points, traj_why),
        (ped_points, ped_why),
    ]
    total = sum(points for points, _ in rules)
    recommendation = next((label for cutoff, label in RECOMMENDATION_CUTOFFS if total >= cutoff), "Strong No")
    reasoning = (f"Rule-based baseline: {'; '.join(why for _, why in rules)}. "
                 f"Total {total} -> {recommendation}.")
    if len(reasoning) > MAX_REASONING:
        reasoning = reasoning[:MAX_REASONING - 3] + "..."
    return {"recommendation": recommendation, "trajectory": trajectory, "pedigree": pedigree,
            "reasoning": reasoning}
