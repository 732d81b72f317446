"""Review by expected value with a real judge run (the runner, the fake server): the grid's rows carry
its suggestions, and a judge that flips with the order puts its records first among their equals."""

from __future__ import annotations

from tests.test_judge_runner import answered, disagreeing, execute_judge, first_judge, judging, server  # noqa: F401
from workbench.service import judges
from workbench.service.grid import grid_view


def all_valued(store, dataset) -> list[dict]:
    rows, cursor = [], None
    while True:
        page = grid_view(store, dataset, models="alpha,beta", sort="value", counts=False, limit=7, cursor=cursor)
        rows += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def test_a_flipping_judge_shows_on_rows_and_raises_their_value(store, answered, judging, server):  # noqa: F811
    before = {r["seq"]: r for r in all_valued(store, answered)}
    assert all(r["judge"] == [] for r in before.values())
    judging["judge"] = first_judge  # always "Answer 1": every verdict flips with the order
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    execute_judge(store, pair)
    rows = all_valued(store, answered)
    assert sorted(r["seq"] for r in rows) == sorted(before)
    keys = [(-r["value"], r["seq"]) for r in rows]
    assert keys == sorted(keys)
    judged = disagreeing(store, answered)
    for row in rows:
        if row["seq"] in judged:
            assert row["judge"] and row["judge"][0]["consistent"] is False and row["judge"][0]["preferred"] == "tie"
            assert "judge flipped with order" in row["value_reasons"]
            assert row["value"] == before[row["seq"]]["value"] + 4  # +6 flipped, was +2 (not judged)
        else:
            assert row["judge"] == [] and row["value"] == before[row["seq"]]["value"]
