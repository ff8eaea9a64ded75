"""Reservation sweep Lambda handler (EventBridge schedule): holds of crashed invocations are released (settled
at cost 0); each reservation marker is visited once."""

from __future__ import annotations

from typing import Any

from gateway_common import metering
from gateway_common.observability import Metric, emit, logger


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    del event, context
    released = metering.sweep()
    logger.info("reservation sweep", extra={"released": released})
    emit(Metric.EXPIRED_RESERVATIONS, released)  # alarmed: each one is a request that crashed between admission and settle
    return {"released": released}
