"""Request windows (minute/hour/day/month) counted in ONE item per subject, with one conditional write.

Each window is an attribute whose name carries the window's id: ``<base>#minute#202612031305``. A request adds one to
the attributes of the current windows, on the condition that each limited one is still under its limit; a new window
is a new attribute, so no read, no reset and no second round trip is ever needed, and correctness never depends on
TTL. Attributes of past windows are removed by later writes that saw them (``Windows.stale``), which keeps the item
small. The same builder counts the plan's windows on the account item (see ``admission``), a key's own caps on the
key's item, and each endpoint's limits on a counter item (``count``).

What stays true: a window's attribute equals the number of requests admitted in it and not taken back; a refused
write changes nothing (DynamoDB evaluates the condition and applies the update atomically), so N concurrent requests
against a limit L admit exactly min(N, L).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from . import db, names
from .dynamo_types import deserialize_item
from .errors import RateLimited
from .expressions import Update
from .timeutil import now_ts

WINDOW_ORDER = ("minute", "hour", "day", "month")
TOKENS = "tpm"  # the tokens-per-minute window's attribute tag (counted in the minute's id)


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


def window_attribute(base: str, window: str, window_id: str) -> str:
    return f"{base}#{window}#{window_id}"


@dataclass(frozen=True)
class WindowState:
    window: str
    limit: int
    count: int
    reset_at: int
    unit: str = "requests"

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)


@dataclass(frozen=True)
class Decision:
    states: tuple[WindowState, ...]

    def tightest(self, unit: str = "requests") -> WindowState | None:
        states = [s for s in self.states if s.unit == unit]
        if not states:
            return None
        return min(states, key=lambda s: (s.remaining, s.reset_at))

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        state = self.tightest()
        if state is not None:
            headers.update({
                "X-RateLimit-Limit": str(state.limit),
                "X-RateLimit-Remaining": str(state.remaining),
                "X-RateLimit-Reset": str(state.reset_at),
            })
        tokens = self.tightest("tokens")
        if tokens is not None:
            headers.update({
                "X-RateLimit-Limit-Tokens": str(tokens.limit),
                "X-RateLimit-Remaining-Tokens": str(tokens.remaining),
                "X-RateLimit-Reset-Tokens": str(tokens.reset_at),
            })
        return headers

    def merged(self, other: Decision) -> Decision:
        return Decision(self.states + other.states)


@dataclass(frozen=True)
class Windows:
    """The request windows one subject counts in one item.

    ``limits``: window -> limit (windows left out are unlimited). ``count_all`` counts every window even without a
    limit (the account's usage figures read them); otherwise only limited windows are written. ``tokens`` is the
    amount to count in the tokens-per-minute window, ``tokens_limit`` its limit.
    """

    base: str
    limits: Mapping[str, int]
    ts: float
    count_all: bool = False
    tokens: int = 0
    tokens_limit: int | None = None
    label: str = ""  # names whose limit it is in refusals ("key" -> "this key's limit")
    bounds: dict[str, tuple[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", {w: window_bounds(w, self.ts) for w in WINDOW_ORDER})

    def counted(self) -> list[str]:
        return [w for w in WINDOW_ORDER if self.count_all or w in self.limits]

    def attribute(self, window: str) -> str:
        return window_attribute(self.base, window, self.bounds[window][0])

    def tokens_attribute(self) -> str:
        return window_attribute(self.base, TOKENS, self.bounds["minute"][0])

    def refuse_at_once(self) -> RateLimited | None:
        """A refusal that needs no write: a limit of 0, or a request larger than the tokens-per-minute limit."""
        for window in WINDOW_ORDER:
            if self.limits.get(window, 1) <= 0:
                return rate_limited(WindowState(window, 0, 0, self.bounds[window][1]), self.ts, self.label)
        if self.tokens_limit is not None and self.tokens > self.tokens_limit:
            state = WindowState("minute", self.tokens_limit, 0, self.bounds["minute"][1], unit="tokens")
            return rate_limited(state, self.ts, self.label, larger_than_limit=self.tokens)
        return None

    def add_to(self, update: Update, sign: int = 1) -> None:
        """Count (sign=1, with the limit conditions) or take back (sign=-1, unconditionally) this request."""
        for window in self.counted():
            attribute = self.attribute(window)
            if sign > 0 and window in self.limits:
                update.below(attribute, self.limits[window])
            update.add(attribute, sign)
        if self.tokens or self.tokens_limit is not None:
            attribute = self.tokens_attribute()
            if sign > 0 and self.tokens_limit is not None:
                update.at_most(attribute, self.tokens_limit - self.tokens)
            update.add(attribute, sign * self.tokens)

    def stale(self, item: Mapping[str, Any]) -> list[str]:
        """Attributes of this base that belong to past windows (safe to remove: nothing reads them any more)."""
        current = {self.attribute(w) for w in WINDOW_ORDER} | {self.tokens_attribute()}
        prefix = self.base + "#"
        return [name for name in item if name.startswith(prefix) and name not in current]

    def states(self, item: Mapping[str, Any]) -> tuple[WindowState, ...]:
        out = [
            WindowState(w, self.limits[w], int(item.get(self.attribute(w), 0)), self.bounds[w][1])
            for w in WINDOW_ORDER if w in self.limits
        ]
        if self.tokens_limit is not None:
            out.append(WindowState("minute", self.tokens_limit, int(item.get(self.tokens_attribute(), 0)),
                                   self.bounds["minute"][1], unit="tokens"))
        return tuple(out)

    def counts(self, item: Mapping[str, Any]) -> dict[str, int]:
        return {w: int(item.get(self.attribute(w), 0)) for w in WINDOW_ORDER}

    def refusal(self, item: Mapping[str, Any]) -> RateLimited | None:
        """Which limit refused this request, judged on the item as it was when the write was refused."""
        for window in WINDOW_ORDER:
            if window in self.limits and int(item.get(self.attribute(window), 0)) >= self.limits[window]:
                return rate_limited(WindowState(window, self.limits[window], self.limits[window], self.bounds[window][1]),
                                    self.ts, self.label)
        if self.tokens_limit is not None and int(item.get(self.tokens_attribute(), 0)) > self.tokens_limit - self.tokens:
            used = int(item.get(self.tokens_attribute(), 0))
            state = WindowState("minute", self.tokens_limit, used, self.bounds["minute"][1], unit="tokens")
            return rate_limited(state, self.ts, self.label, larger_than_limit=self.tokens)
        return None


def rate_limited(state: WindowState, ts: float, label: str = "", larger_than_limit: int | None = None) -> RateLimited:
    retry_after = max(int(state.reset_at - ts + 0.999), 1)
    whose = f"{label} " if label else ""
    prefix = "key_" if label == "this key's" else ""
    if state.unit == "tokens":
        wanted = f" (this request needs up to {larger_than_limit} tokens)" if larger_than_limit is not None else ""
        message = (f"Rate limit exceeded: {whose}{state.limit} tokens per minute{wanted}. Retry after {retry_after} "
                   "seconds, or lower max_tokens.")
        code = f"{prefix}rate_limit_tokens_per_minute"
        headers = {"X-RateLimit-Limit-Tokens": str(state.limit), "X-RateLimit-Remaining-Tokens": str(state.remaining),
                   "X-RateLimit-Reset-Tokens": str(state.reset_at)}
    else:
        message = (f"Rate limit exceeded: {whose}{state.limit} requests per {state.window}. "
                   f"Retry after {retry_after} seconds (the {state.window} window resets then).")
        code = f"{prefix}rate_limit_{state.window}"
        headers = {"X-RateLimit-Limit": str(state.limit), "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset": str(state.reset_at)}
    return RateLimited(message, code=code, headers={"Retry-After": str(retry_after), **headers})


def counter_id(subject: str, scope: str) -> str:
    """The counter item of a subject (an account) and scope (``ep:GET /user/balance``)."""
    return names.rate_counter_id(subject, scope)


def count(subject: str, scope: str, limits: Mapping[str, int], ts: float | None = None) -> Decision:
    """Count one request of ``subject`` in ``scope`` against ``limits`` (one conditional UpdateItem). Raises
    RateLimited naming the full window; nothing is counted then."""
    windows = Windows(base="w", limits=dict(limits), ts=now_ts() if ts is None else ts)
    refused = windows.refuse_at_once()
    if refused is not None:
        raise refused
    update = Update()
    windows.add_to(update)
    for name in _known_stale.get(counter_id(subject, scope), ()):
        if name not in update.names.values():
            update.remove(name)
    key = {"counter_id": counter_id(subject, scope)}
    try:
        out = db.client().update_item(**update.low_level(db.table_name(names.COUNTERS), key), ReturnValues="ALL_NEW",
                                      ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except ClientError as exc:
        if db.is_conditional_failure(exc):
            old = deserialize_item(exc.response.get("Item") or {})
            raise windows.refusal(old) or rate_limited(WindowState("minute", 0, 0, windows.bounds["minute"][1]),
                                                       windows.ts) from None
        raise
    item = deserialize_item(out.get("Attributes") or {})
    _remember_stale(key["counter_id"], windows.stale(item))
    return Decision(windows.states(item))


def peek(subject: str, scope: str, limits: Mapping[str, int], ts: float | None = None) -> Decision:
    """Current counts without counting (one consistent GetItem)."""
    windows = Windows(base="w", limits=dict(limits), ts=now_ts() if ts is None else ts)
    item = db.table(names.COUNTERS).get_item(Key={"counter_id": counter_id(subject, scope)}, ConsistentRead=True)
    return Decision(windows.states(item.get("Item") or {}))


def window_counts(subject: str, scope: str, ts: float | None = None) -> dict[str, int]:
    """Counts of the current minute/hour/day/month windows of a counter item."""
    windows = Windows(base="w", limits={}, ts=now_ts() if ts is None else ts, count_all=True)
    item = db.table(names.COUNTERS).get_item(Key={"counter_id": counter_id(subject, scope)}, ConsistentRead=True)
    return windows.counts(item.get("Item") or {})


# Stale attributes each counter item was last seen with (removed by the next write of this process). Bounded: one
# entry per counter item this process wrote, each a handful of names.
_known_stale: dict[str, list[str]] = {}
_STALE_MAX = 50_000


def _remember_stale(item_id: str, stale: list[str]) -> None:
    if len(_known_stale) >= _STALE_MAX:
        _known_stale.clear()
    if stale:
        _known_stale[item_id] = stale
    else:
        _known_stale.pop(item_id, None)
