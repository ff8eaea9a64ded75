"""The audit log: one immutable entry per security- or money-relevant action (AuditTable).

Items are keyed by month (``pk``) and ``sk`` = ``<timestamp>#<id>``, with indexes by user, action and resource type
(each sorted by ``sk``), so every filter of the admin API is a Query. There is no update or delete path.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from . import db
from .dynamo_items import to_item
from .observability import logger
from .timeutil import iso_now

AUDIT = "AuditTable"
_SECRET_FIELDS = frozenset({"api_key", "key", "token", "secret", "password", "client_secret", "authorization"})
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_private_key")
# Credentials by their shape, wherever they sit in a value: full gateway and license keys, JWTs (Privy tokens), Stripe
# secrets. Masked keys (gw_live_abcd…wxyz) and key ids do not match.
_SECRET_VALUE = re.compile(
    r"gw_(?:live|test|staging|dev)_[A-Za-z0-9_\-]{16,}"
    r"|CHA-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,}"
)
REDACTED = "[redacted]"


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_FIELDS or lowered.endswith(_SECRET_SUFFIXES)


def _scrub(value: Any) -> Any:
    """Details without secrets: fields named like one are redacted, and credential-shaped strings at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _secret_name(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def audit_item(
    *,
    user_id: str,
    action: str,
    resource_type: str,
    resource_id: str,
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> dict[str, Any]:
    timestamp = iso_now()
    log_id = "log_" + secrets.token_hex(8)
    return to_item(
        {
            "pk": timestamp[:7],
            "sk": f"{timestamp}#{log_id}",
            "id": log_id,
            "user_id": user_id,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "details": _scrub(details or {}),
            "ip_address": ip_address or "",
            "user_agent": user_agent or "",
            "timestamp": timestamp,
        }
    )


def record(**fields: Any) -> dict[str, Any]:
    """Write one entry (conditional on a fresh id, so an entry is never overwritten)."""
    item = audit_item(**fields)
    db.table(AUDIT).put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
    logger.info("audit", extra={"action": item["action"], "resource_type": item["resource_type"]})
    return item


def transaction_put(**fields: Any) -> dict[str, Any]:
    """The same entry as a TransactWriteItems element, to commit it atomically with the change it records."""
    from .dynamo_types import serialize_item
    item = audit_item(**fields)
    return {
        "Put": {
            "TableName": db.table_name(AUDIT),
            "Item": serialize_item(item),
            "ConditionExpression": "attribute_not_exists(sk)",
        }
    }
