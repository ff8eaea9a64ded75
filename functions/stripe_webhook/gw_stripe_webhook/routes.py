"""HTTP edge of the Stripe webhook: the raw body goes to the signature check untouched."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from gateway_common.observability import webhook_event

from . import logic
from .schemas import WebhookResponse

router = APIRouter()


@router.post("/api/stripe/webhook", response_model=WebhookResponse, tags=["payments"],
             summary="Stripe events: payments, refunds, subscriptions, invoices, saved cards (signed; each once)")
async def stripe_webhook(
    request: Request, stripe_signature: str | None = Header(None, alias="Stripe-Signature")
) -> WebhookResponse:
    payload = await request.body()
    try:
        event = logic.verify(payload, stripe_signature)
    except Exception:
        webhook_event("unverified", "refused")
        raise
    kind = event["type"] if event["type"] in logic.HANDLED else "other"
    try:
        outcome = await run_in_threadpool(logic.handle, event)  # DynamoDB calls block: keep them off the event loop
    except Exception:
        webhook_event(kind, "failed")
        raise
    webhook_event(kind, outcome)
    return WebhookResponse(event_id=event["id"], type=event["type"], outcome=outcome)
