"""Subscription, invoice and saved-card events (the rules are in ``gateway_common.subscriptions``).

- ``customer.subscription.created/updated/deleted``: store the subscription's state if newer than the stored one
  (``stale`` otherwise), then reconcile the user's plan with it.
- ``checkout.session.completed`` in subscription mode: links the Customer to the user (the plan waits for the
  subscription's own ``active`` state); in setup mode: nothing to do, the card arrives with ``setup_intent.succeeded``.
- ``invoice.paid`` / ``invoice.payment_failed``: recorded (invoice item + audit entry, with the event marker in the
  same transaction). The plan follows the subscription events Stripe sends with them (``active`` / ``past_due``).
- ``setup_intent.succeeded`` with ``metadata.purpose = auto_topup``: the saved card auto top-up charges.
"""

from __future__ import annotations

from typing import Any

from gateway_common import audit, autotopup, billing, customers, subscriptions, users
from gateway_common.observability import logger
from gateway_common.timeutil import iso_now

ref = subscriptions.billing_id


def _user_of(obj: dict[str, Any]) -> str | None:
    """The user an object belongs to: the Customer we created for them, else the metadata we set."""
    user_id = customers.user_for_customer(ref(obj.get("customer")))
    if user_id:
        return user_id
    meta = obj.get("metadata") or {}
    value = meta.get("user_id") or obj.get("client_reference_id")
    return str(value) if value else None


def on_subscription(event_id: str, created: int, sub: dict[str, Any]) -> str:
    user_id = _user_of(sub)
    if user_id is None:
        logger.warning("subscription of no known user", extra={"subscription_id": sub["id"], "event_id": event_id})
        return "ignored_unknown_user"
    if not subscriptions.record(event_id=event_id, event_created=created, obj=sub, user_id=user_id):
        # the stored state is as new or newer: a late delivery, or Stripe's retry of one whose record committed and
        # whose reconcile then failed (a 503). Reconciling from the stored state is idempotent, so the retry still
        # applies the plan, and a truly late event changes nothing
        outcome = subscriptions.reconcile(str(sub["id"]))
        return "stale" if outcome == "unchanged" else outcome
    return subscriptions.reconcile(str(sub["id"]))


def on_subscription_checkout(event_id: str, session: dict[str, Any]) -> str:
    user_id = _user_of(session)
    customer_id = ref(session.get("customer"))
    if user_id is None or customer_id is None:
        return "ignored_unknown_user"
    billing.table().put_item(Item={"pk": f"CUSTOMER#{customer_id}", "sk": "CUSTOMER", "user_id": user_id})
    sub_id = ref(session.get("subscription"))
    if sub_id and subscriptions.get(sub_id) is not None:
        return subscriptions.reconcile(sub_id)
    return "awaiting_subscription"


def on_invoice(event_id: str, kind: str, invoice: dict[str, Any]) -> str:
    user_id = _user_of(invoice)
    if user_id is None:
        return "ignored_unknown_user"
    paid = kind == "invoice.paid"
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    sub_id = ref(parent.get("subscription")) or ref(invoice.get("subscription"))
    cents = int(invoice.get("amount_paid" if paid else "amount_due") or 0)
    items = [
        billing.transact_put({"pk": f"EVENT#{event_id}", "sk": "EVENT", "type": kind, "outcome": "recorded",
                              "processed_at": iso_now()}),
        billing.transact_update(
            f"INVOICE#{invoice['id']}", "INVOICE",
            "SET user_id = :u, #st = :s, amount_cents = :a, currency = :c, subscription_id = :sub, updated_at = :now",
            names={"#st": "status"},
            vals={":u": user_id, ":s": "paid" if paid else "payment_failed", ":a": cents,
                  ":c": str(invoice.get("currency") or ""), ":sub": sub_id or "", ":now": iso_now()},
        ),
        audit.transaction_put(
            user_id=user_id, action="invoice_paid" if paid else "invoice_payment_failed", resource_type="invoice",
            resource_id=str(invoice["id"]),
            details={"amount_cents": cents, "currency": invoice.get("currency"), "subscription_id": sub_id,
                     "billing_reason": invoice.get("billing_reason"), "stripe_event_id": event_id},
        ),
    ]
    return "recorded" if billing.write_once(items) else "duplicate"


def on_setup_succeeded(event_id: str, setup: dict[str, Any]) -> str:
    meta = setup.get("metadata") or {}
    method = ref(setup.get("payment_method"))
    user_id = _user_of(setup)
    if meta.get("purpose") != "auto_topup" or not method:
        return "ignored"
    if user_id is None or users.get_user(user_id) is None:
        return "ignored_unknown_user"
    autotopup.save_card(user_id, method)
    audit.record(user_id=user_id, action="auto_topup_card_saved", resource_type="auto_topup", resource_id=user_id,
                 details={"setup_intent_id": setup["id"], "stripe_event_id": event_id})
    return "card_saved"
