"""The Stripe API client: the official library over httpx, the secret key from settings (SSM / env).

Used by the payments function (checkout, subscriptions, portal, invoices) and by auto top-up after a settle (the
chat function). ``stripe`` is imported on first use, so the chat function's cold start does not pay for it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .errors import ServiceUnavailable, UpstreamError
from .observability import logger
from .secrets import get_secret

TIMEOUT_SECONDS = 20


@lru_cache(maxsize=2)
def _client(api_key: str) -> Any:
    import stripe

    http = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS, allow_sync_methods=True)
    return stripe.StripeClient(api_key, http_client=http, max_network_retries=1)


def client() -> Any:
    api_key = get_secret("STRIPE_SECRET_KEY")
    if not api_key:
        raise ServiceUnavailable("Payments are not configured on this deployment: the STRIPE_SECRET_KEY setting "
                                 "(STRIPE_SECRET_KEY_PARAM in AWS) is missing")
    return _client(api_key)


def call(operation: str, fn: Any) -> Any:
    """Run one Stripe API call; Stripe's refusals become a 502 naming the operation, a rejected key a 503."""
    import stripe

    try:
        return fn()
    except stripe.AuthenticationError:
        logger.error("stripe rejected the secret key", extra={"operation": operation})
        raise ServiceUnavailable("Payments are misconfigured on this deployment; please try later") from None
    except stripe.StripeError as exc:
        logger.warning("stripe error", extra={"operation": operation, "stripe_code": exc.code, "status": exc.http_status})
        message = exc.user_message or "the payment provider refused the request"
        raise UpstreamError(f"Stripe could not {operation}: {message}") from None
