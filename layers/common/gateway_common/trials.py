"""What an active free trial means for admission of AI requests.

A trial's requests are counted on one counter item per trial (``trial#<user_id>#<trial_id>``) by the same conditional
increment as the rate limits, so the allowance is exact under concurrency. An expired trial refuses AI requests with
402 before anything is reserved. Starting, converting and closing trials belong to the payments group.
"""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import ClientError

from . import db
from .errors import PaymentRequired
from .models import UserRecord
from .parallel import Step
from .timeutil import iso, now_ts

COUNTERS = "CountersTable"


def trial_counter_id(user_id: str, trial_id: str) -> str:
    return f"trial#{user_id}#{trial_id}"


def in_trial(user: UserRecord) -> bool:
    return user.trial is not None and user.trial.status == "active"


def admission_steps(user: UserRecord) -> list[Step]:
    """Steps to run beside the rate-limit counters for an AI request: none outside a trial."""
    trial = user.trial
    if trial is None or trial.status != "active":
        return []
    if trial.ends_at <= now_ts():
        ended = iso(datetime.fromtimestamp(trial.ends_at, tz=UTC))
        raise PaymentRequired(
            f"Your free trial ended on {ended}: convert it with POST /trials/convert or add credits to continue",
            code="trial_ended",
        )
    key = {"counter_id": trial_counter_id(user.user_id, trial.trial_id)}
    table = db.table(COUNTERS)

    def run() -> int:
        try:
            out = table.update_item(
                Key=key,
                UpdateExpression="ADD #c :one SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(#c) OR #c < :limit",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues={":one": 1, ":limit": trial.max_requests, ":exp": trial.ends_at + 86400 * 30},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if db.is_conditional_failure(exc):
                raise PaymentRequired(
                    f"Your free trial's {trial.max_requests} requests are used up: convert it with POST /trials/convert",
                    code="trial_requests_exhausted",
                ) from None
            raise
        return int(out["Attributes"]["count"])

    def undo(_: int) -> None:
        table.update_item(
            Key=key, UpdateExpression="ADD #c :minus", ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":minus": -1},
        )

    return [Step(run=run, undo=undo)]


def requests_used(user: UserRecord) -> int:
    if user.trial is None:
        return 0
    item = db.table(COUNTERS).get_item(
        Key={"counter_id": trial_counter_id(user.user_id, user.trial.trial_id)}, ConsistentRead=True
    ).get("Item")
    return int(item["count"]) if item else 0
