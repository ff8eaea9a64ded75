"""The account item as the usage views read it: window counts, the month's spend and budget, open holds.

One consistent GetItem of the user item gives every live figure (admission writes them all there), so the usage
views are exact at once and agree with what admission decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import db, names, ratelimit
from .timeutil import now_ts


@dataclass(frozen=True)
class Spend:
    cost: Decimal = Decimal("0")
    requests: int = 0
    tokens: int = 0
    latency_ms: int = 0


@dataclass(frozen=True)
class AccountState:
    item: dict[str, Any]
    ts: float

    @property
    def month(self) -> str:
        return ratelimit.window_bounds("month", self.ts)[0]

    def counts(self) -> dict[str, int]:
        return ratelimit.Windows(base=names.ACCOUNT_WINDOWS, limits={}, ts=self.ts, count_all=True).counts(self.item)

    def spend(self) -> Spend:
        def figure(name: str) -> Decimal:
            return Decimal(str(self.item.get(names.spend_attribute(name, self.month), 0)))

        return Spend(cost=figure("cost"), requests=int(figure("requests")), tokens=int(figure("tokens")),
                     latency_ms=int(figure("latency_ms")))

    def budget_used(self) -> Decimal:
        """Budget taken this month: settled cost plus open holds (AI-included plans)."""
        return Decimal(str(self.item.get(names.budget_attribute(self.month), 0)))

    def available(self) -> Decimal:
        return Decimal(str(self.item.get("available", 0)))

    def holds(self) -> dict[str, Decimal]:
        """Open holds by request id."""
        holds = {}
        for name, value in self.item.items():
            hold = names.parse_hold(name)
            if hold is not None:
                holds[hold.request_id] = Decimal(str(value))
        return holds


def read(user_id: str, ts: float | None = None) -> AccountState:
    item = db.table(names.USERS).get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item") or {}
    return AccountState(item=item, ts=now_ts() if ts is None else ts)


def key_spend(key_item: dict[str, Any], ts: float | None = None) -> Decimal:
    """A key's settled cost this month (counted on its item when it has caps)."""
    month = ratelimit.window_bounds("month", now_ts() if ts is None else ts)[0]
    return Decimal(str(key_item.get(names.spend_attribute("cost", month), 0)))
