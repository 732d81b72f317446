"""The needs-review rule (domain/review.py) in Python and in SQL is one rule. That the grid's
three uses of it agree is checked in test_grid_counts.py."""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from workbench.domain.review import PYTHON, ReviewFacts, looked_at, needs_review, verdicts_differ


def test_the_rule_itself():
    """Wrong or failed: always; differing: until someone has looked."""
    for wrong, errored, differ, reviewed in itertools.product([False, True], repeat=4):
        facts = ReviewFacts(marked_wrong=wrong, errored=errored, models_differ=differ, reviewed=reviewed)
        assert needs_review(facts, PYTHON) == (wrong or errored or (differ and not reviewed))


def test_the_rule_in_sql_is_the_same_rule(store):
    from workbench.grid.selection import SQL

    for values in itertools.product([False, True], repeat=4):
        facts = ReviewFacts(*(sa.literal(v) for v in values))
        with store.engine.connect() as conn:
            got = conn.execute(sa.select(sa.case((needs_review(facts, SQL), 1), else_=0))).scalar()
        assert bool(got) == needs_review(ReviewFacts(*values), PYTHON)


def test_looked_at_and_verdicts_differ():
    assert not looked_at([{"golden": 0, "judgement": None, "correction": None}], {"preference": None, "note": None})
    assert looked_at([{"golden": 1}], None)
    assert looked_at([{"judgement": "good"}], None)
    assert looked_at([], {"note": ""})  # an empty note is still a note
    assert not verdicts_differ(["a", None, "a"])
    assert verdicts_differ(["a", None, "b"])
