"""One Stripe Customer per user: created on first need, remembered both ways.

The user item holds ``stripe_customer_id`` (set once, conditionally); BillingTable ``CUSTOMER#<cus_id>`` / ``CUSTOMER``
maps it back, so webhook events that name only the customer find their user. Two first purchases racing may each
create a Customer in Stripe: the first conditional write wins, and the other Customer is never used.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from . import billing, db, stripe_client, users
from .models import UserRecord


def user_for_customer(customer_id: str | None) -> str | None:
    if not customer_id:
        return None
    item = billing.get(f"CUSTOMER#{customer_id}", "CUSTOMER")
    return str(item["user_id"]) if item else None


def ensure(user: UserRecord) -> str:
    """The user's Stripe Customer id, creating the Customer in Stripe on first use."""
    if user.stripe_customer_id:
        return user.stripe_customer_id
    params: dict[str, object] = {"metadata": {"user_id": user.user_id}, "name": user.username}
    if user.email:
        params["email"] = user.email
    customer = stripe_client.call("create the customer", lambda: stripe_client.client().v1.customers.create(
        params=params, options={"idempotency_key": f"customer:{user.user_id}"}))
    billing.table().put_item(Item={"pk": f"CUSTOMER#{customer.id}", "sk": "CUSTOMER", "user_id": user.user_id})
    try:
        db.table(users.USERS).update_item(
            Key={"user_id": user.user_id}, UpdateExpression="SET stripe_customer_id = :c",
            ConditionExpression="attribute_exists(user_id) AND attribute_not_exists(stripe_customer_id)",
            ExpressionAttributeValues={":c": customer.id},
        )
    except ClientError as exc:
        if not db.is_conditional_failure(exc):
            raise
        return users.require_user(user.user_id).stripe_customer_id or customer.id
    return str(customer.id)
