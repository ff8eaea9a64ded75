"""The Stripe API client: the official library over httpx, the secret key from settings (SSM / env)."""

from __future__ import annotations

from functools import lru_cache

import stripe

from gateway_common.errors import ServiceUnavailable
from gateway_common.secrets import get_secret

TIMEOUT_SECONDS = 20


@lru_cache(maxsize=2)
def _client(api_key: str) -> stripe.StripeClient:
    http = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS, allow_sync_methods=True)
    return stripe.StripeClient(api_key, http_client=http, max_network_retries=1)


def client() -> stripe.StripeClient:
    api_key = get_secret("STRIPE_SECRET_KEY")
    if not api_key:
        raise ServiceUnavailable("Payments are not configured on this deployment: the STRIPE_SECRET_KEY setting "
                                 "(STRIPE_SECRET_KEY_PARAM in AWS) is missing")
    return _client(api_key)
