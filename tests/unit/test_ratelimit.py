"""Counter windows, exact admission, compensation of refused requests, headers."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest

from gateway_common import db, ratelimit
from gateway_common.errors import PaymentRequired, RateLimited
from gateway_common.parallel import Step, run_all_or_undo

TS = calendar.timegm((2026, 12, 31, 23, 59, 30))


def test_window_bounds_cover_minute_hour_day_and_month_rollover():
    assert ratelimit.window_bounds("minute", TS) == ("202612312359", TS + 30)
    assert ratelimit.window_bounds("hour", TS) == ("2026123123", TS + 30)
    assert ratelimit.window_bounds("day", TS) == ("20261231", TS + 30)
    assert ratelimit.window_bounds("month", TS) == ("202612", calendar.timegm((2027, 1, 1, 0, 0, 0)))
    with pytest.raises(ValueError):
        ratelimit.window_bounds("week", TS)


def test_count_is_one_write_of_one_item_and_reports_the_tightest(dynamo):
    limits = {"minute": 3, "hour": 10, "day": 100}
    decision = ratelimit.count("user_a", "ep:GET /x", limits, ts=TS)
    assert [(s.window, s.count) for s in decision.states] == [("minute", 1), ("hour", 1), ("day", 1)]
    assert decision.headers() == {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": str(TS + 30)}
    item = db.table("CountersTable").get_item(Key={"counter_id": "rl#user_a#ep:GET /x"})["Item"]
    assert item["w#minute#202612312359"] == 1 and item["w#hour#2026123123"] == 1 and item["w#day#20261231"] == 1


def test_a_full_window_refuses_with_retry_after_and_counts_nothing(dynamo):
    limits = {"minute": 2, "hour": 10}
    ratelimit.count("user_b", "ep", limits, ts=TS)
    ratelimit.count("user_b", "ep", limits, ts=TS)
    with pytest.raises(RateLimited) as refused:
        ratelimit.count("user_b", "ep", limits, ts=TS)
    assert refused.value.headers["Retry-After"] == "30"
    assert refused.value.code == "rate_limit_minute"
    assert "2 requests per minute" in refused.value.message
    assert ratelimit.window_counts("user_b", "ep", ts=TS) == {"minute": 2, "hour": 2, "day": 0, "month": 0}
    # ten seconds later the minute is still full; the next minute (here also a new hour and year) admits again
    with pytest.raises(RateLimited):
        ratelimit.count("user_b", "ep", limits, ts=TS + 10)
    decision = ratelimit.count("user_b", "ep", limits, ts=TS + 31)
    assert [(s.window, s.count) for s in decision.states] == [("minute", 1), ("hour", 1)]
    assert decision.tightest().window == "minute"


def test_past_windows_are_removed_by_later_writes(dynamo):
    ratelimit.count("user_s", "ep", {"minute": 5}, ts=TS)
    ratelimit.count("user_s", "ep", {"minute": 5}, ts=TS + 60)  # sees the past minute's attribute
    ratelimit.count("user_s", "ep", {"minute": 5}, ts=TS + 61)  # removes it
    item = db.table("CountersTable").get_item(Key={"counter_id": "rl#user_s#ep"})["Item"]
    assert [name for name in item if name.startswith("w#minute#")] == ["w#minute#202701010000"]
    assert item["w#minute#202701010000"] == 2


def test_a_failing_step_undoes_the_others_and_a_failed_step_is_not_undone(dynamo):
    undone: list[object] = []

    def refuse() -> None:
        raise PaymentRequired("no credits")

    steps = [Step(run=lambda: "held", undo=undone.append), Step(run=refuse, undo=lambda _: undone.append("never"))]
    with pytest.raises(PaymentRequired):
        run_all_or_undo(steps)
    assert undone == ["held"]


def test_peek_reads_without_counting(dynamo):
    ratelimit.count("user_e", "ep", {"minute": 5}, ts=TS)
    first = ratelimit.peek("user_e", "ep", {"minute": 5, "month": 50}, ts=TS)
    second = ratelimit.peek("user_e", "ep", {"minute": 5, "month": 50}, ts=TS)
    assert [(s.window, s.count) for s in first.states] == [("minute", 1), ("month", 0)] == [
        (s.window, s.count) for s in second.states
    ]


def test_month_reset_is_the_first_of_next_month():
    dt = datetime(2026, 2, 14, 12, tzinfo=UTC)
    _, reset = ratelimit.window_bounds("month", dt.timestamp())
    assert datetime.fromtimestamp(reset, tz=UTC) == datetime(2026, 3, 1, tzinfo=UTC)


def test_a_zero_limit_admits_nothing(dynamo):
    with pytest.raises(RateLimited) as refused:
        ratelimit.count("user_z", "ep", {"minute": 0, "hour": 10}, ts=TS)
    assert refused.value.headers["X-RateLimit-Limit"] == "0"
    assert ratelimit.window_counts("user_z", "ep", ts=TS)["hour"] == 0


def test_tokens_per_minute_is_counted_and_refused_by_the_same_write(dynamo):
    from gateway_common.expressions import Update

    windows = ratelimit.Windows(base="t", limits={}, ts=TS, tokens=600, tokens_limit=1000)
    update = Update()
    windows.add_to(update)
    db.client().update_item(**update.low_level(db.table_name("CountersTable"), {"counter_id": "tpm"}))
    item = db.table("CountersTable").get_item(Key={"counter_id": "tpm"})["Item"]
    assert item["t#tpm#202612312359"] == 600
    refused = windows.refusal(item)  # 600 used + 600 wanted > 1000
    assert refused is not None and refused.code == "rate_limit_tokens_per_minute"
    assert refused.headers["X-RateLimit-Remaining-Tokens"] == "400"
    too_big = ratelimit.Windows(base="t", limits={}, ts=TS, tokens=1001, tokens_limit=1000).refuse_at_once()
    assert too_big is not None and "1001 tokens" in too_big.message
