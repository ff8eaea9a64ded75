"""Rollup function: the scheduled Lambda handler (EventBridge, every minute)."""

from __future__ import annotations

from typing import Any

from gateway_common.observability import Metric, emit, logger

from .job import RollupJob

SAFETY_MS = 10_000  # stop starting new batches this long before the Lambda timeout


def report_fields(report: Any) -> dict[str, Any]:
    return {"records": report.records, "counted": report.counted, "transactions": report.transactions,
            "rows_written": report.rows_written, "conflicts": report.conflicts,
            "incomplete_reads": report.incomplete_reads, "leased_elsewhere": report.leased_elsewhere,
            "lag_seconds": report.lag_seconds, "shard_lag": report.shard_lag, "caught_up": report.caught_up}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def time_left() -> float:
        return (remaining() - SAFETY_MS) / 1000 if remaining else float("inf")

    report = RollupJob(time_left=time_left).run()
    # Lag from the stream's side, every run: the age of the oldest record not yet rolled up (the largest over shards;
    # per shard in the log). Alarmed at 1 h and 12 h (stream records are kept 24 h).
    emit(Metric.ROLLUP_LAG_SECONDS, report.lag_seconds)
    emit(Metric.ROLLUP_RECORDS, report.counted)
    fields = report_fields(report)
    logger.info("rollup run", extra=fields)
    return fields
