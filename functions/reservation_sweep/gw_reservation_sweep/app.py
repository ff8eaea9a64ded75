"""Reservation sweep Lambda handler (EventBridge schedule): expired open reservations are settled at cost 0."""

from __future__ import annotations

from typing import Any

from gateway_common import metering
from gateway_common.observability import logger


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    del event, context
    released = 0
    while True:
        batch = metering.sweep(limit=100)
        released += batch
        if batch < 100:
            break
    logger.info("reservation sweep", extra={"released": released})
    return {"released": released}
