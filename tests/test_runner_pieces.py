"""The runner's pieces alone: figures, circuit breaker, how a run ends, lease watch, prompts. No store."""

from __future__ import annotations

import asyncio
from typing import Any

from workbench.domain.models import ModelConfig
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.runner.asking import Asker, cache_key, error_row
from workbench.runner.breaker import Breaker, is_transport_failure
from workbench.runner.lease import CONTROL_POLL_S, RunControl
from workbench.runner.options import RunOptions
from workbench.runner.stopping import GONE, Stop, final_state
from workbench.runner.tally import Tally
from workbench.providers.base import HTTP, TIMEOUT, ProviderError
from workbench.store.results import PendingRecord, ResultRow
from workbench.store.runs import OWNER, RunInfo

RECORD = {"id": "c1", "name": "Ada", "title": "Engineer", "company": "X", "experience": [], "education": []}


def a_run(**changes) -> RunInfo:
    fields: dict[str, Any] = dict(
        id=7, dataset_id="d", model_id="m", task_name=TASK.name, task_version=1, status="running",
        status_reason=None, model=ModelConfig(id="m", provider="baseline", price_in=1.0, price_out=2.0),
        options={}, total=10, done=0, errors=0, tokens_in=0, tokens_out=0, cost=0.0, active_seconds=5.0,
        lease_owner=None, lease_expires_at=None, created_at="", started_at=None, finished_at=None)
    return RunInfo(**(fields | changes))


def ok(seq: int, tokens_in: int = 10, tokens_out: int = 20) -> ResultRow:
    return ResultRow(seq=seq, record_id=f"r{seq}", status="ok", output={}, error_kind=None, error_message=None,
                     raw_text=None, latency_ms=1.0, tokens_in=tokens_in, tokens_out=tokens_out, attempts=1,
                     cached=False)


