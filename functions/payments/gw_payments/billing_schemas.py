"""Request and response models of subscriptions, the customer portal, invoices and auto top-up."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gateway_common.money import Money
from gateway_common.schemas import StrictBody

from .schemas import _amount


def _https(value: str | None) -> str | None:
    if value is not None and not (value.startswith("https://") or value.startswith("http://localhost")
                                  or value.startswith("http://127.0.0.1")):
        raise ValueError("must be an https:// URL")
    return value


class ReturnUrls(StrictBody):
    success_url: str | None = Field(None, max_length=2048, description="Where Stripe sends the customer after paying "
                                    "(https; default: the deployment's BILLING_RETURN_URL)")
    cancel_url: str | None = Field(None, max_length=2048, description="Where Stripe sends a customer who gives up")

    _urls = field_validator("success_url", "cancel_url")(_https)


class SubscriptionCheckoutRequest(ReturnUrls):
    plan_id: int | str = Field(..., description="Plan id or slug of a paid plan (GET /plans)")


class SubscriptionCheckoutResponse(BaseModel):
    success: bool = True
    status: Literal["pending_payment", "scheduled"] = Field(
        description="pending_payment: pay at checkout_url (or the prorated invoice); scheduled: a downgrade at the "
                    "period's end. The plan changes only when Stripe reports the payment.")
    plan_id: int
    takes_effect: str
    checkout_url: str | None = None
    session_id: str | None = None
    subscription_id: str | None = None


class NextInvoice(BaseModel):
    amount: Money
    currency: str


class PendingChange(BaseModel):
    plan_id: int
    plan_name: str
    at: str


class CurrentSubscription(BaseModel):
    success: bool = True
    plan_id: int
    plan_name: str
    status: str = Field(description="Stripe's subscription status (active, past_due, canceled, …), or 'none'")
    subscription_id: str | None = None
    current_period_end: str | None = None
    cancel_at_period_end: bool = False
    next_invoice: NextInvoice | None = Field(None, description="What Stripe will invoice next; null when nothing is due")
    pending_change: PendingChange | None = Field(None, description="A plan change already decided, with its time")


class PortalRequest(StrictBody):
    return_url: str | None = Field(None, max_length=2048)

    _url = field_validator("return_url")(_https)


class PortalResponse(BaseModel):
    success: bool = True
    url: str


class InvoiceView(BaseModel):
    id: str
    number: str | None
    amount_due: Money
    amount_paid: Money
    currency: str
    status: str | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    created: int


class InvoiceList(BaseModel):
    success: bool = True
    data: list[InvoiceView]
    has_more: bool
    next_cursor: str | None = Field(None, description="Pass as starting_after for the next page")


class AutoTopupRequest(StrictBody):
    enabled: bool
    threshold: Decimal = Field(..., ge=0, le=Decimal("10000"), description="Top up when the balance goes below this")
    amount: Decimal = Field(..., ge=Decimal("5"), le=Decimal("1000"), description="Credits bought each time")

    _cents = field_validator("threshold", "amount")(_amount)


class AutoTopupView(BaseModel):
    success: bool = True
    enabled: bool
    threshold: Money
    amount: Money
    card_saved: bool
    failures: int
    pending: bool = Field(description="A top-up is on its way (its payment not confirmed yet)")
    disabled_reason: str | None


class SetupResponse(BaseModel):
    success: bool = True
    checkout_url: str
    session_id: str
