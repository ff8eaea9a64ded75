"""One home for names: the tables' logical ids (as in template.yaml) and the formats of ids and attribute names that
more than one module reads. If two modules built these themselves, they could drift and read the wrong item."""

from __future__ import annotations

USERS = "UsersTable"
API_KEYS = "ApiKeysTable"
COUNTERS = "CountersTable"
RESERVATIONS = "ReservationsTable"
USAGE = "UsageTable"

# Attribute bases on the account (user) item, counted by admission and read by the usage views.
ACCOUNT_WINDOWS = "a"  # the plan's request windows and tokens per minute: a#minute#<id>, a#tpm#<minute id>
KEY_WINDOWS = "k"  # a key's own request windows and tokens per minute, on the key's item
SPEND = "spend"  # the month's settled figures: spend#cost#<YYYYMM>, spend#requests#…, spend#tokens#…, spend#latency_ms#…
BUDGET_USED = "budget"  # monthly budget taken (settled cost + open holds): budget#used#<YYYYMM>
KEY_BUDGET_USED = "kbudget"  # the same for a key's own max_budget, on the key's item
HOLD = "hold#"  # hold#<request id> = the amount held for an open request
REVOKED = "revoked#"  # revoked#<key id> = when the key was revoked (refused by admission at once)
TRIAL_USED = "trial#"  # trial#<trial id> = AI requests made in that trial
ROUTE_WINDOWS = "r"  # per-route override windows on the account item: r<route id>#minute#<id>


def spend_attribute(figure: str, month: str) -> str:
    return f"{SPEND}#{figure}#{month}"


def budget_attribute(month: str, base: str = BUDGET_USED) -> str:
    return f"{base}#used#{month}"


def hold_attribute(request_id: str) -> str:
    return HOLD + request_id


def revoked_attribute(key_id: str) -> str:
    return REVOKED + key_id


def trial_attribute(trial_id: str) -> str:
    return TRIAL_USED + trial_id


def rate_counter_id(subject: str, scope: str) -> str:
    """A counter item of CountersTable: an account's windows for one scope (``ep:GET /user/balance``)."""
    return f"rl#{subject}#{scope}"
