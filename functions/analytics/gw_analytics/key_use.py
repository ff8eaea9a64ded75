"""When each of the caller's keys was last used, and its requests in the last 30 days (the dashboard's Keys page).

From the rollups' ``key#<id>`` day rows only: one Query per key over the last ``LOOKBACK_DAYS`` days, in parallel. No
write on the request path (a per-request "last used" write would cost every request a write unit). Days, not
seconds, and trailing live traffic by the rollup job's minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway_common import apikeys, rollups
from gateway_common.auth import Caller
from gateway_common.parallel import run_parallel
from gateway_common.timeutil import now_ts

from .schemas import KeyUse, KeyUseResponse

LOOKBACK_DAYS = 92
RECENT_DAYS = 30


def key_use(caller: Caller) -> KeyUseResponse:
    today = datetime.fromtimestamp(now_ts(), tz=UTC).date()
    first = (today - timedelta(days=LOOKBACK_DAYS - 1)).isoformat()
    recent = (today - timedelta(days=RECENT_DAYS - 1)).isoformat()
    keys = apikeys.list_user_keys(caller.user_id)
    per_key = run_parallel([lambda k=k: rollups.days(f"key#{k.key_id}", first, today.isoformat()) for k in keys])
    data = []
    for key, days in zip(keys, per_key, strict=True):
        used = sorted(day for day, totals in days.items() if totals.requests)
        data.append(KeyUse(key_id=key.key_id, last_used=used[-1] if used else None,
                           requests_30_days=sum(t.requests for day, t in days.items() if day >= recent)))
    return KeyUseResponse(data=data, lookback_days=LOOKBACK_DAYS)
