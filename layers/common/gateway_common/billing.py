"""BillingTable: the money group's single table (Stripe events and payments, coupons, referrals, trial schedule).

Items are keyed ``pk`` + ``sk``; one overloaded, sparse index ``gsi1`` (``gsi1pk`` + ``gsi1sk``) serves every list:

==============================  =========================  ==========================  ===============================
item                            pk                         sk                          gsi1pk / gsi1sk
==============================  =========================  ==========================  ===============================
processed Stripe event          EVENT#<evt_id>             EVENT                       -
payment (one per PaymentIntent) PAYMENT#<pi_id>            PAYMENT                     PAYMENTS#<user> / <created_at>
coupon                          COUPON#<CODE>              COUPON                      COUPONS / <created_at>#<CODE>
coupon redemption               COUPON#<CODE>              USER#<user_id>              -
pending percentage coupon       USER#<user_id>             PENDING_COUPON              -
referral code (both ways)       REFCODE#<code>             REFCODE                     -
                                USER#<user_id>             REFCODE                     -
referral (one per referred)     USER#<referred_user_id>    REFERRED                    REFERRER#<user> / <created_at>#<id>
active trial (sparse)           USER#<user_id>             TRIAL                       TRIALS#active / <ends_at, 12 digits>
==============================  =========================  ==========================  ===============================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from . import db
from .dynamo_items import to_item
from .dynamo_types import serialize_item

BILLING = "BillingTable"
GSI1 = "gsi1"


def table() -> Any:
    return db.table(BILLING)


def key(pk: str, sk: str) -> dict[str, str]:
    return {"pk": pk, "sk": sk}


def get(pk: str, sk: str) -> dict[str, Any] | None:
    return table().get_item(Key=key(pk, sk), ConsistentRead=True).get("Item")


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """A plain item as DynamoDB attribute values (for TransactWriteItems)."""
    return serialize_item({k: v for k, v in to_item(item).items() if v is not None})


def values(mapping: dict[str, Any]) -> dict[str, Any]:
    return serialize_item(to_item(mapping))


def transact_put(item: dict[str, Any], *, condition: str | None = "attribute_not_exists(pk)") -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": db.table_name(BILLING), "Item": serialize(item)}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def transact_update(
    pk: str,
    sk: str,
    update: str,
    *,
    condition: str | None = None,
    names: dict[str, str] | None = None,
    vals: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": db.table_name(BILLING), "Key": serialize(key(pk, sk)), "UpdateExpression": update}
    if condition:
        op["ConditionExpression"] = condition
    if names:
        op["ExpressionAttributeNames"] = names
    if vals:
        op["ExpressionAttributeValues"] = values(vals)
    return {"Update": op}


def query_gsi1(gsi1pk: str, *, upper: str | None = None, newest_first: bool = True) -> Iterator[dict[str, Any]]:
    """Every item of one index partition (optionally with ``gsi1sk <= upper``), page by page."""
    condition = "gsi1pk = :p" + (" AND gsi1sk <= :u" if upper is not None else "")
    yield from db.query_items(
        BILLING,
        IndexName=GSI1,
        KeyConditionExpression=condition,
        ExpressionAttributeValues={":p": gsi1pk, **({":u": upper} if upper is not None else {})},
        ScanIndexForward=not newest_first,
    )


def write(items: list[dict[str, Any]]) -> None:
    """One transaction; audit entries among ``items`` are chained (``audit.transact``)."""
    from . import audit

    audit.transact(items)


def write_once(items: list[dict[str, Any]]) -> bool:
    """``write``, where the first item's condition marks the event as seen: False (nothing written) for a duplicate."""
    try:
        write(items)
    except ClientError as exc:
        if db.cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    return True
