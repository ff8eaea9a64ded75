"""The one parser of date query parameters (``start_date``, ``end_date``, …): every bad or out-of-range value is a 400
naming the parameter, never a 500.

What it keeps true: a parsed value is a UTC ``datetime`` in ``[EARLIEST, LATEST]``, checked before any arithmetic, so
callers can add a day, subtract a range or step months without ``OverflowError`` (``9999-12-31`` + 1 day used to be a
500). A bare date (``YYYY-MM-DD``) is its first second, or with ``end=True`` its last second; a date-time without a
zone is UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from .errors import BadRequest

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC) - timedelta(seconds=1)
_HINT = "use YYYY-MM-DD or an ISO 8601 time like 2025-08-09T07:30:00Z"


def parse_date_param(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """The UTC moment a date query parameter means; None when absent; BadRequest when it is blank, not a date, or
    outside 2000-01-01..2099-12-31."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest(f"query parameter '{name}': '{value[:40]}' is not a date; {_HINT}") from None
    if not EARLIEST <= moment <= LATEST:
        raise BadRequest(f"query parameter '{name}': '{value[:40]}' is out of range: dates from "
                         f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} are accepted")
    if end and len(text) == 10:
        moment += timedelta(days=1, seconds=-1)
    return moment
