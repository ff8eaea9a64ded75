"""Rollup function: the scheduled Lambda handler (EventBridge, every minute)."""

from __future__ import annotations

from typing import Any

from gateway_common.observability import Metric, emit, logger

from .job import RollupJob

SAFETY_MS = 10_000  # stop starting new batches this long before the Lambda timeout


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def time_left() -> float:
        return (remaining() - SAFETY_MS) / 1000 if remaining else float("inf")

    report = RollupJob(time_left=time_left).run()
    # Lag: age of the newest record processed while records are still waiting (0 when caught up). Alarmed at 1 h.
    emit(Metric.ROLLUP_LAG_SECONDS, report.lag_seconds)
    emit(Metric.ROLLUP_RECORDS, report.counted)
    logger.info("rollup run", extra={"records": report.records, "counted": report.counted,
                                     "transactions": report.transactions, "conflicts": report.conflicts,
                                     "lag_seconds": report.lag_seconds, "caught_up": report.caught_up})
    return {"records": report.records, "counted": report.counted, "transactions": report.transactions,
            "rows_written": report.rows_written, "lag_seconds": report.lag_seconds, "caught_up": report.caught_up}
