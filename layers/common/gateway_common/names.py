"""One home for names: the tables' logical ids (as in template.yaml) and the formats of ids and attribute names that
more than one module reads. If two modules built these themselves, they could drift and read the wrong item."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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
HOLD = "hold#"  # hold#<request id>[#<taken at>#<mode>#<key id>] = the amount held for an open request (see below)
HOLDS_DUE = "holds_due"  # when the sweep next looks at the account's holds (epoch s; sparse: only while holds may be open)
HOLDS_SHARD = "holds_shard"  # the partition of the holds-due index the account is listed in while it has holds_due
HOLDS_OPEN = "holds_open"  # admissions - settles: a write that changes holds_due is conditioned on it (see metering)
HOLDS_INDEX = "holds-due"
HOLDS_SHARDS = 8  # the index's partitions: sharded so its writes never meet one partition's limit
_MODES = {"credits": "c", "budget": "b", "free": "f"}
_MODE_OF = {letter: mode for mode, letter in _MODES.items()}
REVOKED = "revoked#"  # revoked#<key id> = when the key was revoked (refused by admission at once)
TRIAL_USED = "trial#"  # trial#<trial id> = AI requests made in that trial
ROUTE_WINDOWS = "r"  # per-route override windows on the account item: r<route id>#minute#<id>


def spend_attribute(figure: str, month: str) -> str:
    return f"{SPEND}#{figure}#{month}"


def budget_attribute(month: str, base: str = BUDGET_USED) -> str:
    return f"{base}#used#{month}"


def hold_attribute(request_id: str) -> str:
    """A key item's hold, and an account's hold admitted before holds carried their own fields (its marker has them)."""
    return HOLD + request_id


def account_hold_attribute(request_id: str, taken_at: int, mode: str, key_id: str, key_counted: bool) -> str:
    """An account's hold, named with what the sweep needs to release it when its request never settles: when it was
    taken (its deadline and month), the billing mode (where the money goes back) and the key (its record, and its own
    hold when the key counts the request: ``k``). Request and key ids never hold ``#``."""
    return f"{HOLD}{request_id}#{taken_at}#{_MODES[mode]}{'k' if key_counted else ''}#{key_id}"


@dataclass(frozen=True)
class HoldName:
    request_id: str
    taken_at: int | None = None  # None: a hold named by its request id alone (its marker has the rest)
    mode: str = ""
    key_id: str = ""
    key_counted: bool = False


def parse_hold(name: str) -> HoldName | None:
    """The fields of an account's hold attribute (None when ``name`` is not a hold)."""
    if not name.startswith(HOLD):
        return None
    parts = name[len(HOLD):].split("#")
    if len(parts) != 4 or not parts[1].isdigit() or parts[2][:1] not in _MODE_OF:
        return HoldName(name[len(HOLD):])
    return HoldName(parts[0], int(parts[1]), _MODE_OF[parts[2][0]], parts[3], parts[2][1:] == "k")


def holds_shard(user_id: str) -> str:
    return f"s{int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16) % HOLDS_SHARDS}"


def revoked_attribute(key_id: str) -> str:
    return REVOKED + key_id


def trial_attribute(trial_id: str) -> str:
    return TRIAL_USED + trial_id


def rate_counter_id(subject: str, scope: str) -> str:
    """A counter item of CountersTable: an account's windows for one scope (``ep:GET /user/balance``)."""
    return f"rl#{subject}#{scope}"
