"""What an active free trial means for admission of AI requests.

A trial's requests are counted on the account item (``trial#<trial id>``) by admission's one conditional write, with
the plan's windows, so the allowance is exact under concurrency. An expired trial refuses AI requests with
402 before anything is reserved. Starting, converting and closing trials belong to the payments group.
"""

from __future__ import annotations

from datetime import UTC, datetime

from . import db, names
from .errors import PaymentRequired
from .models import TrialInfo, UserRecord
from .timeutil import iso, now_ts


def check_not_ended(user: UserRecord) -> None:
    """An expired trial refuses AI requests before anything is counted or held."""
    trial = user.trial
    if trial is None or trial.status != "active":
        return
    if trial.ends_at <= now_ts():
        ended = iso(datetime.fromtimestamp(trial.ends_at, tz=UTC))
        raise PaymentRequired(
            f"Your free trial ended on {ended}: convert it with POST /trials/convert or add credits to continue",
            code="trial_ended",
        )


def trial_refusal(trial: TrialInfo) -> PaymentRequired:
    return PaymentRequired(
        f"Your free trial's {trial.max_requests} requests are used up: convert it with POST /trials/convert",
        code="trial_requests_exhausted",
    )


def requests_used(user: UserRecord) -> int:
    if user.trial is None:
        return 0
    item = db.table(names.USERS).get_item(Key={"user_id": user.user_id}, ConsistentRead=True).get("Item") or {}
    return int(item.get(names.trial_attribute(user.trial.trial_id), 0))
