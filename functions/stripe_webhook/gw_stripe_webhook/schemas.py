"""Response model of the webhook (Stripe only reads the status code; the body helps when replaying by hand)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebhookResponse(BaseModel):
    received: bool = True
    event_id: str
    type: str
    outcome: str = Field(description="credited, refunded, recorded, ignored, duplicate, awaiting_payment, …")
