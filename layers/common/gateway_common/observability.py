"""Powertools Logger and Metrics, created once, and the gateway's metrics. Keys are never logged: only key ids, and
every line passes ``redaction`` (a provider key echoed in an upstream error, a bearer token in an exception) before it
is written.

Every metric goes out through ``emit`` as one CloudWatch embedded-metric-format (EMF) line on stdout, at once: the
chat function runs behind the Lambda Web Adapter, where no handler wrapper could flush a batch. Each metric names a
member of ``Metric``; the template's dashboard shows each of them (tests/deploy/test_observability.py checks both
ways). Dimensions stay low-cardinality: the service (one per stage), and where it helps a provider slug, a currency,
a webhook event type and outcome, never a user, key or model id.

No Powertools Tracer: Lambda's active tracing (template: ``Tracing: Active``) already records each invocation and
its duration, while the X-Ray SDK the Tracer needs adds ~650 M instructions (about 0.3 s) to every cold start's import,
with or without auto-patching (bench/tracer.py), and would have to join the layer.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from .redaction import redact

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "ai-gateway"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "AIGateway"


class RedactingFormatter(LambdaPowertoolsFormatter):
    """The Powertools JSON line, filtered: message, extra fields and traceback alike (keys serialize unescaped)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class Metric(StrEnum):
    REQUESTS = "Requests"
    RESPONSES_4XX = "Responses4xx"
    RESPONSES_5XX = "Responses5xx"
    RATE_LIMITED = "RateLimited"  # 429
    PAYMENT_REQUIRED = "PaymentRequired"  # 402: credits or budget
    AI_REQUESTS = "AIRequests"
    TOKENS_IN = "TokensIn"
    TOKENS_OUT = "TokensOut"
    COST_CHARGED = "CostCharged"  # per currency
    UPSTREAM_REQUESTS = "UpstreamRequests"  # per provider
    UPSTREAM_ERRORS = "UpstreamErrors"  # per provider
    UPSTREAM_LATENCY = "UpstreamLatency"  # per provider, milliseconds
    FALLBACKS = "Fallbacks"  # a request served by another route than its first
    ROLLUP_LAG_SECONDS = "RollupLagSeconds"
    ROLLUP_RECORDS = "RollupRecords"
    WEBHOOK_EVENTS = "WebhookEvents"  # per event type and outcome
    WEBHOOK_FAILURES = "WebhookFailures"  # deliveries refused or failed
    EXPIRED_RESERVATIONS = "ExpiredReservations"  # holds the sweep released


UNITS = {Metric.UPSTREAM_LATENCY: MetricUnit.Milliseconds, Metric.ROLLUP_LAG_SECONDS: MetricUnit.Seconds}


def enabled() -> bool:
    """On in AWS; off locally (``make run`` and tests stay quiet) unless POWERTOOLS_METRICS_DISABLED=false asks."""
    flag = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower()
    if flag in ("1", "true", "0", "false"):
        return flag in ("0", "false")
    return os.environ.get("GATEWAY_ENV") == "aws"


def emit(metric: Metric, value: float = 1, **dimensions: str) -> None:
    """One EMF line now. Never raises: a metric must not fail the request it describes."""
    if not enabled():
        return
    try:
        with single_metric(name=metric.value, unit=UNITS.get(metric, MetricUnit.Count), value=value,
                           namespace=NAMESPACE, default_dimensions={"service": SERVICE}) as one:
            for name, dimension in dimensions.items():
                one.add_dimension(name=name, value=dimension)
    except Exception as exc:  # noqa: BLE001 - observability must not break the request path
        print(f"metric {metric.value} not emitted: {exc!r}", file=sys.stderr)


def response(status: int) -> None:
    """Every HTTP response: counted, and 4xx/429/402/5xx counted apart (RequestContextMiddleware)."""
    emit(Metric.REQUESTS)
    if status >= 500:
        emit(Metric.RESPONSES_5XX)
    elif status >= 400:
        emit(Metric.RESPONSES_4XX)
        if status == 429:
            emit(Metric.RATE_LIMITED)
        elif status == 402:
            emit(Metric.PAYMENT_REQUIRED)


def ai_call(prompt_tokens: int, completion_tokens: int, cost: object, currency: str) -> None:
    """One settled AI request: tokens, and the cost charged in its currency."""
    emit(Metric.AI_REQUESTS)
    emit(Metric.TOKENS_IN, prompt_tokens)
    emit(Metric.TOKENS_OUT, completion_tokens)
    emit(Metric.COST_CHARGED, float(str(cost)), currency=currency.lower())


def upstream(provider: str, latency_ms: float, *, failed: bool) -> None:
    emit(Metric.UPSTREAM_REQUESTS, provider=provider)
    emit(Metric.UPSTREAM_LATENCY, latency_ms, provider=provider)
    if failed:
        emit(Metric.UPSTREAM_ERRORS, provider=provider)


def webhook_event(event_type: str, outcome: str) -> None:
    """``event_type`` from a fixed list (the caller maps others to "other"); failures also count apart (alarmed)."""
    emit(Metric.WEBHOOK_EVENTS, event_type=event_type, outcome=outcome)
    if outcome in ("refused", "failed"):
        emit(Metric.WEBHOOK_FAILURES)
