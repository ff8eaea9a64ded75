"""Counter windows, exact admission, compensation of refused requests, headers."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest

from gateway_common import db, ratelimit
from gateway_common.errors import PaymentRequired, RateLimited
from gateway_common.parallel import Step

TS = calendar.timegm((2026, 12, 31, 23, 59, 30))


def test_window_bounds_cover_minute_hour_day_and_month_rollover():
    assert ratelimit.window_bounds("minute", TS) == ("202612312359", TS + 30)
    assert ratelimit.window_bounds("hour", TS) == ("2026123123", TS + 30)
    assert ratelimit.window_bounds("day", TS) == ("20261231", TS + 30)
    assert ratelimit.window_bounds("month", TS) == ("202612", calendar.timegm((2027, 1, 1, 0, 0, 0)))
    with pytest.raises(ValueError):
        ratelimit.window_bounds("week", TS)


def test_consume_counts_each_window_and_reports_the_tightest(dynamo):
    limits = {"minute": 3, "hour": 10, "day": 100}
    decision, _ = ratelimit.consume("key_a", "ai", limits, ts=TS)
    assert [(s.window, s.count) for s in decision.states] == [("minute", 1), ("hour", 1), ("day", 1)]
    assert decision.headers() == {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": str(TS + 30)}
    item = db.table("CountersTable").get_item(Key={"counter_id": "rl#key_a#ai#minute#202612312359"})["Item"]
    assert item["count"] == 1 and item["expires_at"] > TS + 30


def test_a_full_window_refuses_with_retry_after_and_undoes_the_others(dynamo):
    limits = {"minute": 2, "hour": 10}
    ratelimit.consume("key_b", "ai", limits, ts=TS)
    ratelimit.consume("key_b", "ai", limits, ts=TS)
    with pytest.raises(RateLimited) as refused:
        ratelimit.consume("key_b", "ai", limits, ts=TS)
    assert refused.value.headers["Retry-After"] == "30"
    assert refused.value.code == "rate_limit_minute"
    assert "2 requests per minute" in refused.value.message
    assert ratelimit.window_counts("key_b", "ai", ts=TS) == {"minute": 2, "hour": 2, "day": 0, "month": 0}
    # ten seconds later the minute is still full; the next minute (here also a new hour and year) admits again
    with pytest.raises(RateLimited):
        ratelimit.consume("key_b", "ai", limits, ts=TS + 10)
    decision, _ = ratelimit.consume("key_b", "ai", limits, ts=TS + 31)
    assert [(s.window, s.count) for s in decision.states] == [("minute", 1), ("hour", 1)]
    assert decision.tightest().window == "minute"


def test_a_failing_alongside_step_undoes_every_counter(dynamo):
    undone: list[str] = []

    def refuse() -> None:
        raise PaymentRequired("no credits")

    step = Step(run=refuse, undo=lambda _: undone.append("never: it failed"))
    with pytest.raises(PaymentRequired):
        ratelimit.consume("key_c", "ai", {"minute": 5, "month": 100}, alongside=[step], ts=TS)
    assert ratelimit.window_counts("key_c", "ai", ts=TS) == {"minute": 0, "hour": 0, "day": 0, "month": 0}
    assert undone == []


def test_a_refused_window_undoes_a_successful_alongside_step(dynamo):
    ratelimit.consume("key_d", "ai", {"minute": 1}, ts=TS)
    undone: list[object] = []
    step = Step(run=lambda: "reserved", undo=undone.append)
    with pytest.raises(RateLimited):
        ratelimit.consume("key_d", "ai", {"minute": 1}, alongside=[step], ts=TS)
    assert undone == ["reserved"]


def test_peek_reads_without_counting(dynamo):
    ratelimit.consume("key_e", "ai", {"minute": 5}, ts=TS)
    first = ratelimit.peek("key_e", "ai", {"minute": 5, "month": 50}, ts=TS)
    second = ratelimit.peek("key_e", "ai", {"minute": 5, "month": 50}, ts=TS)
    assert [(s.window, s.count) for s in first.states] == [("minute", 1), ("month", 0)] == [
        (s.window, s.count) for s in second.states
    ]


def test_month_reset_is_the_first_of_next_month():
    dt = datetime(2026, 2, 14, 12, tzinfo=UTC)
    _, reset = ratelimit.window_bounds("month", dt.timestamp())
    assert datetime.fromtimestamp(reset, tz=UTC) == datetime(2026, 3, 1, tzinfo=UTC)


def test_a_zero_limit_admits_nothing(dynamo):
    with pytest.raises(RateLimited) as refused:
        ratelimit.consume("key_z", "ai", {"minute": 0, "hour": 10}, ts=TS)
    assert refused.value.headers["X-RateLimit-Limit"] == "0"
    assert ratelimit.window_counts("key_z", "ai", ts=TS)["hour"] == 0
