"""Secrets (provider keys, Stripe keys, Privy key): never in the repo, logs or responses.

In AWS, ``<NAME>_PARAM`` holds the name of an SSM SecureString parameter or a Secrets Manager secret ARN, fetched
through Powertools Parameters and cached for ``SECRET_CACHE_SECONDS`` (300). Locally, ``<NAME>`` itself holds the
value. ``get_secret("STRIPE_SECRET_KEY")`` works the same in both places; None when not configured.
"""

from __future__ import annotations

import os

from .observability import logger
from .redaction import register_secret

SECRET_CACHE_SECONDS = 300


def get_secret(name: str, *, secret: bool = True) -> str | None:
    """``secret=False`` for settings kept beside the secrets that are not secret (a plan's Stripe Price id): they are
    not added to what ``redaction`` masks, so log lines keep them."""
    direct = os.environ.get(name)
    if direct:
        return direct
    reference = os.environ.get(f"{name}_PARAM")
    if not reference:
        return None
    from aws_lambda_powertools.utilities import parameters

    try:
        if reference.startswith("arn:aws:secretsmanager:"):
            value = parameters.get_secret(reference, max_age=SECRET_CACHE_SECONDS)
        else:
            value = parameters.get_parameter(reference, decrypt=True, max_age=SECRET_CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as exc:
        # a parameter not created (or not readable) is a setting not configured: callers answer 503 naming it,
        # not 500 (found by tests/deploy/test_boot.py: GET /auth/config failed this way in a Lambda boot)
        logger.warning("secret not readable", extra={"setting": name, "error": type(exc).__name__})
        return None
    if not value:
        return None
    if secret and not any(c.isspace() for c in str(value)):  # a key, not a PEM (public keys need no filtering)
        register_secret(str(value))
    return str(value)