def failed(seq: int, kind: str = "http") -> ResultRow:
    return error_row(PendingRecord(seq, f"r{seq}", {}), kind, "no", attempts=1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_tally_counts_from_the_recount_and_rates_this_session_only():
    clock = Clock()
    tally = Tally(a_run(), clock=clock)
    tally.start_session({"done": 4, "errors": 1, "tokens_in": 40, "tokens_out": 80, "errors_by_kind": {"http": 1}})
    clock.now += 2.0
    tally.count(ok(5))
    tally.count(failed(6, "timeout"))
    figures = tally.snapshot("running")
    assert (figures["done"], figures["errors"], figures["tokens_in"], figures["tokens_out"]) == (6, 2, 50, 100)
    assert figures["errors_by_kind"] == {"http": 1, "timeout": 1}
    assert figures["records_per_s"] == 1.0 and figures["tokens_per_s"] == 10.0  # 2 records, 20 tokens in 2 s
    assert figures["eta_seconds"] == 4.0 and figures["active_seconds"] == 7.0
    assert figures["cost"] == (50 * 1.0 + 100 * 2.0) / 1e6
    assert tally.expected_tokens() == 100 // 6 + 200


def test_a_replaced_result_moves_its_figures_but_not_the_count():
    tally = Tally(a_run())
    tally.count(ok(1, tokens_in=5, tokens_out=7))
    tally.replaced(ok(1, tokens_in=5, tokens_out=7), failed(1, "invalid_response"))
    assert (tally.done, tally.errors, tally.tokens_in, tally.tokens_out) == (1, 1, 0, 0)
    assert tally.errors_by_kind == {"invalid_response": 1}
    tally.replaced(failed(1, "invalid_response"), failed(1, "http"))
    assert tally.errors == 1 and tally.errors_by_kind == {"http": 1}  # no kind left at zero


def test_a_followed_run_mirrors_the_stored_figures():
    tally = Tally(a_run())
    tally.mirror(a_run(total=12, done=3, errors=1, tokens_in=9, tokens_out=11))
    assert (tally.total, tally.done, tally.errors, tally.tokens_in, tally.tokens_out) == (12, 3, 1, 9, 11)


def test_the_breaker_holds_failures_until_an_answer_and_trips_at_its_threshold():
    breaker = Breaker(threshold=3)
    breaker.failure(failed(1))
    breaker.failure(failed(2))
    assert not breaker.tripped and [r.seq for r in breaker.success()] == [1, 2] and breaker.held == []
    for seq in (3, 4, 5):
        breaker.failure(failed(seq))
    assert breaker.tripped and breaker.consecutive == 3
    breaker.drop()
    assert breaker.held == []


def test_transport_failures_are_timeouts_refusals_429_and_5xx():
    assert is_transport_failure(ProviderError(TIMEOUT, "slow"))
    assert is_transport_failure(ProviderError(HTTP, "refused"))
    assert is_transport_failure(ProviderError(HTTP, "busy", status=429))
    assert is_transport_failure(ProviderError(HTTP, "down", status=503))
    assert not is_transport_failure(ProviderError(HTTP, "bad request", status=400))
    assert not is_transport_failure(ProviderError("invalid_json", "prose"))


def test_a_run_that_ran_to_its_end_completes_and_its_held_failures_count():
    stop, breaker = Stop(), Breaker(threshold=5)
    breaker.failure(failed(1))
    status, reason, released = final_state(stop, breaker)
    assert (status, reason, [r.seq for r in released]) == ("completed", None, [1])


def test_the_first_reason_to_stop_wins_and_held_failures_stay_pending():
    stop, breaker = Stop(), Breaker(threshold=5)
    breaker.failure(failed(1))
    stop.request("paused", "paused by user")
    stop.request("failed", "later")
    assert stop.is_set() and final_state(stop, breaker) == ("paused", "paused by user", [])
    assert breaker.held == []


def test_a_tripped_breaker_pauses_the_run_when_nothing_else_stopped_it():
    stop, breaker = Stop(), Breaker(threshold=1)
    breaker.failure(failed(1))
    assert final_state(stop, breaker) == ("paused", "endpoint unreachable", [])


def test_a_deleted_run_is_cancelled_saying_why_and_a_taken_over_one_is_lost():
    gone, lost = Stop(), Stop()
    gone.deleted()
    lost.taken_over()
    assert gone.gone and gone.reason == ("cancelled", GONE)
    assert lost.lost and lost.is_set() and lost.reason is None


def test_the_lease_watch_notices_another_owner_and_looks_again_after_a_hold_up():
    clock, stop = Clock(), Stop()
    seen: list[RunInfo] = []

    control = RunControl(store=None, run_id=7, stop=stop, clock=clock)  # type: ignore[arg-type]
    assert not control.taken_over(a_run(lease_owner=OWNER)) and not control.taken_over(a_run())
    assert asyncio.run(control.still_ours())  # looked just now: no need to read the run

    import workbench.runner.lease as lease

    def get_run(store, run_id):
        seen.append(run_id)
        return a_run(lease_owner="other-host:1:abc")

    original, lease.get_run = lease.get_run, get_run
    try:
        clock.now += CONTROL_POLL_S * 4  # held up: the lease may have lapsed
        assert not asyncio.run(control.still_ours())
    finally:
        lease.get_run = original
    assert seen == [7] and stop.lost and stop.is_set()


def test_prompts_are_rendered_with_examples_but_never_the_record_itself():
    run = a_run(model=ModelConfig(id="m", provider="openai", base_url="http://127.0.0.1:1/v1", model="x"))
    asker = Asker(run, TASK, RunOptions(), use_cache=True, breaker=Breaker(5), tally=Tally(run),
                  examples=[("c1", RECORD, {"recommendation": "Yes"}), ("c2", RECORD | {"id": "c2"}, {})])
    item = asker.prepare(PendingRecord(1, "c1", RECORD))
    assert item.render_error is None and item.messages is not None
    assert item.cache_key == cache_key(run, item.messages, TASK.output_schema)
    assert len(item.messages) == len(TASK.render(RECORD, [(RECORD, {})]))  # one example: c2, not c1
    uncached = Asker(run, TASK, RunOptions(), use_cache=False, breaker=Breaker(5), tally=Tally(run))
    assert uncached.prepare(PendingRecord(1, "c1", RECORD)).cache_key is None


def test_a_record_the_template_cant_take_is_that_records_error():
    run = a_run()

    class Broken:
        output_schema: dict = {}
        verdict_fields: list = []

        def render(self, record, examples):
            raise KeyError("name")

    asker = Asker(run, Broken(), RunOptions(), use_cache=True, breaker=Breaker(5), tally=Tally(run))  # type: ignore[arg-type]
    item = asker.prepare(PendingRecord(1, "c1", {}))
    assert item.messages is None and item.render_error == "could not render the prompt: KeyError: 'name'"


def test_result_rows_go_to_the_driver_in_the_tables_column_order() -> None:
    """write_batch hands the driver tuples in RESULT_COLUMNS / CACHE_COLUMNS order: every column, each once."""
    from workbench.store import results as stored
    from workbench.store.schema import response_cache, results

    assert sorted(stored.RESULT_COLUMNS) == sorted(results.c.keys())
    assert sorted(stored.CACHE_COLUMNS) == sorted(response_cache.c.keys())
    row = stored.ResultRow(seq=3, record_id="r", status="ok", output={"a": "é"}, error_kind=None, error_message=None,
                           raw_text="{}", latency_ms=1.5, tokens_in=2, tokens_out=4, attempts=1, cached=True,
                           verdict_key="k", primary_verdict="p", finish_reason="stop")
    as_row = row.as_row(7, "now")
    assert as_row["output"] == '{"a":"é"}' and as_row["cached"] == 1 and as_row["run_id"] == 7
    assert tuple(as_row.values()) == row.as_values(7, "now")
