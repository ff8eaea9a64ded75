"""Scheduled function (EventBridge, every 15 minutes): closes free trials whose end has passed, and applies the
subscription transitions that have come due (a past_due grace period ended, a canceled subscription's paid period
ended, a downgrade's period ended; see gateway_common.subscriptions)."""

from __future__ import annotations

from typing import Any

from gateway_common import subscriptions, trial_lifecycle
from gateway_common.observability import logger


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    closed = trial_lifecycle.expire_due()
    changed = subscriptions.apply_due()
    logger.info("trial expiry run", extra={"closed": len(closed), "plans_changed": len(changed)})
    return {"expired": len(closed), "user_ids": closed, "plans_changed": len(changed)}
