"""Catalog refresh Lambda handler (EventBridge schedule)."""

from __future__ import annotations

from typing import Any

from gateway_common.observability import logger

from . import logic


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    del event, context
    result = logic.refresh()
    logger.info("catalog refreshed", extra=result)
    return result
