"""Time helpers: one clock for the whole layer, so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_offset_seconds = 0.0
_frozen_at: float | None = None


def now_ts() -> float:
    if _frozen_at is not None:
        return _frozen_at + _offset_seconds
    return time.time() + _offset_seconds


def utcnow() -> datetime:
    return datetime.fromtimestamp(now_ts(), tz=UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_now() -> str:
    return iso(utcnow())


def shift_clock(seconds: float) -> None:
    """Test hook: move the gateway's clock (windows, expiries) without sleeping."""
    global _offset_seconds
    _offset_seconds += seconds


def freeze_clock(ts: float) -> None:
    """Test hook: stop the gateway's clock at ``ts`` (shift_clock still moves it), so no window rolls over mid-test."""
    global _frozen_at
    _frozen_at = ts


def reset_clock() -> None:
    global _offset_seconds, _frozen_at
    _offset_seconds = 0.0
    _frozen_at = None


def parse_iso(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
