"""The credit ledger (LedgerTable): every credit change is an entry, written atomically with the balance change.

The entry id is the operation's idempotency id (``stripe:evt_…``, ``admin:<request id>``, ``coupon:CODE``…), and the
entry is put with ``attribute_not_exists``: a retried or replayed operation finds its entry and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import audit, db, users
from .dynamo_types import serialize
from .errors import Conflict, NotFound
from .timeutil import iso_now

LEDGER = "LedgerTable"


class ExtraItemRefused(Conflict):
    """The condition of one of ``extra_transact_items`` (``index`` in that list) refused the change: nothing was written."""

    def __init__(self, index: int) -> None:
        super().__init__(f"The credit change was refused by a condition of its extra item {index}; nothing changed")
        self.index = index


@dataclass(frozen=True)
class CreditResult:
    applied: bool  # False when this entry id had already been applied (a replay)
    balance: Decimal


def credit(
    *,
    user_id: str,
    amount: Decimal,
    entry_id: str,
    reason: str,
    currency: str = "usd",
    actor_id: str | None = None,
    audit_action: str = "credits_added",
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    extra_transact_items: list[dict[str, Any]] | None = None,
) -> CreditResult:
    """Add ``amount`` (negative to remove) to a user's credits exactly once per ``entry_id``, with ledger + audit."""
    entry = {
        "user_id": user_id,
        "entry_id": entry_id,
        "amount": amount,
        "currency": currency,
        "reason": reason,
        "created_at": iso_now(),
        "actor_id": actor_id or user_id,
        **(details or {}),
    }
    items = [
        {
            "Put": {
                "TableName": db.table_name(LEDGER),
                "Item": {k: serialize(v) for k, v in entry.items() if v is not None},
                "ConditionExpression": "attribute_not_exists(entry_id)",
            }
        },
        users.credit_update(user_id, amount),
        audit.transaction_put(
            user_id=actor_id or user_id,
            action=audit_action,
            resource_type="credits",
            resource_id=user_id,
            details={"amount": str(amount), "currency": currency, "reason": reason, "entry_id": entry_id},
            ip_address=ip_address,
            user_agent=user_agent,
        ),
        *(extra_transact_items or []),
    ]
    applied = True
    try:
        audit.transact(items)  # chains the audit entry (same transaction)
    except ClientError as exc:
        reasons = db.cancellation_reasons(exc)
        if not reasons:
            raise
        if reasons[0] == "ConditionalCheckFailed":
            applied = False
        elif reasons[1] == "ConditionalCheckFailed":
            raise NotFound(f"User '{user_id}' does not exist") from None
        else:
            refused = [i - 3 for i, code in enumerate(reasons) if i >= 3 and code == "ConditionalCheckFailed"]
            if refused:
                raise ExtraItemRefused(refused[0]) from None
            raise
    balance = users.require_user(user_id).credits
    return CreditResult(applied=applied, balance=balance)


def entries(user_id: str) -> list[dict[str, Any]]:
    return list(
        db.query_items(LEDGER, KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": user_id})
    )
