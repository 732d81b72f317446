"""The comparison summary export: a metrics dict (/api/metrics) flattened to one row per number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


SUMMARY_COLUMNS = ["section", "model", "other", "field", "metric", "value"]
_MODEL_METRICS = ("answered", "errors", "mean_latency_ms", "tokens_in", "tokens_out")
_INTERVAL = ("low", "high", "small")  # a proportion's 95% Wilson interval and its small-sample flag
_AGREEMENT = ("n", "percent", *_INTERVAL, "kappa", "kappa_low", "kappa_high")
_ACCURACY = ("n", "correct", "accuracy", *_INTERVAL)
_TEST = ("a", "b", "n", "p", "verdict", "small")  # a paired test's counts, p-value and verdict


def summary_columns() -> list[str]:
    return list(SUMMARY_COLUMNS)


def _summary(section: str, metric: str, value: Any, model: Any = "", other: Any = "", field: Any = "") -> dict:
    return {"section": section, "model": model, "other": other, "field": field, "metric": metric, "value": value}


def summary_rows(metrics: dict[str, Any]) -> Iterator[dict]:
    """A metrics dict flattened to one row per number, for a summary sheet; missing sections are skipped.

    Sections: overview (records), models (answered, errors, latency, tokens),
    errors (count per error kind), agreement (per field and model pair: n,
    percent, kappa, each with its 95% interval; "other" is the second model),
    accuracy (overall, and per field, with intervals), win_rate, preferences,
    confusion (``field`` is the reference label, ``other`` the model's answer,
    value the count), paired (per model pair: ``mcnemar_*`` on the primary verdict
    and ``sign_*`` on preferences: the counts a/b, n, p, verdict, small) and
    few_shot (per model: accuracies, the difference and its interval, what was
    left out).
    """
    if metrics.get("records") is not None:
        yield _summary("overview", "records", metrics["records"])
    for model, stats in (metrics.get("models") or {}).items():
        stats = stats or {}
        for metric in _MODEL_METRICS:
            if metric in stats:
                yield _summary("models", metric, stats[metric], model)
        for kind, n in (stats.get("errors_by_kind") or {}).items():
            yield _summary("errors", kind, n, model)
    for field_name, pairs in (metrics.get("agreement") or {}).items():
        for pair in pairs or []:
            names = list(pair.get("models") or []) + ["", ""]
            for metric in _AGREEMENT:
                if metric in pair:
                    yield _summary("agreement", metric, pair[metric], names[0], names[1], field_name)
    for model, acc in (metrics.get("accuracy") or {}).items():
        acc = acc or {}
        for metric in _ACCURACY:
            if metric in acc:
                yield _summary("accuracy", metric, acc[metric], model)
        for field_name, by in (acc.get("by_field") or {}).items():
            for metric in _ACCURACY:
                if metric in (by or {}):
                    yield _summary("accuracy", metric, by[metric], model, field=field_name)
    for model, win in (metrics.get("win_rate") or {}).items():
        for metric in ("wins", "n", "rate", *_INTERVAL):
            if metric in (win or {}):
                yield _summary("win_rate", metric, win[metric], model)
    preferences = metrics.get("preferences") or {}
    for metric in ("n", "tie", "all_bad"):
        if metric in preferences:
            yield _summary("preferences", metric, preferences[metric])
    for model, confusion in (metrics.get("confusion") or {}).items():
        confusion = confusion or {}
        if "n" in confusion:
            yield _summary("confusion", "n", confusion["n"], model)
        labels = confusion.get("labels") or []
        for i, cells in enumerate(confusion.get("matrix") or []):
            for j, count in enumerate(cells or []):
                actual = labels[i] if i < len(labels) else i
                answered = labels[j] if j < len(labels) else j
                yield _summary("confusion", "count", count, model, other=answered, field=actual)
    yield from _paired_rows(metrics.get("paired") or [])
    yield from _few_shot_rows(metrics.get("icl") or [])


def _paired_rows(paired: list[dict]) -> Iterator[dict]:
    for pair in paired:
        pair = pair or {}
        names = list(pair.get("models") or []) + ["", ""]
        for test in ("mcnemar", "sign"):
            for metric in _TEST:
                if metric in (pair.get(test) or {}):
                    yield _summary("paired", f"{test}_{metric}", pair[test][metric], names[0], names[1],
                                   pair.get("field") or "")


def _few_shot_rows(rows: list[dict]) -> Iterator[dict]:
    for row in rows:
        row = row or {}
        model, field_name = row.get("model_id", ""), row.get("field") or ""
        for shot in ("zero_shot", "few_shot"):
            for metric in ("n", "correct", "accuracy"):
                if metric in (row.get(shot) or {}):
                    yield _summary("few_shot", f"{shot}_{metric}", row[shot][metric], model, field=field_name)
        for metric in ("value", "low", "high", "small"):
            if metric in (row.get("difference") or {}):
                yield _summary("few_shot", f"difference_{metric}", row["difference"][metric], model, field=field_name)
        for metric in _TEST:
            if metric in (row.get("mcnemar") or {}):
                yield _summary("few_shot", f"mcnemar_{metric}", row["mcnemar"][metric], model, field=field_name)
        for metric in ("excluded_examples", "excluded_self_labelled", "excluded_note"):
            if metric in row:
                yield _summary("few_shot", metric, row[metric], model, field=field_name)
