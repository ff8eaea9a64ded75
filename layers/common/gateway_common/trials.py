"""What an active free trial means for admission of AI requests.

A trial's requests are counted on one counter item per trial (``trial#<user_id>#<trial_id>``) by the same conditional
increment as the rate limits, so the allowance is exact under concurrency. An expired trial refuses AI requests with
402 before anything is reserved. Starting, converting and closing trials belong to the payments group.
"""

from __future__ import annotations

from datetime import UTC, datetime

from . import db, ratelimit
from .errors import PaymentRequired
from .models import UserRecord
from .parallel import Step
from .timeutil import iso, now_ts

COUNTERS = "CountersTable"


def trial_counter_id(user_id: str, trial_id: str) -> str:
    return f"trial#{user_id}#{trial_id}"


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

    def used_up() -> PaymentRequired:
        return PaymentRequired(
            f"Your free trial's {trial.max_requests} requests are used up: convert it with POST /trials/convert",
            code="trial_requests_exhausted",
        )

    counter = trial_counter_id(user.user_id, trial.trial_id)
    return [ratelimit.capped_increment(counter, trial.max_requests, trial.ends_at + 86400 * 30, used_up)]


def requests_used(user: UserRecord) -> int:
    if user.trial is None:
        return 0
    item = db.table(COUNTERS).get_item(
        Key={"counter_id": trial_counter_id(user.user_id, user.trial.trial_id)}, ConsistentRead=True
    ).get("Item")
    return int(item["count"]) if item else 0
