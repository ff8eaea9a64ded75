"""Scheduled function (EventBridge, every 15 minutes): closes free trials whose end has passed."""

from __future__ import annotations

from typing import Any

from gateway_common import trial_lifecycle
from gateway_common.observability import logger


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    closed = trial_lifecycle.expire_due()
    logger.info("trial expiry run", extra={"closed": len(closed)})
    return {"expired": len(closed), "user_ids": closed}
