"""Time helpers: one clock for the whole layer, so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_offset_seconds = 0.0


def now_ts() -> float:
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


def reset_clock() -> None:
    global _offset_seconds
    _offset_seconds = 0.0


def parse_iso(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
