"""Powertools Logger, Metrics and Tracer, created once. Keys are never logged: only key ids, and every line passes
``redaction`` (a provider key echoed in an upstream error, a bearer token in an exception) before it is written."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from .redaction import redact

SERVICE = "ai-gateway"


class RedactingFormatter(LambdaPowertoolsFormatter):
    """The Powertools JSON line, filtered: message, extra fields and traceback alike (keys serialize unescaped)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
metrics = Metrics(namespace="AIGateway", service=SERVICE)
