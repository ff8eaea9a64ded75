"""Powertools Logger, Metrics and Tracer, created once. Keys are never logged: only key ids."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "ai-gateway"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="AIGateway", service=SERVICE)
