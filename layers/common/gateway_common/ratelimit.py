"""Rate-limit counters: one DynamoDB item per subject, scope and time window.

Item key ``rl#<subject>#<scope>#<window>#<window id>``: the window id is part of the key, so correctness never depends
on TTL (``expires_at`` only cleans up). A request is admitted by conditional increments of every window at once
(``count < limit``); a refusal in one window undoes the increments made in the others.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from . import db
from .errors import RateLimited
from .parallel import Step, run_all_or_undo
from .timeutil import now_ts

COUNTERS = "CountersTable"
WINDOW_ORDER = ("minute", "hour", "day", "month")
_TTL_GRACE = 3600


def window_bounds(window: str, ts: float) -> tuple[str, int]:
    """(window id, reset epoch seconds) of the window containing ts."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    if window == "minute":
        start = dt.replace(second=0, microsecond=0)
        return start.strftime("%Y%m%d%H%M"), int(start.timestamp()) + 60
    if window == "hour":
        start = dt.replace(minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%d%H"), int(start.timestamp()) + 3600
    if window == "day":
        start = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%d"), int(start.timestamp()) + 86400
    if window == "month":
        year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
        return dt.strftime("%Y%m"), calendar.timegm((year, month, 1, 0, 0, 0))
    raise ValueError(f"unknown window {window!r}")


def counter_id(subject: str, scope: str, window: str, window_id: str) -> str:
    return f"rl#{subject}#{scope}#{window}#{window_id}"


@dataclass(frozen=True)
class WindowState:
    window: str
    limit: int
    count: int
    reset_at: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)


@dataclass(frozen=True)
class Decision:
    states: tuple[WindowState, ...]

    def tightest(self) -> WindowState | None:
        if not self.states:
            return None
        return min(self.states, key=lambda s: (s.remaining, s.reset_at))

    def headers(self) -> dict[str, str]:
        state = self.tightest()
        if state is None:
            return {}
        return {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(state.reset_at),
        }


def _ordered(limits: dict[str, int]) -> list[tuple[str, int]]:
    return [(w, limits[w]) for w in WINDOW_ORDER if limits.get(w) is not None]


class _WindowFull(Exception):
    def __init__(self, state: WindowState) -> None:
        super().__init__(state.window)
        self.state = state


def capped_increment(counter: str, limit: int, expires_at: int, refused: Callable[[], Exception]) -> Step:
    """A Step adding one to ``counter`` only while it is below ``limit`` (its run returns the new count); the
    ``refused`` exception is raised when the counter is full. Undo takes the one back."""
    key = {"counter_id": counter}
    table = db.table(COUNTERS)

    def run() -> int:
        if limit <= 0:  # a zero limit admits nothing (the condition below would admit a first request)
            raise refused()
        try:
            out = table.update_item(
                Key=key,
                UpdateExpression="ADD #c :one SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(#c) OR #c < :limit",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues={":one": 1, ":limit": limit, ":exp": expires_at},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if db.is_conditional_failure(exc):
                raise refused() from None
            raise
        return int(out["Attributes"]["count"])

    def undo(_: int) -> None:
        table.update_item(
            Key=key,
            UpdateExpression="ADD #c :minus",
            ConditionExpression="attribute_exists(#c)",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":minus": -1},
        )

    return Step(run=run, undo=undo)


def _increment_step(subject: str, scope: str, window: str, limit: int, ts: float) -> Step:
    window_id, reset_at = window_bounds(window, ts)
    step = capped_increment(
        counter_id(subject, scope, window, window_id),
        limit,
        reset_at + _TTL_GRACE,
        lambda: _WindowFull(WindowState(window, limit, limit, reset_at)),
    )
    return Step(run=lambda: WindowState(window, limit, step.run(), reset_at), undo=lambda _: step.undo(0))


def admission_steps(subject: str, scope: str, limits: dict[str, int], ts: float | None = None) -> list[Step]:
    ts = now_ts() if ts is None else ts
    return [_increment_step(subject, scope, w, limit, ts) for w, limit in _ordered(limits)]


def consume(
    subject: str,
    scope: str,
    limits: dict[str, int],
    *,
    alongside: Sequence[Step] = (),
    ts: float | None = None,
) -> tuple[Decision, list[object]]:
    """Count one request in every window of ``limits`` (and run ``alongside`` steps in the same round trip).

    Returns the decision and the results of the ``alongside`` steps. Raises RateLimited (with Retry-After and the
    window's name) when a window is full; nothing stays counted then, and the alongside steps are undone.
    """
    ts = now_ts() if ts is None else ts
    steps = admission_steps(subject, scope, limits, ts)
    try:
        results = run_all_or_undo([*steps, *alongside])
    except _WindowFull as full:
        raise rate_limited(full.state, ts) from None
    states = tuple(r for r in results[: len(steps)])
    return Decision(states=states), results[len(steps):]  # type: ignore[arg-type]


def rate_limited(state: WindowState, ts: float) -> RateLimited:
    retry_after = max(int(state.reset_at - ts + 0.999), 1)
    return RateLimited(
        f"Rate limit exceeded: {state.limit} requests per {state.window}. "
        f"Retry after {retry_after} seconds (the {state.window} window resets then).",
        code=f"rate_limit_{state.window}",
        headers={
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(state.reset_at),
        },
    )


def peek(subject: str, scope: str, limits: dict[str, int], ts: float | None = None) -> Decision:
    """Current counts without counting (one BatchGetItem)."""
    ts = now_ts() if ts is None else ts
    wanted: dict[str, tuple[str, int, int]] = {}
    for window, limit in _ordered(limits):
        window_id, reset_at = window_bounds(window, ts)
        wanted[counter_id(subject, scope, window, window_id)] = (window, limit, reset_at)
    counts = read_counts(list(wanted))
    return Decision(
        states=tuple(
            WindowState(window, limit, counts.get(cid, 0), reset_at) for cid, (window, limit, reset_at) in wanted.items()
        )
    )


def read_counts(counter_ids: list[str]) -> dict[str, int]:
    if not counter_ids:
        return {}
    name = db.table_name(COUNTERS)
    items = db.batch_get_items({name: [{"counter_id": c} for c in counter_ids]}, consistent=True)[name]
    return {item["counter_id"]: int(item.get("count", 0)) for item in items}


def window_counts(subject: str, scope: str, ts: float | None = None) -> dict[str, int]:
    """Counts of the current minute/hour/day/month windows (admin views, usage dashboards)."""
    ts = now_ts() if ts is None else ts
    ids = {w: counter_id(subject, scope, w, window_bounds(w, ts)[0]) for w in WINDOW_ORDER}
    counts = read_counts(list(ids.values()))
    return {w: counts.get(cid, 0) for w, cid in ids.items()}
